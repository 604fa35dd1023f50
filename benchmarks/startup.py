"""Start-up: a whole ``python -c "import polysource"`` process vs ``python -c "import aiohttp"``.

Each command runs ``rounds`` times in fresh interpreters, the commands interleaved in rotating
order after one warm-up run each; a figure is the median wall time of the process, with its
median CPU time (user + system) beside it, which moves less on a shared machine. The runs
write and use bytecode caches (``PYTHONDONTWRITEBYTECODE`` is dropped from their environment),
as an installed package has them; without them both sides compile their sources every time.
The anchor is aiohttp, the HTTP client of every provider plugin; ``import polysource`` itself
imports it no more (only a provider, or the webhook sink when configured, does), so the
figure is attrs, cattrs, pluggy, orjson and polysource's own modules against it.

Also reported, without a budget: the interpreter alone (``python -c pass``), polysource and
aiohttp in one process (what an application with a provider plugin pays), the process that
loads the first-party provider plugins from their entry points (``Orchestrator().registry``),
and which of the modules that must not load at start-up did (redis-py, SQLAlchemy,
``aiohttp.web``, the emulators): an empty list is the expected answer.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from _harness import figure

BUDGET = 1.5

FIRST_PARTY = "belvo,codarmory,mx,plaid,tiingo,wzstats,yahoo"

FORBIDDEN = ("redis", "sqlalchemy", "aiohttp.web", "polysource.emulation")

_LIST_FORBIDDEN = f"""
import json, sys
forbidden = {FORBIDDEN!r}
print(json.dumps(sorted(
    m for m in sys.modules
    if m in forbidden or m.startswith(tuple(f + "." for f in forbidden))
    or (m.startswith("polysource_") and m.endswith((".emulator", ".sandbox")))
)))
"""

COMMANDS = {
    "interpreter": "pass",
    "aiohttp": "import aiohttp",
    "polysource": "import polysource",
    "both": "import polysource, aiohttp",
    "plugins": "import polysource; polysource.Orchestrator().registry",
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOURCE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return {**env, "POLYSOURCE_LOAD_PLUGINS": FIRST_PARTY}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(code: str) -> tuple[float, float]:
    """Wall and CPU seconds of one process running ``code``."""
    cpu = _cpu()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=_env())
    return time.perf_counter() - start, _cpu() - cpu


def _loaded(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + _LIST_FORBIDDEN],
        check=True,
        env=_env(),
        capture_output=True,
        text=True,
    )
    return list(json.loads(out.stdout))


def measure(rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median process wall time and CPU time per command, in milliseconds."""
    for code in COMMANDS.values():
        _run(code)
    names = list(COMMANDS)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, cpu_seconds = _run(COMMANDS[name])
            wall[name].append(seconds * 1000)
            cpu[name].append(cpu_seconds * 1000)
    return (
        {name: statistics.median(values) for name, values in wall.items()},
        {name: statistics.median(values) for name, values in cpu.items()},
    )


async def run(quick: bool) -> list[dict[str, Any]]:
    ms, cpu = measure(7 if quick else 15)
    return [
        figure(
            "`import polysource` process vs `import aiohttp` process (median)",
            ms["polysource"],
            ms["aiohttp"],
            BUDGET,
            anchor_name="python -c 'import aiohttp'",
            unit="ms",
            cpu_ratio=round(cpu["polysource"] / cpu["aiohttp"], 3),
            forbidden_loaded=_loaded(COMMANDS["polysource"]),
        ),
        figure(
            "first-party plugins loaded from entry points vs `import aiohttp` process",
            ms["plugins"],
            ms["aiohttp"],
            None,
            anchor_name="python -c 'import aiohttp'",
            unit="ms",
            cpu_ratio=round(cpu["plugins"] / cpu["aiohttp"], 3),
            forbidden_loaded=_loaded(COMMANDS["plugins"]),
        ),
        figure(
            "`import polysource, aiohttp` process vs `import aiohttp` process",
            ms["both"],
            ms["aiohttp"],
            None,
            anchor_name="python -c 'import aiohttp'",
            unit="ms",
            cpu_ratio=round(cpu["both"] / cpu["aiohttp"], 3),
        ),
        figure(
            "floor: the interpreter alone vs `import aiohttp` process",
            ms["interpreter"],
            ms["aiohttp"],
            None,
            anchor_name="python -c 'import aiohttp'",
            unit="ms",
        ),
    ]
