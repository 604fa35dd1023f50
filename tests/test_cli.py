"""The command line: polysource plugins."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
from click.testing import CliRunner

from polysource.cli import main


def test_plugins_lists_builtin_datasets():
    """polysource plugins prints the plugins table and the standard datasets."""
    result = CliRunner().invoke(main, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "polysource.builtins" in result.output
    for dataset in ("quote", "accounts", "weapon_meta"):
        assert dataset in result.output


def test_plugins_with_bad_config_reports_key(tmp_path):
    """A bad config file makes the command fail with a one-line error naming the key path."""
    path = tmp_path / "bad.toml"
    path.write_text("deadline = 'x'\n")
    result = CliRunner().invoke(main, ["plugins", "--config", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "deadline" in result.output


def _install(site, dist: str, entry: str, module: str, source: str) -> None:
    """Write an importable module and a *.dist-info declaring it as a polysource entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[polysource]\n{entry} = {module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A temporary site directory on sys.path that importlib.metadata scans."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in list(sys.modules):
        if name.startswith("pscli_"):
            del sys.modules[name]
    importlib.invalidate_caches()


PROVIDER = """
from polysource import hookimpl
from polysource.testing import FakeProvider

@hookimpl
def register_providers(register):
    register(FakeProvider("{name}"))
"""

BROKEN_FACTORY = """
from polysource import ProviderInfo, hookimpl

class Factory:
    info = ProviderInfo(name="clerk", datasets=frozenset({"quote"}), regions={"global": 1})

    def __init__(self, settings):
        raise RuntimeError("no token service")

@hookimpl
def register_providers(register):
    register(Factory)
"""


def test_plugins_reports_a_duplicate_provider_in_one_line(site):
    """Two plugins registering one provider name: a one-line error naming both, exit code 1."""
    _install(site, "pscli-one", "pscli_one", "pscli_one", PROVIDER.format(name="twin"))
    _install(site, "pscli-two", "pscli_two", "pscli_two", PROVIDER.format(name="twin"))
    result = CliRunner().invoke(main, ["plugins"], env={"POLYSOURCE_LOAD_PLUGINS": ""})
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert "'twin'" in line and "pscli_one" in line and "pscli_two" in line


def test_plugins_lists_a_provider_whose_factory_raises_as_broken(site):
    """A provider whose constructor raises shows its plugin as broken, naming the provider."""
    _install(site, "pscli-clerk", "pscli_clerk", "pscli_clerk", BROKEN_FACTORY)
    result = CliRunner().invoke(main, ["plugins"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "pscli_clerk" in line)
    assert "broken" in row and "'clerk' failed to start" in row
