"""Cache tiers: the L1 memory tier, the tier chain, the pure freshness rules and the codec."""
