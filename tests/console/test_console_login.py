"""The console behind a login (station ``[[users]]``): the login page, then every change
the page makes carries the session's CSRF token, and one without it is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from panelgate.simulators.generator import SimulatedGenerator
from panelgate.station.auth import hash_password

VIEWPORT = {"width": 1280, "height": 800}


def test_login_then_expose_with_csrf(
    generator: SimulatedGenerator, start_station, helpers, browser: Any, artifacts: Path,
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    config = helpers.config(tmp_path, generator.device_path)
    with config.open("a") as f:
        f.write(f'[[users]]\nname = "tech1"\npassword_hash = "{hash_password("s3cret-pw")}"\n')
    station = start_station(config)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(station.url + "/")
        page.wait_for_url("**/login")
        page.wait_for_selector("#username")
        page.screenshot(path=str(artifacts / "login.png"))
        page.fill("#username", "tech1")
        page.fill("#password", "s3cret-pw")
        page.click("button[type=submit]")
        page.wait_for_selector("#stream:text('live')")
        page.wait_for_selector("#user:not([hidden])")
        assert page.inner_text("#user-name") == "tech1"

        forged = page.evaluate(
            "fetch('/api/abort', {method: 'POST'}).then((r) => r.status)"
        )  # the session cookie alone, without the CSRF token
        assert forged == 403

        page.click("#manual summary")  # the check posts through htmx, with the token
        page.fill("#m-name", "Login^Test")
        page.fill("#m-id", "LG-1")
        page.wait_for_selector("#manual-use:not([disabled])")
        page.click("#manual-use")
        page.click("#prepare")
        page.wait_for_selector("#expose:not([disabled])")
        page.click("#expose")
        page.wait_for_function("window.pgPreviewPainted")
        assert page.is_hidden("#refusal")
        assert generator.model.exposures == 1
    finally:
        context.close()
