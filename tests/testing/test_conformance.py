"""The conformance kit passes a well-behaved provider and fails leaky or off-schema ones."""

from __future__ import annotations

import textwrap

import pytest

HEADER = textwrap.dedent(
    """
    import pytest
    from polysource import ProviderError, ProviderInfo, BaseProvider
    from polysource.datasets import Quote
    from polysource.testing import ErrorCase, FetchCase, ProviderConformance

    class Provider(BaseProvider):
        info = ProviderInfo("sample", datasets={"quote"}, regions={"US": 1},
                            max_batch_size=5, rate_limits=("5/second",))

        async def fetch(self, request):
            if request.key == "NOPE":
                raise ProviderError(self.describe(), provider="sample", category="not_found")
            return self.make(request.key)

        async def fetch_batch(self, request, keys):
            return {k: self.make(k) for k in keys if k != "NOPE"}

        def describe(self):
            return "unknown symbol"

        def make(self, key):
            return Quote(symbol=key, price=1.5)
    """
)

SUITE = textwrap.dedent(
    """
    class TestSample(ProviderConformance):
        factory = Provider
        secrets = {"api_key": "tok-SECRET-123"}
        fetch_cases = [FetchCase("quote", "aapl")]
        error_cases = [ErrorCase("quote", "nope", "not_found")]
    """
)


def _run(pytester, body):
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_sample=HEADER + body + SUITE)
    return pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")


def test_kit_passes_a_conforming_provider(pytester):
    """A provider that maps to the schema and keeps secrets private passes every check."""
    result = _run(pytester, "")
    result.assert_outcomes(passed=6, skipped=2)


@pytest.mark.parametrize(
    "encode",
    [
        "secret",
        "base64.b64encode(('user:' + secret).encode()).decode()",
        "urllib.parse.quote(secret, safe='')",
    ],
)
def test_kit_fails_a_provider_leaking_a_secret(pytester, encode):
    """A provider that puts its credential, raw, base64 or percent-encoded, into an error fails."""
    body = textwrap.dedent(
        f"""
        import base64, urllib.parse
        def _leaky(self):
            secret = self.settings.credential("api_key").reveal()
            return "unknown symbol (token " + {encode} + ")"
        Provider.describe = _leaky
        """
    )
    result = _run(pytester, body)
    result.assert_outcomes(passed=5, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*test_no_secret_in_errors_or_repr*"])


def test_kit_fails_a_provider_returning_off_schema_data(pytester):
    """A provider whose answer is not the dataset schema fails the schema checks."""
    body = textwrap.dedent(
        """
        Provider.make = lambda self, key: {"symbol": key, "price": 1.5}
        """
    )
    result = _run(pytester, body)
    result.assert_outcomes(passed=4, failed=2, skipped=2)
    result.stdout.fnmatch_lines(["*test_fetch_returns_schema*", "*test_batch_respects*"])


def test_kit_fails_a_provider_with_wrong_error_category(pytester):
    """A provider that reports not-found as provider_down fails the taxonomy check."""
    body = textwrap.dedent(
        """
        _orig = Provider.fetch
        async def _fetch(self, request):
            if request.key == "NOPE":
                raise ProviderError("x", provider="sample", category="provider_down")
            return await _orig(self, request)
        Provider.fetch = _fetch
        """
    )
    result = _run(pytester, body)
    result.assert_outcomes(passed=5, failed=1, skipped=2)


def test_kit_skips_batch_checks_for_non_batching_provider(pytester):
    """Capabilities a provider does not declare are skipped, not failed."""
    body = textwrap.dedent(
        """
        import attrs
        Provider.info = attrs.evolve(Provider.info, max_batch_size=1)
        """
    )
    result = _run(pytester, body)
    result.assert_outcomes(passed=5, skipped=3)
