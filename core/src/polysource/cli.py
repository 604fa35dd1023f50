"""The ``polysource`` command line. Heavy imports happen inside the command that needs them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from polysource.orchestrator import Orchestrator

__all__ = ["main"]


def _orchestrator(config_path: str | None) -> Orchestrator:
    from polysource.orchestrator import Orchestrator

    if config_path:
        return Orchestrator.from_config(config_path)
    from polysource.config import load_config

    return Orchestrator(load_config())


@click.group()
@click.version_option(package_name="polysource")
def main() -> None:
    """polysource: many data providers, one reliable source."""


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("POLYSOURCE_CONFIG"),
    help="polysource.toml to read (default: $POLYSOURCE_CONFIG).",
)
def plugins(config_path: str | None) -> None:
    """List installed plugins, their providers, datasets and regions, and broken ones."""
    from rich.console import Console
    from rich.table import Table

    orch = _orchestrator(config_path)
    registry = orch.registry
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
