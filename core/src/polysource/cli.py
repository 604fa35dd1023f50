"""The ``polysource`` command line. Heavy imports happen inside the command that needs them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from polysource.errors import PolysourceError

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator

__all__ = ["main"]


class _Commands(click.Group):
    """The command group: an error that stops a command is one ``Error:`` line, exit code 1.

    Configuration, plugin and other polysource errors, and a file the system refuses, are
    shown as click shows its own errors (usage errors keep click's exit code 2). ``--debug``
    or ``POLYSOURCE_DEBUG=1`` lets the exception through, with its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (PolysourceError, OSError) as exc:
            if ctx.meta.get(_DEBUG):
                raise
            raise click.ClickException(_one_line(exc)) from None


_DEBUG = "polysource.debug"


def _one_line(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, BaseExceptionGroup) else str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        message = f"{exc.strerror or message}: {os.fspath(exc.filename)!r}"
    return "; ".join(line.strip() for line in message.splitlines() if line.strip()) or repr(exc)


def _orchestrator(config_path: str | None) -> Orchestrator:
    from polysource.orchestrator import Orchestrator

    if config_path:
        return Orchestrator.from_config(config_path)
    from polysource.config import load_config

    return Orchestrator(load_config())


@click.group(cls=_Commands)
@click.version_option(package_name="polysource")
@click.option(
    "--debug",
    is_flag=True,
    envvar="POLYSOURCE_DEBUG",
    help="Show the traceback of an error (also POLYSOURCE_DEBUG=1).",
)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """polysource: many data providers, one reliable source."""
    ctx.meta[_DEBUG] = debug


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("POLYSOURCE_CONFIG"),
    help="polysource.toml to read (default: $POLYSOURCE_CONFIG).",
)
def plugins(config_path: str | None) -> None:
    """List installed plugins, their providers, datasets and regions, and broken ones.

    Exits 1 with a one-line error when plugins cannot be resolved at all (two plugins
    register the same name, or a plugin fails under POLYSOURCE_STRICT_PLUGINS=1) or the
    configuration is invalid.
    """
    import asyncio

    from rich.console import Console
    from rich.table import Table

    from polysource.errors import ConfigError, PluginError

    try:
        registry = asyncio.run(_orchestrator(config_path).check_providers())
    except (PluginError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    console = Console()
    table = Table(title="polysource plugins")
    for column in ("plugin", "distribution", "version", "providers", "status"):
        table.add_column(column)
    for report in registry.plugins:
        providers = [e.info.name for e in registry.providers.values() if e.plugin == report.name]
        table.add_row(
            report.name,
            report.distribution or "-",
            report.version or "-",
            ", ".join(providers) or "-",
            "ok" if report.ok else f"[red]broken[/red]: {report.error}",
        )
    console.print(table)
    ptable = Table(title="providers")
    for column in ("provider", "plugin", "datasets", "operations", "regions (rank)", "batch"):
        ptable.add_column(column)
    for name, entry in sorted(registry.providers.items()):
        info = entry.info
        ptable.add_row(
            name,
            entry.plugin,
            ", ".join(sorted(info.datasets)) or "-",
            ", ".join(sorted(info.operations)) or "-",
            ", ".join(f"{r} ({k})" for r, k in sorted(info.regions.items(), key=lambda i: i[1])),
            str(info.max_batch_size),
        )
    console.print(ptable)
    dtable = Table(title="datasets")
    for column in ("dataset", "schema", "private", "ttl free/basic/premium (s)", "stale (s)"):
        dtable.add_column(column)
    for name, ds in sorted(registry.datasets.items()):
        ttl = "/".join(f"{ds.policy.ttl[t]:g}" for t in ("free", "basic", "premium"))
        dtable.add_row(
            name, ds.schema.__name__, "yes" if ds.private else "no", ttl, f"{ds.policy.stale:g}"
        )
    console.print(dtable)
    if registry.broken:
        raise SystemExit(1 if os.environ.get("POLYSOURCE_STRICT_PLUGINS") == "1" else 0)


@main.command()
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of injected faults.")
def demo(seed: int) -> None:
    """Run the engine and the installed plugins against local emulators (no network, no keys)."""
    import asyncio

    from polysource.demo import run_demo

    _, failed = asyncio.run(run_demo(seed=seed))
    if failed:
        raise SystemExit(1)


@main.command()
@click.argument("name")
@click.option("--port", type=int, default=None, help="Port (default: the emulator's own).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--fault-rate", type=float, default=0.0, help="Share of requests answered 500.")
@click.option("--latency", type=float, default=0.0, help="Seconds added to every request.")
@click.option("--rate-limit-rate", type=float, default=0.0, help="Share answered 429.")
@click.option("--retry-after", type=float, default=1.0, help="Retry-After of injected 429s.")
@click.option("--malformed-rate", type=float, default=0.0, help="Share answered with bad JSON.")
@click.option("--outage", is_flag=True, help="Answer every request 503.")
@click.option("--seed", type=int, default=0, help="Seed of faults and generated data.")
def emulate(
    name: str,
    port: int | None,
    host: str,
    fault_rate: float,
    latency: float,
    rate_limit_rate: float,
    retry_after: float,
    malformed_rate: float,
    outage: bool,
    seed: int,
) -> None:
    """Serve a provider's API emulator, e.g. ``polysource emulate tiingo --port 8001``."""
    from polysource.emulation import Faults, run_emulator
    from polysource.orchestrator import Orchestrator

    emulators = Orchestrator().registry.emulators
    spec = emulators.get(name)
    if spec is None:
        known = ", ".join(sorted(emulators)) or "(none installed)"
        raise click.BadParameter(f"no emulator {name!r}; emulators: {known}", param_hint="NAME")
    try:
        faults = Faults(
            error_rate=fault_rate,
            latency=latency,
            rate_limit_rate=rate_limit_rate,
            retry_after=retry_after,
            malformed_rate=malformed_rate,
            outage=outage,
            seed=seed,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    chosen = port if port is not None else (spec.default_port or 0)
    click.echo(f"{name} emulator: {spec.description}")
    click.echo(f"serving on http://{host}:{chosen} (faults: POST /_emulator/faults)")
    run_emulator(spec.factory(faults), host=host, port=chosen)


@main.command()
@click.argument("dataset")
@click.argument("key")
@click.option("--region", default=None, help="Routing region (default from config).")
@click.option("--tier", default=None, help="Caller tier: free, basic or premium.")
@click.option("--tenant", default=None, help="Tenant, for private datasets.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("POLYSOURCE_CONFIG"),
)
def fetch(
    dataset: str,
    key: str,
    region: str | None,
    tier: str | None,
    tenant: str | None,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Fetch one value and show it with where it came from."""
    import asyncio

    import orjson

    from polysource.cache.codec import converter
    from polysource.errors import PolysourceError

    async def run() -> dict[str, object]:
        async with _orchestrator(config_path) as orch:
            result = await orch.fetch(dataset, key, region=region, tier=tier, tenant=tenant)
            return {
                "data": converter.unstructure(result.data),
                "source": result.source,
                "cached": result.cached,
                "stale": result.stale,
                "attempts": result.attempts,
                "errors": [str(e) for e in result.errors],
            }

    try:
        answer = asyncio.run(run())
    except PolysourceError as exc:
        lines = [exc.message if isinstance(exc, ExceptionGroup) else str(exc)]
        lines += [f"  {error}" for error in getattr(exc, "errors", ())]
        raise click.ClickException("\n".join(lines)) from exc
    if as_json:
        click.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{dataset} {key}", show_header=False)
    data = answer["data"]
    for name, value in data.items() if isinstance(data, dict) else [("value", data)]:
        if value is not None:
            table.add_row(name, str(value))
    table.add_section()
    for name in ("source", "cached", "stale", "attempts"):
        table.add_row(name, str(answer[name]))
    for error in answer["errors"]:  # type: ignore[attr-defined]
        table.add_row("error", str(error))
    Console().print(table)


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("POLYSOURCE_CONFIG"),
)
def health(config_path: str | None) -> None:
    """Print each configured provider's health (as seen by a fresh orchestrator)."""
    import asyncio

    from rich.console import Console
    from rich.table import Table

    async def run() -> Table:
        async with _orchestrator(config_path) as orch:
            table = Table(title="health")
            for column in ("provider", "status", "breaker", "enabled", "in rotation"):
                table.add_column(column)
            for name, item in orch.health().items():
                table.add_row(
                    name,
                    item.status.value,
                    item.breaker.value,
                    str(item.enabled),
                    str(item.in_rotation),
                )
            return table

    Console().print(asyncio.run(run()))


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: [gateway] host).")
@click.option("--port", type=int, default=None, help="Port (default: [gateway] port; 0: any).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("POLYSOURCE_CONFIG"),
    help="polysource.toml to read (default: $POLYSOURCE_CONFIG).",
)
def serve(host: str | None, port: int | None, config_path: str | None) -> None:
    """Serve the HTTP gateway (data, admin, health and /openapi.json routes)."""
    import asyncio

    from polysource.errors import PolysourceError
    from polysource.gateway import create_app
    from polysource.gateway import serve as run

    def ready(url: str) -> None:
        click.echo(f"polysource gateway serving on {url} (OpenAPI: {url}/openapi.json)")

    try:
        orch = _orchestrator(config_path)
        section = orch.config.gateway
        app = create_app(orch)
        asyncio.run(
            run(
                app,
                host if host is not None else section.host,
                port if port is not None else section.port,
                ready=ready,
            )
        )
    except PolysourceError as exc:
        raise click.ClickException(str(exc)) from None
