"""Every distribution builds, and core plus plugins installed from wheels work in a fresh venv.

The workspace's own environment installs every package in editable mode, which hides a module
left out of a wheel, a dependency only the workspace provides or an entry point that only
resolves from the source tree. These tests build what a publisher uploads (``uv build``),
install core, one first-party plugin and the plugin tutorial's example from those wheels into
a new virtual environment (dependencies from the package index), and run the ``polysource``
command and the plugins' conformance tests there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TIINGO_TESTS = ROOT / "plugins" / "polysource-tiingo" / "tests"
# uv names itself in $UV for the processes `uv run` starts.
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
PYTEST_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


def _environ() -> dict[str, str]:
    """The environment without the workspace's virtualenv, import path or polysource settings."""
    drop = (
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "UV_PROJECT_ENVIRONMENT",
        "UV_RUN_RECURSION_DEPTH",
    )
    return {
        k: v for k, v in os.environ.items() if k not in drop and not k.startswith("POLYSOURCE_")
    }


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, f"{args}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


def _distributions() -> dict[str, str]:
    """Each workspace member's distribution name and version."""
    members: dict[str, str] = {}
    for path in [ROOT / "core", *ROOT.glob("plugins/*"), *ROOT.glob("contrib/*")]:
        if path.name.startswith("_") or not (path / "pyproject.toml").is_file():
            continue
        with (path / "pyproject.toml").open("rb") as fh:
            project = tomllib.load(fh)["project"]
        members[project["name"]] = project["version"]
    return members


def _toml_block(page: Path, heading: str) -> str:
    """The first TOML code block after ``heading`` on a documentation page."""
    text = page.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"{page} has no TOML block after {heading!r}"
    return match.group(1)


def _python_block(page: Path) -> str:
    match = re.search(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None, f"{page} has no Python block"
    return match.group(1)


def _wheel(dist: Path, name: str) -> Path:
    (wheel,) = dist.glob(f"{name.replace('-', '_')}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels and sdists of every workspace member and of the tutorial plugin's project."""
    out = tmp_path_factory.mktemp("dist")
    _run(UV, "build", "--all-packages", "--quiet", "--out-dir", out, cwd=ROOT)
    project = tmp_path_factory.mktemp("coingecko")
    shutil.copy(DOCS / "examples" / "polysource_coingecko.py", project)
    (project / "pyproject.toml").write_text(
        _toml_block(DOCS / "tutorials" / "writing-a-plugin.md", "## 5. Publish it"),
        encoding="utf-8",
    )
    (project / "README.md").write_text("# polysource-coingecko\n", encoding="utf-8")
    shutil.copy(ROOT / "LICENSE", project / "LICENSE")
    _run(UV, "build", "--quiet", "--out-dir", out, cwd=project)
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with core, Tiingo and the tutorial plugin from their wheels."""
    env = tmp_path_factory.mktemp("venv") / "env"
    _run(UV, "venv", "--quiet", "--python", sys.executable, env, cwd=env.parent)
    core = _wheel(dist, "polysource")
    _run(
        UV,
        "pip",
        "install",
        "--quiet",
        "--python",
        env / "bin" / "python",
        f"polysource[testing] @ {core.as_uri()}",
        _wheel(dist, "polysource-tiingo"),
        _wheel(dist, "polysource-coingecko"),
        cwd=env.parent,
    )
    return env


def test_every_distribution_builds_a_wheel_and_an_sdist_with_its_license(dist):
    """Each member builds a wheel and an sdist with its licence, classifiers, pinned siblings."""
    for name, version in _distributions().items():
        stem = f"{name.replace('-', '_')}-{version}"
        wheel = dist / f"{stem}-py3-none-any.whl"
        with zipfile.ZipFile(wheel) as archive:
            metadata = archive.read(f"{stem}.dist-info/METADATA").decode()
            assert "License-Expression: MIT" in metadata, name
            assert "Classifier: Typing :: Typed" in metadata, name
            siblings = re.findall(r"^Requires-Dist: (polysource[a-z-]*)(.*)$", metadata, re.M)
            for sibling, spec in siblings:  # a release line, never any version
                assert re.match(r"(\[[a-z,]+\])?<\d+\.\d+,>=\d", spec), (name, sibling, spec)
            assert f"{stem}.dist-info/licenses/LICENSE" in archive.namelist(), name
            assert any(n.endswith("/py.typed") for n in archive.namelist()), name
        with tarfile.open(dist / f"{stem}.tar.gz") as sdist:
            assert f"{stem}/LICENSE" in sdist.getnames(), name


def test_polysource_plugins_lists_wheel_installed_plugins(venv):
    """polysource plugins, in the fresh venv, lists Tiingo and the tutorial plugin as ok."""
    run = _run(venv / "bin" / "polysource", "plugins", cwd=venv.parent)
    for distribution in ("polysource-tiingo", "polysource-coingecko"):
        assert distribution in run.stdout
    assert "broken" not in run.stdout


def test_wheel_installed_plugin_passes_its_conformance_tests(venv, tmp_path):
    """Tiingo's conformance tests pass against the wheel-installed plugin, not the source tree."""
    for name in ("conftest.py", "test_conformance.py"):
        shutil.copy(TIINGO_TESTS / name, tmp_path)
    (tmp_path / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    python = venv / "bin" / "python"
    where = _run(
        python, "-c", "import polysource_tiingo; print(polysource_tiingo.__file__)", cwd=tmp_path
    )
    assert Path(where.stdout.strip()).is_relative_to(venv)
    run = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    assert re.search(r"\d+ passed", run.stdout) and "failed" not in run.stdout


def test_tutorial_plugin_wheel_passes_the_testing_howto_recipe(venv, tmp_path):
    """The tutorial plugin, built from the tutorial's pyproject, passes the how-to's recipe."""
    (tmp_path / "test_recipe.py").write_text(
        _python_block(DOCS / "howto" / "testing.md"), encoding="utf-8"
    )
    run = _run(
        venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path
    )
    assert re.search(r"\d+ passed", run.stdout) and "failed" not in run.stdout
