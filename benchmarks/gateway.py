"""The HTTP gateway under ``wrk``: a cached key through ``polysource serve`` vs its anchors.

Every server is a process of its own on 127.0.0.1, started once and kept for the whole run:

- ``gateway``: ``polysource serve`` (one process) over the Tiingo plugin, pointed at the Tiingo
  emulator (``polysource emulate tiingo``), memory tier only;
- ``bare``: an aiohttp handler answering the gateway's body for that key, pre-encoded bytes
  (the floor of an aiohttp server: routing, parsing, one response);
- ``fastapi``: the app a user would otherwise write: FastAPI on uvicorn, a cashews in-memory
  cache (``@cache(ttl=...)``) around an aiohttp GET of the same emulator's ``/iex``, mapped
  into the same JSON document;
- ``redis-1`` and ``redis-2``: ``polysource serve --workers 1`` and ``--workers 2`` with the
  memory tier in front of the local Redis (its own key prefix, deleted afterwards) and the
  fleet on it, the keys read in turn from eight cached symbols.

Every key is fetched before the timed runs (one provider call each), so every measured request
is a cache hit. Each repeat runs ``wrk`` for a few seconds against every server, in rotating
order; a figure is the median over repeats of requests per second and of wrk's p99 latency.
Beside each figure: the CPU seconds the server's processes (a gunicorn master and its workers
together) and wrk used per second of the run, read from ``/proc`` and ``getrusage``, so a
figure bounded by the machine's cores rather than the server says so.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from _harness import figure

REDIS = "redis://localhost:6379/0"
CONNECTIONS = 16
"""wrk connections (one request in flight each): under the gateway's 32 per client."""
SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM")
TOKEN = "benchmark-tiingo-token"

BARE_APP = """
import sys
from aiohttp import web

body = sys.stdin.buffer.read()

async def handler(request):
    return web.Response(body=body, content_type="application/json")

app = web.Application()
app.router.add_get("/v1/quote/{key}", handler)

async def main():
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"serving on http://{host}:{port}", flush=True)
    import asyncio
    await asyncio.Event().wait()

import asyncio
asyncio.run(main())
"""

FASTAPI_APP = """
import asyncio, socket, sys
import aiohttp, uvicorn
from cashews import cache
from fastapi import FastAPI, HTTPException

BASE, TOKEN = sys.argv[1], sys.argv[2]
cache.setup("mem://")
app = FastAPI()
session = None

def _float(item, name):
    value = item.get(name)
    return None if value is None else float(value)

@cache(ttl="1d")
async def quote(symbol: str) -> dict:
    global session
    if session is None:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    async with session.get(
        f"{BASE}/iex", params={"tickers": symbol}, headers={"Authorization": f"Token {TOKEN}"}
    ) as response:
        if response.status != 200:
            raise HTTPException(502, "provider error")
        items = await response.json()
    if not items:
        raise HTTPException(404, "unknown symbol")
    item = items[0]
    last = _float(item, "last")
    price = last if last is not None else _float(item, "tngoLast")
    previous = _float(item, "prevClose")
    volume = item.get("volume")
    return {
        "data": {
            "symbol": symbol,
            "price": price,
            "currency": "USD",
            "timestamp": item.get("lastSaleTimestamp") or item.get("timestamp"),
            "previous_close": previous,
            "open": _float(item, "open"),
            "high": _float(item, "high"),
            "low": _float(item, "low"),
            "volume": None if volume is None else int(volume),
            "bid": _float(item, "bidPrice"),
            "ask": _float(item, "askPrice"),
            "change_percent": (price / previous - 1.0) * 100.0 if previous else None,
        },
        "source": "tiingo",
        "stale": False,
        "errors": [],
    }

@app.get("/v1/quote/{symbol}")
async def get_quote(symbol: str) -> dict:
    return await quote(symbol)

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
sock.bind(("127.0.0.1", 0))
sock.listen(2048)
server = uvicorn.Server(
    uvicorn.Config(app, workers=1, access_log=False, log_level="warning", lifespan="off")
)
print(f"serving on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
asyncio.run(server.serve(sockets=[sock]))
"""

REPORT_LUA = """
local paths = {%(paths)s}
local requests = {}
local n = 0
init = function(args)
  for i, path in ipairs(paths) do requests[i] = wrk.format("GET", path) end
end
request = function()
  n = n %% #requests + 1
  return requests[n]
end
done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "socket_errors": %%d, "non_2xx": %%d, '
    .. '"p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(99)))
end
"""


def _config(emulator: str, tiers: list[str], fleet: str | None) -> str:
    text = f"""
region = "US"
[telemetry]
log = false
[security]
secret = {{ env = "PSBENCH_SECRET" }}
[cache]
tiers = {orjson.dumps(tiers).decode()}
[datasets.quote]
ttl = 86400
[providers.tiingo]
base_url = "{emulator}"
credentials = {{ api_key = {{ env = "PSBENCH_TIINGO" }} }}
"""
    if fleet is not None:
        text += f'[fleet]\nurl = "{fleet}"\n'
    return text


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOURCE_")}
    return {
        **env,
        "POLYSOURCE_LOAD_PLUGINS": "tiingo,redis",
        "PSBENCH_SECRET": "benchmark-secret-" + uuid.uuid4().hex,
        "PSBENCH_TIINGO": TOKEN,
    }


class Servers:
    """Server processes started for the run, each stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], stdin: bytes | None = None) -> tuple[str, int]:
        """Start ``args`` and wait for its ``serving on URL`` line; the URL and the pid."""
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            env=_env(),
            start_new_session=True,  # its own process group: gunicorn's workers stop with it
        )
        self.processes.append(process)
        if stdin is not None:
            assert process.stdin is not None
            process.stdin.write(stdin)
            process.stdin.close()
        assert process.stdout is not None
        for _ in range(5):
            line = process.stdout.readline().decode()
            if " on http://" in line:
                return line.split(" on ", 1)[1].split()[0], process.pid
        raise RuntimeError(f"{args[:4]} did not start: {line!r}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found.extend(_tree(int(child)))
    return found


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants."""
    ticks = 0
    for each in _tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def _wrk(url: str, script: Path, seconds: int) -> dict[str, Any]:
    """One ``wrk`` run; its figures plus the CPU seconds wrk used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("{"))
    result: dict[str, Any] = orjson.loads(line)
    if result["socket_errors"] or result["non_2xx"]:
        raise RuntimeError(f"wrk against {url}: errors in {result}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["wrk_cpu"] = cpu / (result["duration_us"] / 1e6)
    return result


@contextlib.contextmanager
def _redis_prefix() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS)
    prefix = f"ps-bench-gw-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.unlink(*keys)
        client.close()


async def run(quick: bool) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp, _redis_prefix() as prefix:
        servers = Servers()
        try:
            return _run(quick, Path(tmp), prefix, servers)
        finally:
            servers.stop()


def _run(quick: bool, tmp: Path, prefix: str, servers: Servers) -> list[dict[str, Any]]:
    python = sys.executable
    emulator, _ = servers.start([python, "-m", "polysource", "emulate", "tiingo", "--port", "0"])
    memory = tmp / "memory.toml"
    memory.write_text(_config(emulator, ["memory://"], None))
    shared = tmp / "redis.toml"
    shared.write_text(
        _config(
            emulator, ["memory://", f"{REDIS}?prefix={prefix}"], f"{REDIS}?prefix={prefix}-fleet"
        )
    )
    serve = [python, "-m", "polysource", "serve", "--port", "0", "--graceful-timeout", "5"]
    serve.append("--config")
    urls: dict[str, str] = {}
    pids: dict[str, int] = {}
    urls["gateway"], pids["gateway"] = servers.start([*serve, str(memory)])
    body = _get(urls["gateway"] + "/v1/quote/AAPL")
    urls["bare"], pids["bare"] = servers.start([python, "-c", BARE_APP], stdin=body)
    urls["fastapi"], pids["fastapi"] = servers.start([python, "-c", FASTAPI_APP, emulator, TOKEN])
    urls["redis-1"], pids["redis-1"] = servers.start([*serve, str(shared), "--workers", "1"])
    urls["redis-2"], pids["redis-2"] = servers.start([*serve, str(shared), "--workers", "2"])
    theirs = orjson.loads(_get(urls["fastapi"] + "/v1/quote/AAPL"))
    if theirs.keys() != orjson.loads(body).keys():
        raise RuntimeError(f"the FastAPI app answers another document: {theirs}")

    one = tmp / "one.lua"
    one.write_text(REPORT_LUA % {"paths": '"/v1/quote/AAPL"'})
    many = tmp / "many.lua"
    many.write_text(REPORT_LUA % {"paths": ", ".join(f'"/v1/quote/{s}"' for s in SYMBOLS)})
    scripts = {name: many if name.startswith("redis") else one for name in urls}
    for symbol in SYMBOLS:  # one provider call each, into Redis; then every read is a hit
        _get(f"{urls['redis-1']}/v1/quote/{symbol}")
    for name, url in urls.items():  # warm-up: each worker's L1, connection pools, JITs
        _wrk(url, scripts[name], 1)

    seconds = 2 if quick else 3
    repeats = 3 if quick else 5
    names = list(urls)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            cpu = _cpu(pids[name])
            result = _wrk(urls[name], scripts[name], seconds)
            result["server_cpu"] = (_cpu(pids[name]) - cpu) / (result["duration_us"] / 1e6)
            runs[name].append(result)

    def med(name: str, field: str) -> float:
        return statistics.median(r[field] for r in runs[name])

    def cpu(name: str) -> dict[str, float]:
        return {"server_cpu_s_per_s": round(med(name, "server_cpu"), 2)}

    def spread(name: str) -> float:
        rps = [r["rps"] for r in runs[name]]
        return round((max(rps) - min(rps)) / statistics.median(rps), 3)

    return [
        _at_least(
            figure(
                "gateway cached key vs bare aiohttp handler: throughput",
                med("gateway", "rps"),
                med("bare", "rps"),
                None,
                anchor_name="aiohttp handler returning the same pre-encoded bytes",
                unit="rps",
                spread=spread("gateway"),
                anchor_spread=spread("bare"),
                **cpu("gateway"),
            ),
            0.8,
        ),
        figure(
            "gateway cached key vs bare aiohttp handler: p99",
            med("gateway", "p99_us"),
            med("bare", "p99_us"),
            1.3,
            anchor_name="aiohttp handler returning the same pre-encoded bytes",
            unit="us",
            p50_us=med("gateway", "p50_us"),
            anchor_p50_us=med("bare", "p50_us"),
        ),
        _at_least(
            figure(
                "gateway cached key vs FastAPI + uvicorn + cashews: throughput",
                med("gateway", "rps"),
                med("fastapi", "rps"),
                None,
                anchor_name="FastAPI + uvicorn (one worker) + cashews mem:// around the GET",
                unit="rps",
                anchor_spread=spread("fastapi"),
                anchor_server_cpu_s_per_s=round(med("fastapi", "server_cpu"), 2),
            ),
            1.5,
        ),
        figure(
            "gateway cached key vs FastAPI + uvicorn + cashews: p99",
            med("gateway", "p99_us"),
            med("fastapi", "p99_us"),
            1.0,
            anchor_name="FastAPI + uvicorn (one worker) + cashews mem:// around the GET",
            unit="us",
            p50_us=med("gateway", "p50_us"),
            anchor_p50_us=med("fastapi", "p50_us"),
        ),
        _at_least(
            figure(
                "serve --workers 2 vs --workers 1 (memory + Redis tiers): throughput",
                med("redis-2", "rps"),
                med("redis-1", "rps"),
                None,
                anchor_name="serve --workers 1, same configuration",
                unit="rps",
                spread=spread("redis-2"),
                anchor_spread=spread("redis-1"),
                **cpu("redis-2"),
                anchor_server_cpu_s_per_s=round(med("redis-1", "server_cpu"), 2),
                wrk_cpu_s_per_s=round(med("redis-2", "wrk_cpu"), 2),
                anchor_wrk_cpu_s_per_s=round(med("redis-1", "wrk_cpu"), 2),
                cores=os.cpu_count(),
            ),
            1.6,
        ),
        figure(
            "serve --workers 2 vs --workers 1: requests per server CPU second",
            med("redis-2", "rps") / med("redis-2", "server_cpu"),
            med("redis-1", "rps") / med("redis-1", "server_cpu"),
            None,
            anchor_name="serve --workers 1, same configuration",
            unit="rps_per_cpu",
        ),
    ]


def _at_least(fig: dict[str, Any], budget: float) -> dict[str, Any]:
    """A figure where polysource must reach ``budget`` times the anchor (higher is better)."""
    return {**fig, "budget": f">= {budget}", "ok": fig["ratio"] >= budget}
