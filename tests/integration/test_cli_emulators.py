"""The command line against real emulators: demo, emulate, fetch, health."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner
from rich.console import Console

from polysource.cli import main
from polysource.demo import run_demo


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tiingo_emulator(tmp_path):
    """``polysource emulate tiingo`` in a subprocess on a free port; its base URL."""
    port = _free_port()
    log = (tmp_path / "emulator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "polysource", "emulate", "tiingo", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # bounded wait for the server to listen (at most ~10 s)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError((tmp_path / "emulator.log").read_text()) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_emulate_serves_the_provider_protocol(tiingo_emulator):
    """The emulator answers Tiingo's IEX path with Tiingo's JSON array, token required."""
    request = urllib.request.Request(
        f"{tiingo_emulator}/iex?tickers=aapl,msft", headers={"Authorization": "Token demo"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
    assert [row["ticker"] for row in body] == ["AAPL", "MSFT"]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{tiingo_emulator}/iex?tickers=aapl", timeout=5)
    assert caught.value.code == 401
    caught.value.close()


def test_cli_fetch_goes_through_the_plugin_to_the_emulator(tiingo_emulator):
    """polysource fetch quote AAPL, with config from the environment, prints the quote."""
    env = {
        "POLYSOURCE_PROVIDERS__TIINGO__BASE_URL": tiingo_emulator,
        "POLYSOURCE_LOAD_PLUGINS": "tiingo",
        "TIINGO_API_KEY": "cli-test-token",
        "POLYSOURCE_TELEMETRY__LOG": "false",
    }
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        result = CliRunner().invoke(main, ["fetch", "quote", "aapl", "--region", "US", "--json"])
        table = CliRunner().invoke(
            main, ["fetch", "quote", "msft", "--region", "US"], env={"COLUMNS": "120"}
        )
        missing = CliRunner().invoke(main, ["fetch", "quote", "ZZZZ", "--region", "US"])
        health = CliRunner().invoke(
            main, ["health", "--canary", "tiingo=quote:AAPL"], env={"COLUMNS": "200"}
        )
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["source"] == "tiingo" and body["data"]["symbol"] == "AAPL"
    assert "cli-test-token" not in result.output
    assert health.exit_code == 0 and "tiingo" in health.output
    assert table.exit_code == 0 and "MSFT" in table.output and "tiingo" in table.output
    assert missing.exit_code == 1 and "not_found" in missing.output


def test_emulate_unknown_name_lists_emulators():
    """An unknown emulator name is a usage error listing the installed ones."""
    result = CliRunner().invoke(main, ["emulate", "nope"])
    assert result.exit_code == 2
    assert "tiingo" in result.output and "yahoo" in result.output


async def test_demo_runs_every_scene_against_emulators():
    """The demo runs the real engine and plugins: failover, breaker, stale answers, recovery."""
    console = Console(record=True, width=140)
    orch, failed = await run_demo(console=console)
    text = console.export_text()
    assert failed == [], text
    assert "every check held" in text
    for scene in range(1, 11):
        assert f"{scene}. " in text
    assert "circuit_open" in text and "stale" in text
    stats = orch.stats()
    assert stats.stale_served >= 1 and stats.batches >= 1
    assert {"tiingo", "yahoo"} <= set(stats.providers)
    assert "demo-token-not-a-real-key" not in text


def test_demo_serve_leaves_the_gateway_and_dashboard_running():
    """demo --serve: after the scenes the gateway answers over the emulators, the dashboard
    signs in with the printed token, and SIGTERM stops it cleanly."""
    import http.cookiejar
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "polysource", "demo", "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    try:
        lines = []
        for line in process.stdout:  # bounded by the demo's length; ends if it exits
            lines.append(line)
            if line.startswith("dashboard:"):
                break
        assert any("every check held" in line for line in lines), "".join(lines)
        dashboard = lines[-1].split()[1]
        token = lines[-1].rsplit(": ", 1)[1].strip(" )\n")
        base = dashboard.removesuffix("/dashboard")
        with urllib.request.urlopen(f"{base}/v1/quote/AAPL", timeout=10) as response:
            assert json.loads(response.read())["data"]["symbol"] == "AAPL"
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        with opener.open(f"{dashboard}?token={token}", timeout=10) as page:
            assert page.status == 200 and b"gateway status" in page.read()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        process.stdout.close()
    assert process.returncode == 0
