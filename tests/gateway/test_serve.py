"""``polysource serve``: binds before it says so; a busy port is a one-line error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request

from click.testing import CliRunner

from polysource.cli import main


def test_busy_port_is_a_one_line_error(tmp_path):
    """Serving on a port already in use exits 1 with one line naming the address."""
    config = tmp_path / "polysource.toml"
    config.write_text("[telemetry]\nlog = false\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port), "--config", str(config)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], result.output
    assert "Traceback" not in result.output


def test_serve_prints_its_url_once_bound(tmp_path):
    """The printed URL answers at once: the socket is bound before the line is printed."""
    config = tmp_path / "polysource.toml"
    config.write_text("[telemetry]\nlog = false\n")
    env = {**os.environ, "POLYSOURCE_LOAD_PLUGINS": "tiingo"}
    with subprocess.Popen(
        [sys.executable, "-m", "polysource", "serve", "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        try:
            line = process.stdout.readline()
            url = line.split(" on ", 1)[1].split()[0]
            with urllib.request.urlopen(f"{url}/health/live", timeout=5) as response:
                assert response.status == 200
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    assert process.returncode == 0


def test_workers_on_a_busy_port_is_a_one_line_error(tmp_path):
    """With --workers the socket is bound before gunicorn starts: a busy port is one line."""
    config = tmp_path / "polysource.toml"
    config.write_text("[telemetry]\nlog = false\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["serve", "--workers", "2", "--port", str(port), "--config", str(config)]
        )
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert f"127.0.0.1:{port}" in line and "Traceback" not in result.output
