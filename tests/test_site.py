"""The built documentation site shows what its sources mean: no raw markup leaks through."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from mkdocs.commands.build import build
from mkdocs.config import load_config as load_mkdocs_config

ROOT = Path(__file__).resolve().parents[1]

# A snippet marker left in a page (also the form a code formatter turns it into).
SNIPPET_MARKER = re.compile(r"-{1,2}\s*8\s*<\s*-{1,2}")
# A Sphinx role or literal-block marker (mkdocstrings reads Markdown: `[X][path]`, fences).
SPHINX_MARKUP = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj):\S|[A-Za-z)]::\s*$", re.M)
# A cross-reference that autorefs could not resolve stays in the page as its literal form.
UNRESOLVED_REF = re.compile(r"\]\[[\w.]+\]")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build the site once, as ``mkdocs build --strict`` does, and read every page."""
    site_dir = tmp_path_factory.mktemp("site")
    config = load_mkdocs_config(str(ROOT / "mkdocs.yml"), site_dir=str(site_dir), strict=True)
    build(config)
    return {
        str(page.relative_to(site_dir)): page.read_text(encoding="utf-8")
        for page in site_dir.rglob("*.html")
    }


def _text(page: str) -> str:
    """What a reader sees: the page without tags (code is split into highlighted spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _offenders(site: dict[str, str], pattern: re.Pattern[str]) -> dict[str, list[str]]:
    found = {name: pattern.findall(_text(text)) for name, text in site.items()}
    return {name: hits[:3] for name, hits in found.items() if hits}


def test_site_has_the_tutorial_plugin_code(site: dict[str, str]) -> None:
    """The plugin tutorial shows the example plugin's source, not a marker."""
    page = site["tutorials/writing-a-plugin/index.html"]
    assert "CoinGeckoProvider" in page
    assert "register_providers" in page


def test_site_has_no_unexpanded_snippet_marker(site: dict[str, str]) -> None:
    """Every snippet marker is replaced by the file it names."""
    assert _offenders(site, SNIPPET_MARKER) == {}


def test_site_has_no_unresolved_cross_reference(site: dict[str, str]) -> None:
    """Every ``[text][target]`` reference became a link."""
    assert _offenders(site, UNRESOLVED_REF) == {}


def test_site_has_no_raw_sphinx_markup(site: dict[str, str]) -> None:
    """Docstrings use Markdown cross-references, so no ``:class:`` or ``::`` reaches a page."""
    assert _offenders(site, SPHINX_MARKUP) == {}
