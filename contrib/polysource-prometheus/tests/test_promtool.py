"""``promtool check metrics`` accepts the exposition (Prometheus's own linter).

The test runs when promtool is on PATH (Debian's ``prometheus`` package has it). Without it,
it is skipped on a workstation and fails in CI (``CI=true``), which installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from polysource.datasets import QUOTE
from polysource.errors import AllProvidersFailed
from polysource.testing import FakeProvider


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not on PATH (apt-get install prometheus)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


async def test_promtool_accepts_the_exposition(make_orchestrator, metrics, clock):
    """After hits, failures, retries, failovers, skips and a batch, promtool finds no problem."""
    promtool = _promtool()
    a = FakeProvider("a", regions={"global": 1}, clock=clock, max_batch_size=5)
    b = FakeProvider("b", regions={"global": 2}, clock=clock)
    orch = await make_orchestrator(
        a,
        b,
        providers={
            "a": {"timeout": 1.0, "breaker": {"failure_threshold": 2}},
            "b": {"timeout": 1.0, "retry": {"attempts": 1}},
        },
    )
    await clock.run(orch.fetch(QUOTE, "K1"))
    await clock.run(orch.fetch(QUOTE, "K1"))
    await clock.run(orch.fetch_many(QUOTE, ["K2", "K3"]))
    a.fail("K4", "network", times=2)
    await clock.run(orch.fetch(QUOTE, "K4"))
    b.fail("K5", "timeout")
    with pytest.raises(AllProvidersFailed):
        await clock.run(orch.fetch(QUOTE, "K5"))
    exposition = generate_latest(metrics.registry)
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert b"polysource_provider_request_duration_seconds_bucket" in exposition
    assert b"polysource_breaker_state" in exposition


def test_missing_promtool_fails_in_ci(monkeypatch) -> None:
    """With CI=true and no promtool on PATH the lint fails instead of skipping."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="promtool is not on PATH"):
        _promtool()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        _promtool()
