"""``polysource demo``: the real engine and plugins against local emulators, faults on purpose.

Every installed provider plugin that ships an emulator gets one, started in this process on a
free 127.0.0.1 port with seeded faults (errors, latency, 429s with Retry-After). The
orchestrator is configured to point each provider at its emulator, so the run needs no network
and no keys. The scenes show caching, batching with per-key failover, an outage with failover
and a circuit breaker, stale-if-error, health and stats.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from polysource.config import Secret, load_config
from polysource.datasets import DAILY_BARS, QUOTE
from polysource.emulation import EMULATOR_STATE, US_LARGE_CAPS, Faults, serve
from polysource.errors import AllProvidersFailed, PolysourceError
from polysource.models import Result
from polysource.operations import CreateLink
from polysource.orchestrator import Orchestrator

__all__ = ["PORTFOLIO", "run_demo"]

PORTFOLIO: Final = ("AAPL", "MSFT", "GOOGL", "BRK.B", "FX:EURUSD", "^GSPC", "LON:VOD", "ZZZZ")
"""Keys of the portfolio scene: stocks, a forex pair, an index, a London listing, a bad ticker."""

_MORE: Final = ("V", "JNJ", "XOM", "WMT", "KO", "DIS", "INTC", "IBM", "SPY", "QQQ")
"""Tickers the emulators list beyond ``US_LARGE_CAPS``, for the batch scene (not JPM and DIA,
which later scenes need uncached)."""

# Seeded, mild faults that retries absorb (5xx, 429 with Retry-After, latency); the outage
# scenes add hard ones. Malformed answers are not retried by design (``invalid_response``), so
# they are left to the tests rather than made part of every run.
_FAULTS: Final = {
    "tiingo": Faults(latency=0.003, error_rate=0.1, rate_limit_rate=0.05, retry_after=0.05, seed=7),
    "yahoo": Faults(
        latency=0.006, error_rate=0.05, rate_limit_rate=0.02, retry_after=0.05, seed=11
    ),
}
_DEMO_CREDENTIALS: Final = {
    "tiingo": {"api_key": Secret.of("demo-token-not-a-real-key")},
    "plaid": {"client_id": Secret.of("demo-client"), "secret": Secret.of("demo-secret")},
    "belvo": {"secret_id": Secret.of("demo-id"), "secret_password": Secret.of("demo-pass")},
    "mx": {"client_id": Secret.of("demo-client"), "api_key": Secret.of("demo-api-key")},
}


@asynccontextmanager
async def _emulators(orch_registry: Any, seed: int) -> AsyncIterator[dict[str, Any]]:
    """Start every registered emulator; yield name -> (base URL, app)."""
    running: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        for name, spec in sorted(orch_registry.emulators.items()):
            faults = _FAULTS.get(name, Faults())
            faults = Faults.from_mapping({"seed": faults.seed + seed}, faults)
            app = spec.factory(faults)
            url = await stack.enter_async_context(serve(app))
            running[name] = (url, app)
        yield running


def _config(emulators: Mapping[str, Any]) -> Any:
    providers: dict[str, Any] = {}
    for name, (url, _) in emulators.items():
        providers[name] = {
            "base_url": url,
            "credentials": _DEMO_CREDENTIALS.get(name, {}),
            "timeout": 1.0,
            "retry": {"attempts": 3, "base_delay": 0.01, "max_delay": 0.1, "min_retries": 100},
            "breaker": {"failure_threshold": 3, "recovery_timeout": 1.0},
        }
    return load_config(
        environ={},
        overrides={
            "region": "US",
            "deadline": 5.0,
            "providers": providers,
            "telemetry": {"log": False},
            "datasets": {"quote": {"ttl": {"free": 30}, "stale": 600}},
        },
    )


def _result_row(key: str, result: Result[Any] | None, error: PolysourceError | None) -> list[str]:
    if result is None:
        categories = ", ".join(e.category for e in getattr(error, "errors", ())) or str(error)
        return [key, "-", "-", "-", f"[red]failed[/red]: {categories}"]
    data = result.data
    price = getattr(data, "price", None)
    notes = []
    if result.cached:
        notes.append("cached")
    if result.stale:
        notes.append("[yellow]stale[/yellow]")
    if result.errors:
        notes.append("after " + ", ".join(f"{e.provider}:{e.category}" for e in result.errors))
    return [
        key,
        f"{price:,.2f}" if price is not None else "-",
        result.source,
        str(result.attempts),
        "; ".join(notes) or "fresh",
    ]


def _table(title: str, rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("key", "price", "source", "calls", "notes"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def _set_faults(emulators: Mapping[str, Any], name: str, **changes: Any) -> None:
    if name in emulators:
        state = emulators[name][1][EMULATOR_STATE]
        state.set_faults(Faults.from_mapping(changes, state.faults))


class _Checks:
    """Every claim the report makes, checked; a failed check makes the demo exit non-zero."""

    def __init__(self, say: Callable[..., None]) -> None:
        self.say = say
        self.failed: list[str] = []

    def __call__(self, ok: bool, claim: str) -> None:
        if ok:
            self.say(f"  [green]check[/green] {claim}")
        else:
            self.failed.append(claim)
            self.say(f"  [red]FAILED[/red] {claim}")


async def _scene_cache(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    say("[bold]1. A quote, then the same quote again[/bold]")
    first = await orch.fetch(QUOTE, "AAPL")
    second = await orch.fetch(QUOTE, "AAPL")
    say(_table("quote AAPL (region US)", [_result_row("AAPL", r, None) for r in (first, second)]))
    check(
        not first.cached and second.cached and second.attempts == 0,
        "the second fetch is a cache hit with no provider call",
    )


async def _scene_batch(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    keys = [ticker for ticker, _, _ in US_LARGE_CAPS] + list(_MORE) + list(PORTFOLIO)
    say(f"[bold]2. {len(keys)} keys in one call: provider batches, per-key failover[/bold]")
    batch = await orch.fetch_many(QUOTE, keys)
    shown = list(PORTFOLIO)
    say(
        _table(
            f"fetch_many quote (the {len(shown)} interesting keys of {len(keys)})",
            [_result_row(key, batch.results.get(key), batch.errors.get(key)) for key in shown],
        )
    )
    s = batch.summary
    say(
        f"  {s.total} keys: {s.successful} answered ({s.cached} cached, {s.fresh} fresh), "
        f"{s.failed} failed, {s.batches} provider batch calls, {s.duration * 1000:.0f} ms"
    )
    check(s.batches <= 3, f"{s.total} keys took {s.batches} batch calls, not one call per key")
    check(set(batch.errors) == {"ZZZZ"}, "only the unknown ticker ZZZZ failed")
    moved = [batch.results.get(k) for k in ("FX:EURUSD", "^GSPC", "LON:VOD")]
    check(
        all(r is not None and r.source == "yahoo" for r in moved),
        "forex, index and London keys failed over from Tiingo to Yahoo, key by key",
    )


async def _scene_coalescing(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    say("[bold]3. 20 concurrent single fetches are coalesced into batches[/bold]")
    calls_before = sum(p.attempts for p in orch.stats().providers.values())
    singles = [ticker for ticker, _, _ in US_LARGE_CAPS[-20:]]
    await orch.clear_cache_keys(QUOTE, singles)
    answers = await asyncio.gather(*(orch.fetch(QUOTE, key) for key in singles))
    calls = sum(p.attempts for p in orch.stats().providers.values()) - calls_before
    sources = ", ".join(sorted({a.source for a in answers}))
    say(f"  20 fetches answered by {sources} in {calls} provider call(s)")
    check(calls <= 3, "20 concurrent fetches cost at most 3 provider calls")


async def _scene_merge(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    say("[bold]4. Merged: both providers asked at once, answers combined[/bold]")
    merged = await orch.fetch_merged(QUOTE, "MSFT", strategy="median", min_providers=2)
    say(
        f"  MSFT median price {merged.data.price:,.2f} from {', '.join(merged.sources)}; "
        f"price from {', '.join(merged.provenance.get('price', ()))}"
    )
    check(set(merged.sources) == {"tiingo", "yahoo"}, "both providers answered the merge")


async def _scene_daily_bars(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    say("[bold]5. Daily bars[/bold]")
    bars = await orch.fetch(DAILY_BARS, "MSFT")
    last = bars.data.bars[-1] if bars.data.bars else None
    say(
        f"  MSFT: {len(bars.data.bars)} bars from {bars.source}"
        + (f", last close {last.close:,.2f} on {last.date}" if last else "")
    )
    check(len(bars.data.bars) > 100, "a year of daily bars")


async def _scene_outage(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    say("[bold]6. Tiingo goes down: failover, then its circuit breaker opens[/bold]")
    _set_faults(emulators, "tiingo", outage=True)
    rows, sources = [], set()
    for key in ("NVDA", "AMZN", "META", "TSLA"):
        try:
            result = await orch.fetch(QUOTE, key)
            sources.add(result.source)
            rows.append(_result_row(key, result, None))
        except AllProvidersFailed as failed:
            rows.append(_result_row(key, None, failed))
    say(_table("quote during the Tiingo outage", rows))
    _health(orch, say)
    check(sources == {"yahoo"}, "every quote was served by Yahoo during the outage")
    check(orch.health()["tiingo"].breaker.value == "open", "Tiingo's breaker opened")


async def _scene_stale(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    say("[bold]7. Every provider down: stale-if-error serves what the cache still has[/bold]")
    _set_faults(emulators, "yahoo", outage=True)
    stale = await orch.fetch(QUOTE, "AAPL", max_age=0)
    say(_table("quote AAPL", [_result_row("AAPL", stale, None)]))
    try:
        await orch.fetch(QUOTE, "DIA", max_age=0)
        nothing_cached_failed = False
    except AllProvidersFailed as failed:
        say(_table("quote DIA", [_result_row("DIA", None, failed)]))
        nothing_cached_failed = True
    check(stale.stale and stale.source == "tiingo", "AAPL was served stale from the cache")
    check(nothing_cached_failed, "DIA, never cached, failed with every provider's error")


async def _scene_recovery(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    say("[bold]8. Recovery: the emulators come back; the breaker half-opens, then closes[/bold]")
    quiet = {"outage": False, "error_rate": 0.0, "rate_limit_rate": 0.0, "malformed_rate": 0.0}
    _set_faults(emulators, "tiingo", **quiet)
    _set_faults(emulators, "yahoo", **quiet)
    await asyncio.sleep(1.2)  # past the breakers' recovery timeout
    result = await orch.fetch(QUOTE, "JPM")
    say(_table("quote after recovery", [_result_row("JPM", result, None)]))
    _health(orch, say)
    check(result.source == "tiingo", "Tiingo serves again")
    check(orch.health()["tiingo"].breaker.value == "closed", "Tiingo's breaker closed")


async def _scene_banking(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    if not {"plaid", "belvo", "mx"} <= set(emulators):
        say("[bold]9. Banking[/bold]: skipped (install polysource[banking])")
        return
    say("[bold]9. Banking: US links, Plaid down, failover to MX; Mexico served by Belvo[/bold]")
    rows = []

    async def run(label: str, operation: str, params: Any, tenant: str, region: str) -> Any:
        try:
            result: Any = await orch.execute(operation, params, tenant=tenant, region=region)
        except AllProvidersFailed as failed:
            rows.append(
                [label, "-", ", ".join(f"{e.provider}:{e.category}" for e in failed.errors)]
            )
            return None
        notes = "failover" if result.failover_used else ""
        if result.errors:
            notes += " after " + ", ".join(f"{e.provider}:{e.category}" for e in result.errors)
        rows.append([label, result.provider, notes.strip() or "first choice"])
        return result

    alice = await run(
        "alice links (US)", "create_link", CreateLink(institution="ins_109508"), "alice", "US"
    )
    synced = await run("alice syncs transactions", "sync_transactions", None, "alice", "US")
    _set_faults(emulators, "plaid", outage=True)
    bob = await run(
        "bob links while Plaid is down (US)",
        "create_link",
        CreateLink("mxbank", Secret.of("mxuser"), Secret.of("password")),
        "bob",
        "US",
    )
    bob_reads = await run("bob reads accounts", "get_accounts", None, "bob", "US")
    alice_reads = await run(
        "alice reads accounts (linked at Plaid only)", "get_accounts", None, "alice", "US"
    )
    carla = await run(
        "carla links (MX)",
        "create_link",
        CreateLink("erebor_mx_retail", Secret.of("bnk100"), Secret.of("full")),
        "carla",
        "MX",
    )
    _set_faults(emulators, "plaid", outage=False)
    table = Table(title="operations", title_justify="left")
    for column in ("step", "provider", "notes"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    say(table)
    if synced is not None:
        say(f"  alice: {len(synced.data.transactions)} transactions synced, cursor kept")
    check(alice is not None and alice.provider == "plaid", "a US link goes to Plaid first")
    check(
        bob is not None and bob.provider == "mx" and bob.failover_used,
        "with Plaid down, the US link fails over to MX",
    )
    check(
        bob_reads is not None and bob_reads.provider == "mx",
        "bob's reads go to MX, where he is linked",
    )
    check(alice_reads is None, "alice's read is not sent to MX, where she has no link")
    check(carla is not None and carla.provider == "belvo", "a Mexican user is served by Belvo")


async def _scene_stats(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None], check: _Checks
) -> None:
    say("[bold]10. What the engine counted[/bold]")
    stats = orch.stats()
    say(
        f"  requests {stats.requests}, cache hit rate {stats.hit_rate:.0%}, "
        f"stale answers {stats.stale_served}, batches {stats.batches}, "
        f"deduplicated {stats.deduplicated}"
    )
    for name, counters in stats.providers.items():
        say(
            f"  {name}: {counters.attempts} calls, {counters.successes} ok, "
            f"{counters.failures} failed, {counters.retries} retries, {counters.skipped} skipped"
        )


_SCENES: Final = (
    _scene_cache,
    _scene_batch,
    _scene_coalescing,
    _scene_merge,
    _scene_daily_bars,
    _scene_outage,
    _scene_stale,
    _scene_recovery,
    _scene_banking,
    _scene_stats,
)


async def _scenes(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None]
) -> list[str]:
    check = _Checks(say)
    for scene in _SCENES:
        await scene(orch, emulators, say, check)
    return check.failed


def _health(orch: Orchestrator, say: Callable[..., None]) -> None:
    table = Table(title="health", title_justify="left")
    for column in ("provider", "status", "breaker", "uptime", "latency", "last error"):
        table.add_column(column)
    for name, health in orch.health().items():
        table.add_row(
            name,
            health.status.value,
            health.breaker.value,
            f"{health.uptime:.0%}" if health.uptime is not None else "-",
            f"{health.latency * 1000:.1f} ms" if health.latency is not None else "-",
            health.last_error or "-",
        )
    say(table)


async def run_demo(
    *,
    seed: int = 0,
    console: Console | None = None,
    then: Callable[[Orchestrator, Mapping[str, Any]], Awaitable[None]] | None = None,
) -> tuple[Orchestrator, list[str]]:
    """Run the demo; return the (closed) orchestrator and the claims that did not hold.

    ``then(orch, emulators)``, when given, runs after the scenes while the orchestrator and
    the emulators (name to base URL and app) are still up: ``polysource demo --serve`` serves
    the gateway from it.

    Raises:
        PolysourceError: No installed plugin ships an emulator.
    """
    console = console or Console()
    probe = Orchestrator(load_config(environ={}))
    registry = probe.registry
    if not registry.emulators:
        raise PolysourceError("no installed plugin ships an emulator; install polysource[finance]")
    async with _emulators(registry, seed) as emulators:
        for name, (url, _) in emulators.items():
            console.print(f"emulator [bold]{name}[/bold] at {url}")
        orch = Orchestrator(_config(emulators))
        async with orch:
            failed = await _scenes(orch, emulators, console.print)
            _verdict(console, failed)
            if then is not None:
                await then(orch, emulators)
    return orch, failed


def _verdict(console: Console, failed: list[str]) -> None:
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed[/red]")
    else:
        console.print("[green]every check held[/green]")
