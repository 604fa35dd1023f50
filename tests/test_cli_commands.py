"""The command line's conventions: stdout JSON, stderr logs, config discovery, exit codes."""

from __future__ import annotations

import asyncio
import importlib
import json
import socket
import sys
import textwrap
import threading
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from polysource import Orchestrator, load_config
from polysource.cli import main
from polysource.gateway import create_app, serve
from polysource.testing import FakeProvider

PLUGIN = """
from polysource import hookimpl
from polysource.testing import FakeProvider

broken = FakeProvider("broken", datasets={"quote", "fundamentals"}, regions={"global": 1})
broken.fail("AAPL", "provider_down", times=1000, message="upstream unavailable")
good = FakeProvider("good", datasets={"quote", "fundamentals"}, regions={"global": 2},
                    max_batch_size=50)
for provider in (broken, good):
    provider.fail("GONE", "not_found", times=1000)

@hookimpl
def register_providers(register):
    register(broken)
    register(good)
"""


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Entry-point plugin ``psfakes`` registering a failing and a healthy fake provider."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "psfakes.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "psfakes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: psfakes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[polysource]\npsfakes = psfakes\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("POLYSOURCE_LOAD_PLUGINS", "psfakes")
    monkeypatch.delenv("POLYSOURCE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("psfakes", None)
    importlib.invalidate_caches()


def run(*args, stdin=None):
    """Invoke the command line; stdout and stderr stay apart."""
    return CliRunner().invoke(main, list(args), input=stdin, env={"COLUMNS": "200"})


def test_fetch_json_stdout_is_pure_json_when_a_provider_fails(fakes):
    """With a provider failing, fetch --json prints only JSON on stdout; the log goes to stderr."""
    result = run("--log-level", "info", "fetch", "quote", "AAPL", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["source"] == "good"
    assert body["errors"][0]["provider"] == "broken"
    assert "provider" in result.stderr  # the failure was logged, on stderr


def test_fetch_json_failure_is_a_problem_document_on_stdout(fakes):
    """Every provider failing: exit 1, a problem document on stdout, the errors on stderr."""
    missing = run("fetch", "quote", "GONE", "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"]["category"] == "not_found"
    assert "not_found" in missing.stderr
    unknown = run("fetch", "nope", "AAPL", "--json")
    assert unknown.exit_code == 2
    assert json.loads(unknown.stdout)["error"]["status"] == 404


def test_usage_errors_exit_2(fakes):
    """Unknown options, datasets and bad parameters are usage errors: exit status 2."""
    assert run("fetch", "quote").exit_code == 2
    assert run("fetch", "nope", "AAPL").exit_code == 2
    assert run("fetch", "quote", "AAPL", "--tier", "gold").exit_code == 2
    assert run("execute", "create_link", "--params", "[1]").exit_code == 2
    assert run("health", "--canary", "nonsense").exit_code == 2


def test_config_defaults_to_polysource_toml_in_the_working_directory(fakes):
    """Without --config or $POLYSOURCE_CONFIG, ./polysource.toml is read."""
    (fakes / "polysource.toml").write_text("deadline = 'x'\n")
    result = run("plugins")
    assert result.exit_code == 1
    assert "deadline" in result.stderr and "Traceback" not in result.output


def test_config_from_the_environment_wins_over_the_working_directory(fakes, monkeypatch):
    """$POLYSOURCE_CONFIG is read before ./polysource.toml."""
    (fakes / "polysource.toml").write_text("deadline = 'x'\n")
    good = fakes / "good.toml"
    good.write_text("deadline = 3.0\n")
    monkeypatch.setenv("POLYSOURCE_CONFIG", str(good))
    assert run("plugins", "--json").exit_code == 0


def test_plugins_json_lists_providers_and_datasets(fakes):
    """plugins --json is machine-readable: providers with datasets, datasets with policy."""
    result = run("plugins", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body["providers"]) == {"broken", "good"}
    assert body["providers"]["good"]["max_batch_size"] == 50
    assert "quote" in body["datasets"] and body["broken"] == []


def test_health_probes_each_provider_with_its_canary(fakes):
    """health probes providers with canary keys: exit 0 healthy, 1 degraded, 2 down."""
    healthy = run("health", "--canary", "good=quote:AAPL", "--json")
    assert healthy.exit_code == 0, healthy.output
    body = json.loads(healthy.stdout)
    assert body["providers"]["good"]["status"] == "healthy"
    assert body["providers"]["broken"]["status"] == "unprobed"
    degraded = run("health", "--canary", "good=quote:AAPL", "--canary", "broken=quote:AAPL")
    assert degraded.exit_code == 1, degraded.output
    assert "upstream unavailable" in degraded.stdout
    down = run("health", "--canary", "broken=quote:AAPL", "--json")
    assert down.exit_code == 2
    assert json.loads(down.stdout)["status"] == "down"


def test_health_reads_canaries_from_config(fakes):
    """A canary in [providers.NAME.options] is probed; no canary at all says so and exits 1."""
    assert run("health").exit_code == 1
    (fakes / "polysource.toml").write_text(
        '[providers.good.options]\ncanary = "quote:MSFT"\n[telemetry]\nlog = false\n'
    )
    assert run("health").exit_code == 0


def test_fetch_many_reads_keys_from_stdin(fakes):
    """fetch-many reads keys from stdin; --json has per-key results, errors and a summary."""
    result = run("fetch-many", "quote", "--json", stdin="AAPL\n# comment\n\nMSFT\nGOOG\n")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body["results"]) == {"AAPL", "MSFT", "GOOG"}
    assert body["summary"]["total"] == 3 and body["summary"]["failed"] == 0


def test_fetch_many_reads_keys_from_a_file_and_exits_1_on_a_failed_key(fakes):
    """A key no provider has makes fetch-many exit 1, listing it among the errors."""
    keys = fakes / "keys.txt"
    keys.write_text("MSFT\nGONE\n")
    result = run("fetch-many", "quote", str(keys))
    assert result.exit_code == 1
    assert "MSFT" in result.stdout and "not_found" in result.stdout
    empty = run("fetch-many", "quote", stdin="\n")
    assert empty.exit_code == 2


def test_merged_asks_the_named_providers(fakes):
    """merged --provider good --json merges the named provider's answer."""
    result = run("merged", "quote", "MSFT", "--provider", "good", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sources"] == ["good"]


def test_warm_without_shared_tiers_says_nothing_outlives_it(fakes):
    """warm fetches the keys and notes on stderr that only memory is configured."""
    result = run("warm", "quote", "--json", stdin="AAPL\nMSFT\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"total": 2, "warmed": 2, "failed": []}
    assert "memory" in result.stderr


@contextmanager
def gateway_thread(*providers):
    """A real gateway over ``providers`` in a thread; yields its URL."""
    ready = threading.Event()
    state = {}

    async def serving():
        config = load_config(environ={}, overrides={"telemetry": {"log": False}})
        orch = Orchestrator(config, plugins=list(providers), entry_points=False)
        stop = asyncio.Event()
        state["stop"] = (asyncio.get_running_loop(), stop)

        def bound(url):
            state["url"] = url
            ready.set()

        await serve(create_app(orch), "127.0.0.1", 0, ready=bound, stop=stop)

    thread = threading.Thread(target=asyncio.run, args=(serving(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield state["url"]
    finally:
        loop, stop = state["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def test_health_and_stats_against_a_running_gateway():
    """health --url maps the gateway's report to the exit status; stats --url prints counters."""
    with gateway_thread(FakeProvider("alpha")) as url:
        fetched = CliRunner().invoke(main, ["stats", "--url", url, "--json"])
        health = CliRunner().invoke(main, ["health", "--url", url, "--json"])
    assert fetched.exit_code == 0, fetched.output
    assert "alpha" in json.loads(fetched.stdout)["providers"]
    assert health.exit_code == 0, health.output
    assert json.loads(health.stdout)["status"] == "healthy"


def test_health_against_an_unreachable_gateway_is_a_one_line_error():
    """A gateway that does not answer: one line on stderr, exit 1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(main, ["health", "--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_emulate_on_a_busy_port_is_a_one_line_error():
    """emulate binds before it prints: a port in use is one line, exit 1, nothing on stdout."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["emulate", "tiingo", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert f"127.0.0.1:{port}" in line and "Traceback" not in result.output
