"""The command line, run as a program: an error that stops it is one ``Error:`` line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BROKEN_PLUGIN = "raise ImportError('the clerk SDK is missing')\n"


def _run(
    *args: str, env: dict[str, str] | None = None, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m polysource ARGS`` with no POLYSOURCE_* variables but those in ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOURCE_")}
    environ.update(env or {})
    if pythonpath is not None:
        environ["PYTHONPATH"] = os.pathsep.join(
            [str(pythonpath), *filter(None, [environ.get("PYTHONPATH")])]
        )
    return subprocess.run(
        [sys.executable, "-m", "polysource", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for word in words:
        assert word in lines[0]


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    """A directory holding a plugin distribution whose module fails to import."""
    (tmp_path / "pserr_clerk.py").write_text(BROKEN_PLUGIN)
    info = tmp_path / "pserr_clerk-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pserr-clerk\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[polysource]\nclerk = pserr_clerk\n")
    return tmp_path


@pytest.fixture
def bad_config(tmp_path: Path) -> Path:
    """A polysource.toml whose deadline is not a number."""
    path = tmp_path / "polysource.toml"
    path.write_text("deadline = 'soon'\n")
    return path


@pytest.mark.parametrize(
    "command", [["health"], ["emulate", "tiingo"], ["plugins"]], ids=lambda c: c[0]
)
def test_strict_plugins_with_a_broken_plugin_is_one_error_line(broken_site, command):
    """POLYSOURCE_STRICT_PLUGINS=1 and a plugin that fails to import: one line naming it, exit 1."""
    result = _run(*command, env={"POLYSOURCE_STRICT_PLUGINS": "1"}, pythonpath=broken_site)
    _assert_one_error_line(result, "clerk")


def test_demo_without_emulators_is_one_error_line():
    """polysource demo with no plugin shipping an emulator: one line saying what to install."""
    result = _run("demo", env={"POLYSOURCE_LOAD_PLUGINS": "none-installed"})
    _assert_one_error_line(result, "polysource[finance]")


def test_bad_config_file_is_one_error_line(bad_config):
    """A config file with a bad value: one line naming the key, exit 1."""
    result = _run("health", "--config", str(bad_config))
    _assert_one_error_line(result, "deadline")


def test_missing_config_file_is_one_error_line(tmp_path):
    """A config file that does not exist: one line naming the file, exit 1."""
    result = _run("fetch", "quote", "AAPL", "--config", str(tmp_path / "absent.toml"))
    _assert_one_error_line(result, "absent.toml")


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--debug"], {}), ([], {"POLYSOURCE_DEBUG": "1"})],
    ids=["--debug", "POLYSOURCE_DEBUG"],
)
def test_debug_shows_the_traceback(bad_config, args, env):
    """--debug or POLYSOURCE_DEBUG=1 shows the error's traceback instead of one line."""
    result = _run(*args, "health", "--config", str(bad_config), env=env)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ConfigError: deadline" in result.stderr


def test_usage_error_exits_2():
    """A command missing its arguments is a usage error: exit code 2, no traceback."""
    result = _run("fetch")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error: Missing argument" in result.stderr
