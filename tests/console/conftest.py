"""The console in Debian's Chromium, driven by Playwright, on a real station subprocess.

The station fixtures (``start_station``, ``orthanc``, ``generator`` on a pty, ``helpers``)
are the station suite's, loaded from tests/station/conftest.py; the worklist is dcmtk's
``wlmscpfs`` (``worklist_scp`` in tests/conftest.py). Playwright's own browser download
does not work offline: the browser is ``/usr/bin/chromium`` (Debian), a peer like the
others (``require_peer``: the test fails under ``PANELGATE_REQUIRE_PEERS=1`` when it is
missing). Screenshots go to ``$PANELGATE_ARTIFACTS`` (default: the test's tmp_path).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
UI_TIMEOUT_MS = 60_000  # 2 cores shared by several suites: generous, never a timing check


def _load_station_fixtures() -> Any:
    path = Path(__file__).resolve().parents[1] / "station" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_console_station_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while made
    spec.loader.exec_module(module)
    return module


_station = _load_station_fixtures()
orthanc = _station.orthanc
generator = _station.generator
start_station = _station.start_station
helpers = _station.helpers


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where this test's screenshots go: ``$PANELGATE_ARTIFACTS`` or its tmp_path."""
    root = os.environ.get("PANELGATE_ARTIFACTS")
    folder = Path(root) if root else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(require_peer: Callable[[str], str]) -> Iterator[Any]:
    """Debian's Chromium, headless (Playwright gives it an empty temporary profile)."""
    exe = require_peer("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """A console page open on a station, with the steps the tests take."""

    def __init__(self, page: Any, url: str, artifacts: Path, prefix: str) -> None:
        self.page = page
        self.url = url
        self.artifacts = artifacts
        self.prefix = prefix
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.set_default_timeout(UI_TIMEOUT_MS)

    def open(self, path: str = "/") -> Console:
        self.page.goto(self.url + path)
        self.page.wait_for_selector("#stream:text('live')")
        return self

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def wait_text(self, selector: str, pattern: str) -> None:
        """Wait until the element's text matches ``pattern`` (a regular expression)."""
        self.page.wait_for_function(
            "([sel, pat]) => { const e = document.querySelector(sel);"
            " return !!e && new RegExp(pat).test(e.textContent); }",
            arg=[selector, pattern],
        )

    def manual_patient(self, name: str, pid: str, birth: str = "", sex: str = "") -> None:
        self.page.click("#manual summary")
        self.page.fill("#m-name", name)
        self.page.fill("#m-id", pid)
        if birth:
            self.page.fill("#m-birth_date", birth)
        if sex:
            self.page.select_option("#m-sex", sex)
        self.page.wait_for_selector("#manual-use:not([disabled])")
        self.page.click("#manual-use")

    def protocol(self, name: str) -> None:
        self.page.wait_for_selector(f"#protocol option[value='{name}']", state="attached")
        self.page.select_option("#protocol", name)

    def prepare(self) -> None:
        self.page.click("#prepare")
        self.page.wait_for_selector("#expose:not([disabled])")

    def expose(self) -> str:
        """Press Expose; return the SOP Instance UID once its preview is painted."""
        before = self.page.evaluate("window.pgPreviewPainted ? window.pgPreviewPainted.uid : ''")
        self.page.click("#expose")
        self.page.wait_for_function(
            "(before) => window.pgPreviewPainted && window.pgPreviewPainted.uid !== before",
            arg=before,
        )
        uid = str(self.page.evaluate("window.pgPreviewPainted.uid"))
        assert re.fullmatch(r"[0-9.]+", uid), uid
        return uid


@pytest.fixture
def open_console(browser: Any, artifacts: Path, request: pytest.FixtureRequest) -> Any:
    """``open_console(url)`` opens the console at 1280x800 in a fresh browser context."""
    contexts: list[Any] = []

    def open_(url: str, path: str = "/") -> Console:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        return Console(context.new_page(), url, artifacts, request.node.name).open(path)

    yield open_
    for context in contexts:
        context.close()
