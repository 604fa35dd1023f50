"""Every distribution of the workspace carries the metadata a package index needs, kept equal."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
EXTENSIONS = sorted(
    p.parent
    for p in [*ROOT.glob("plugins/*/pyproject.toml"), *ROOT.glob("contrib/*/pyproject.toml")]
    if not p.parent.name.startswith("_")
)
DIRS = [CORE, *EXTENSIONS]
REQUIRED_CLASSIFIERS = {
    "Framework :: AsyncIO",
    "Typing :: Typed",
    "Programming Language :: Python :: 3 :: Only",
}


def _project(directory: Path) -> dict[str, Any]:
    with (directory / "pyproject.toml").open("rb") as fh:
        project: dict[str, Any] = tomllib.load(fh)["project"]
    return project


VERSION: str = _project(CORE)["version"]


def _compatible_range(version: str) -> str:
    """The dependency range of a release line: this version up to the next minor release."""
    major, minor, _ = (int(part) for part in version.split("."))
    return f">={version},<{major}.{minor + 1}"


def _ids(directories: list[Path]) -> list[str]:
    return [d.name for d in directories]


def test_workspace_has_distributions():
    """The scan finds core, the provider plugins and the contrib integrations."""
    names = {_project(d)["name"] for d in DIRS}
    assert {"polysource", "polysource-tiingo", "polysource-redis"} <= names


@pytest.mark.parametrize("directory", DIRS, ids=_ids(DIRS))
def test_distribution_version_is_the_workspace_version(directory):
    """Every distribution is released at core's version, so one number names a release."""
    assert _project(directory)["version"] == VERSION


@pytest.mark.parametrize("directory", DIRS, ids=_ids(DIRS))
def test_distribution_declares_its_license(directory):
    """Every distribution states its licence as an SPDX expression and ships the LICENSE text."""
    project = _project(directory)
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (directory / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))


@pytest.mark.parametrize("directory", DIRS, ids=_ids(DIRS))
def test_distribution_describes_itself(directory):
    """Every distribution has a readme, a description, keywords and the shared classifiers."""
    project = _project(directory)
    readme = (directory / project["readme"]).read_text(encoding="utf-8")
    relative_links = re.findall(r"\]\((?!https://|#)[^)]*\)", readme)
    assert not relative_links, "a package index cannot resolve links relative to the repository"
    assert project["description"].strip()
    assert project["keywords"]
    classifiers = set(project["classifiers"])
    assert classifiers >= REQUIRED_CLASSIFIERS
    assert project["requires-python"] == ">=3.11"
    assert "Programming Language :: Python :: 3.11" in classifiers
    for url in project.get("urls", {}).values():
        assert url.startswith("https://")


@pytest.mark.parametrize("directory", EXTENSIONS, ids=_ids(EXTENSIONS))
def test_plugin_depends_on_the_core_release_line(directory):
    """A plugin requires polysource from its own version up to the next minor release."""
    requirements = _project(directory)["dependencies"]
    on_core = [r for r in requirements if re.match(r"polysource\b(?!-)", r)]
    assert on_core == [f"polysource{_compatible_range(VERSION)}"]


def test_core_extras_pin_sibling_releases():
    """Core's extras name each first-party distribution within the workspace's release line."""
    extras: dict[str, list[str]] = _project(CORE)["optional-dependencies"]
    siblings = {_project(d)["name"] for d in EXTENSIONS}
    named: set[str] = set()
    for requirements in extras.values():
        for requirement in requirements:
            name = re.match(r"[A-Za-z0-9_.-]+", requirement)
            assert name is not None
            if name.group() in siblings:
                assert requirement == f"{name.group()}{_compatible_range(VERSION)}"
                named.add(name.group())
    assert named == siblings


def test_mypy_checks_every_distribution_and_the_typing_module():
    """CI's strict mypy run covers core, every plugin and contrib package and tests/typing."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        mypy = tomllib.load(fh)["tool"]["mypy"]
    assert mypy["strict"] is True
    checked = {ROOT / path for pattern in mypy["files"] for path in ROOT.glob(pattern)}
    for directory in EXTENSIONS:
        assert directory / "src" in checked, directory.name
    assert {CORE / "src" / "polysource", ROOT / "tests" / "typing"} <= checked


def test_changelog_has_a_section_for_the_workspace_version():
    """docs/changelog.md has a section for the version being released, or an Unreleased one."""
    changelog = (ROOT / "docs" / "changelog.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
    assert headings[0] in {"Unreleased", VERSION}
    assert VERSION in headings or "Unreleased" in headings
