"""``polysource demo``: the real engine and plugins against local emulators, faults on purpose.

Every installed provider plugin that ships an emulator gets one, started in this process on a
free 127.0.0.1 port with seeded faults (errors, latency, 429s, malformed answers). The
orchestrator is configured to point each provider at its emulator, so the run needs no network
and no keys. The scenes show caching, batching with per-key failover, an outage with failover
and a circuit breaker, stale-if-error, health and stats.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from polysource.config import Secret, load_config
from polysource.datasets import DAILY_BARS, QUOTE
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.errors import AllProvidersFailed, PolysourceError
from polysource.models import Result
from polysource.orchestrator import Orchestrator

__all__ = ["PORTFOLIO", "run_demo"]

PORTFOLIO: Final = ("AAPL", "MSFT", "GOOGL", "BRK.B", "FX:EURUSD", "^GSPC", "LON:VOD", "ZZZZ")
"""Keys of the portfolio scene: stocks, a forex pair, an index, a London listing, a bad ticker."""

# Seeded, mild faults: retries absorb them, and the outage scene adds a hard one.
_FAULTS: Final = {
    "tiingo": Faults(latency=0.003, error_rate=0.1, rate_limit_rate=0.05, retry_after=0.05, seed=7),
    "yahoo": Faults(latency=0.006, error_rate=0.05, malformed_rate=0.05, seed=11),
}
_DEMO_CREDENTIALS: Final = {"tiingo": {"api_key": Secret.of("demo-token-not-a-real-key")}}


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


async def _scenes(
    orch: Orchestrator, emulators: Mapping[str, Any], say: Callable[..., None]
) -> None:
    say("[bold]1. A quote, then the same quote again[/bold]")
    rows = []
    for _ in range(2):
        result = await orch.fetch(QUOTE, "AAPL")
        rows.append(_result_row("AAPL", result, None))
    say(_table("quote AAPL (region US)", rows))

    say("[bold]2. A portfolio in one call: cache, provider batches, per-key failover[/bold]")
    batch = await orch.fetch_many(QUOTE, list(PORTFOLIO))
    say(
        _table(
            "fetch_many quote",
            [_result_row(key, batch.results.get(key), batch.errors.get(key)) for key in PORTFOLIO],
        )
    )
    s = batch.summary
    say(
        f"  {s.total} keys: {s.successful} answered ({s.cached} cached, {s.fresh} fresh), "
        f"{s.failed} failed, {s.batches} provider batch calls, {s.duration * 1000:.0f} ms"
    )

    say("[bold]3. Daily bars[/bold]")
    bars = await orch.fetch(DAILY_BARS, "MSFT")
    last = bars.data.bars[-1] if bars.data.bars else None
    say(
        f"  MSFT: {len(bars.data.bars)} bars from {bars.source}"
        + (f", last close {last.close:,.2f} on {last.date}" if last else "")
    )

    say("[bold]4. Tiingo goes down: failover, then its circuit breaker opens[/bold]")
    _set_faults(emulators, "tiingo", outage=True)
    rows = []
    for key in ("NVDA", "AMZN", "META", "TSLA"):
        try:
            rows.append(_result_row(key, await orch.fetch(QUOTE, key), None))
        except AllProvidersFailed as failed:
            rows.append(_result_row(key, None, failed))
    say(_table("quote during the Tiingo outage", rows))
    _health(orch, say)

    say("[bold]5. Every provider down: stale-if-error serves what the cache still has[/bold]")
    _set_faults(emulators, "yahoo", outage=True)
    for key in ("AAPL", "KO"):
        try:
            result = await orch.fetch(QUOTE, key, max_age=0)
            say(_table(f"quote {key}", [_result_row(key, result, None)]))
        except AllProvidersFailed as failed:
            say(_table(f"quote {key}", [_result_row(key, None, failed)]))

    say("[bold]6. Recovery: the emulators come back; the breaker half-opens, then closes[/bold]")
    quiet = {"outage": False, "error_rate": 0.0, "rate_limit_rate": 0.0, "malformed_rate": 0.0}
    _set_faults(emulators, "tiingo", **quiet)
    _set_faults(emulators, "yahoo", **quiet)
    await asyncio.sleep(1.2)  # past the breakers' recovery timeout
    result = await orch.fetch(QUOTE, "JPM")
    say(_table("quote after recovery", [_result_row("JPM", result, None)]))
    _health(orch, say)
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


async def run_demo(*, seed: int = 0, console: Console | None = None) -> Orchestrator:
    """Run the demo; returns the (closed) orchestrator so callers can inspect its stats.

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
            await _scenes(orch, emulators, console.print)
    return orch
