"""Resilience pieces used by the attempt stage: breaker, retry, rate limit, budget."""
