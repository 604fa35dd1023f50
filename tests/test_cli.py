"""The command line: polysource plugins."""

from __future__ import annotations

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
    """A bad config file makes the command fail with the key path."""
    path = tmp_path / "bad.toml"
    path.write_text("deadline = 'x'\n")
    result = CliRunner().invoke(main, ["plugins", "--config", str(path)])
    assert result.exit_code != 0
    assert "deadline" in str(result.exception)
