"""The report's HTML in a real browser (Debian's headless Chromium driven by Playwright): every image decodes,
every table renders with rows and no 'nan' cell, no console or page error. Both a report made here and every
committed showcase report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.records.store import ResultStore
from tests.test_cli import bench
from tests.test_sweep import HAND_MADE

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOWCASES = sorted((ROOT / "reports" / "showcase").glob("*/report.html"))
# Chromium on a closed network: no background connections, no sandbox as root, no GPU.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's Chromium (apt-get install chromium); "
                                                          ".ci/run installs it")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason='playwright is in the test extra: pip install -e ".[test]"')
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def inspect(browser, page_path: Path) -> dict:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.as_uri(), wait_until="load")
    found = {
        "images": page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])"),
        "tables": page.eval_on_selector_all("table", "els => els.map(t => [t.rows.length, t.getBoundingClientRect().height])"),
        "cells": page.eval_on_selector_all("td", "els => els.map(e => e.textContent.trim())"),
        "headings": page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)"),
        "errors": errors,
    }
    page.close()
    return found


def assert_renders(found: dict) -> None:
    assert not found["errors"], found["errors"]
    assert found["images"], "no image on the page"
    broken = [alt for complete, width, alt in found["images"] if not complete or width == 0]
    assert not broken, f"images that did not decode: {broken}"
    assert found["tables"] and all(rows >= 2 and height > 0 for rows, height in found["tables"]), found["tables"]
    assert not [c for c in found["cells"] if c.lower() == "nan"], "a table shows nan"


def test_a_fresh_report_renders(browser, tmp_path):
    run = tmp_path / "run"
    for record in HAND_MADE:
        ResultStore(run).put(record)
    (run / "sweep.json").write_text(json.dumps({"gate": {"mode": "absolute", "points": 1.0}, "commands": ["x"]}))
    bench("report", run, check_rc=0)
    found = inspect(browser, run / "report" / "report.html")
    assert_renders(found)
    assert "Summary" in found["headings"] and "Per-language degradation" in found["headings"]


@pytest.mark.parametrize("report", SHOWCASES, ids=[p.parent.name for p in SHOWCASES])
def test_committed_showcase_renders(browser, report):
    assert_renders(inspect(browser, report))


def test_a_broken_image_is_caught(browser, tmp_path):
    """The check can fail: a page with an image that does not decode and a script error."""
    page = tmp_path / "broken.html"
    page.write_text('<h2>x</h2><img alt="broken" src="data:image/png;base64,AAAA"><table><tr><td>nan</td></tr>'
                    '</table><script>undefined_function()</script>')
    found = inspect(browser, page)
    with pytest.raises(AssertionError):
        assert_renders(found)
    assert any("undefined_function" in e for e in found["errors"])
    assert found["images"][0][1] == 0
