"""Run the benchmarks: ``uv run python benchmarks/run.py [--quick] [MODULE ...]``.

Prints one JSON object per figure and exits non-zero when a figure is over its budget.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import emit

MODULES = [
    "l1_hit",
    "resilience",
    "provider_call",
    "singleflight",
    "batching",
    "selection",
    "l2_redis",
    "l3_sql",
    "memory",
    "prometheus",
    "otel",
    "startup",
    "gc_pause",
    "gateway",
]


def main() -> int:
    import structlog

    # Figures go to stdout as JSON lines; logs of the runs go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, same figures")
    parser.add_argument("modules", nargs="*", choices=[*MODULES, []], default=[])
    args = parser.parse_args()
    failed = False
    for name in args.modules or MODULES:
        module = importlib.import_module(name)
        figures = asyncio.run(module.run(args.quick))
        emit(figures)
        failed = failed or not all(fig["ok"] for fig in figures)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
