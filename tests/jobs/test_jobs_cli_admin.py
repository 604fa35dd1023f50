"""The jobs under the CLI and the gateway's admin routes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from polysource.cli import main


def test_cli_jobs_list_and_run_json(tmp_path):
    """``polysource jobs list --json`` lists the configured jobs; ``jobs run`` runs one now."""
    config = tmp_path / "polysource.toml"
    config.write_text('[plugins]\nonly = []\n[[jobs]]\nname = "purge"\nevery = "1h"\npurge = {}\n')
    runner = CliRunner()
    listed = runner.invoke(main, ["jobs", "list", "--json", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    (job,) = json.loads(listed.stdout)["jobs"]
    assert (job["name"], job["schedule"], job["runs"]) == ("purge", "every 3600s", 0)
    ran = runner.invoke(main, ["jobs", "run", "purge", "--json", "--config", str(config)])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["job"]["last_outcome"] == "ok"
    missing = runner.invoke(main, ["jobs", "run", "nope", "--json", "--config", str(config)])
    assert missing.exit_code != 0 and "unknown job" in missing.stdout


def test_cli_worker_without_a_queue_says_what_to_set(tmp_path):
    """``polysource worker`` without ``[jobs_queue] url`` fails with one line naming the key."""
    config = tmp_path / "polysource.toml"
    config.write_text('[plugins]\nonly = []\n[[jobs]]\nname = "purge"\nevery = "1h"\npurge = {}\n')
    result = CliRunner().invoke(main, ["worker", "--config", str(config)])
    assert result.exit_code != 0
    assert "jobs_queue.url" in result.output and "polysource-redis[worker]" in result.output
