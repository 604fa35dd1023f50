"""One engine process of a two-process fleet test, driven over stdin/stdout.

Run as ``python fleet_worker.py REDIS_URL PREFIX``. Each line on stdin is a JSON command, each
reply one JSON line on stdout. The engine has two provider doubles: ``alpha`` (quotes; a key can
be held until released, or scripted to fail) and ``beta`` (fundamentals, limited to 3 calls a
minute), a memory tier, a Redis tier and the fleet on the same Redis.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

import polysource_redis
from polysource import AllProvidersFailed, Orchestrator, load_config
from polysource.config import Secret
from polysource.datasets import FUNDAMENTALS, QUOTE, Quote
from polysource.errors import ErrorCategory
from polysource.testing import FakeProvider


def _config(url: str, prefix: str) -> Any:
    tier = f"{url}?prefix={prefix}"
    return load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "cache": {"tiers": ["memory://", tier]},
            "fleet": {"url": tier, "timeout": 1.0},
            "security": {"secret": Secret.of("fleet-worker-secret-0123456789abcdef")},
            "providers": {
                "alpha": {"retry": {"attempts": 1}, "breaker": {"failure_threshold": 2}},
                "beta": {"retry": {"attempts": 1}, "rate_limits": ["3/minute"]},
            },
        },
    )


class Worker:
    def __init__(self, url: str, prefix: str) -> None:
        self.alpha = FakeProvider("alpha", datasets=("quote",))
        self.beta = FakeProvider("beta", datasets=("fundamentals",))
        self.gate = asyncio.Event()
        self.orch = Orchestrator(
            _config(url, prefix),
            plugins=[self.alpha, self.beta, polysource_redis],
            entry_points=False,
            environ={},
        )
        self.pending: dict[str, asyncio.Task[dict[str, Any]]] = {}

    async def fetch(self, dataset: str, key: str) -> dict[str, Any]:
        try:
            result = await self.orch.fetch(
                FUNDAMENTALS if dataset == "fundamentals" else QUOTE, key
            )
        except AllProvidersFailed as failed:
            return {"ok": False, "categories": [e.category.value for e in failed.errors]}
        price = getattr(result.data, "price", None)
        return {"ok": True, "price": price, "cached": result.cached, "tier": result.tier}

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "ready":
            fleet = self.orch._fleet
            for _ in range(1000):
                if fleet is not None and fleet.listening:
                    return {"ready": True}
                await asyncio.sleep(0.01)
            return {"ready": False}
        if op == "answer":
            self.alpha.answer(command["key"], Quote(command["key"], command["price"]))
            return {}
        if op == "hold":
            price = command["price"]

            async def held(request: Any) -> Quote:
                await self.gate.wait()
                return Quote(request.key, price)

            self.alpha.answer(command["key"], held)
            return {}
        if op == "release":
            self.gate.set()
            return {}
        if op == "fail":
            self.alpha.fail(command["key"], ErrorCategory.PROVIDER_DOWN)
            return {}
        if op == "fetch":
            return await self.fetch(command.get("dataset", "quote"), command["key"])
        if op == "start":
            key = command["key"]
            self.pending[key] = asyncio.create_task(self.fetch("quote", key))
            return {}
        if op == "wait":
            return await self.pending.pop(command["key"])
        if op == "state":
            fleet = self.orch._fleet
            return {
                "alpha_calls": [key for _, key in self.alpha.calls],
                "beta_calls": len(self.beta.calls),
                "breaker": self.orch.health()["alpha"].breaker.value,
                "waiting": fleet.waiting if fleet is not None else 0,
            }
        raise ValueError(f"unknown command {op!r}")


async def main(url: str, prefix: str) -> None:
    worker = Worker(url, prefix)
    async with worker.orch:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line or line.strip() == '{"op": "exit"}':
                return
            try:
                reply = await worker.handle(orjson.loads(line))
            except Exception as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(orjson.dumps(reply).decode() + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
