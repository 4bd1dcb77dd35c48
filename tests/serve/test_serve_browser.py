"""The explorer's page in headless Chromium (Debian's package, driven by Playwright): the map and
the first decode appear, a slider changes the decoded image, a click on the map decodes that
point, an interpolation draws its strip. A screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Chromium's background connections are refused on a closed network: switch them off
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page(live_url: str):
    if os.environ.get("CI") and not CHROMIUM.is_file():  # .ci/run installs it: a skip hides a bug
        pytest.fail(f"no Chromium at {CHROMIUM} in CI")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(live_url + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        yield page
        browser.close()
        assert not errors, errors


def count(page, canvas: str) -> int:
    return int(page.get_attribute(f"#{canvas}", "data-count"))


def pixels(page, canvas: str) -> str:
    return page.eval_on_selector(f"#{canvas}", "c => c.toDataURL()")


@pytest.mark.slow
def test_page_explores_the_model(page, tmp_path: Path) -> None:
    assert "digits" in page.text_content("#summary")
    assert "PCA projection of the 5-D latent means" in page.text_content("#map-title")
    assert page.locator("#sliders input").count() == 5
    assert page.is_hidden("#label-row")  # an unconditional model has no label picker
    assert page.is_hidden("#error")

    # hovering a point shows its example
    x, y = page.evaluate("() => mapFrame().toPixel(S.map.points[7])")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_function("document.querySelector('#hover').dataset.count > 0")
    assert page.text_content("#hover-text").startswith("test example ")

    # a slider moves: the decoded image changes
    before, n = pixels(page, "decoded"), count(page, "decoded")
    page.eval_on_selector(
        "#sliders input",
        "s => { s.value = 2.5; s.dispatchEvent(new Event('input', {bubbles: true})); }",
    )
    page.wait_for_function(f"document.querySelector('#decoded').dataset.count > {n}")
    assert pixels(page, "decoded") != before
    assert "2.50" in page.text_content("#sliders label")

    # a click on the map decodes that point (and moves the sliders there)
    before, n = pixels(page, "decoded"), count(page, "decoded")
    page.click("#map", position={"x": 60, "y": 470})
    page.wait_for_function(f"document.querySelector('#decoded').dataset.count > {n}")
    assert pixels(page, "decoded") != before
    assert page.input_value("#sliders input") != "2.5"

    # an interpolation between two chosen test examples
    before, n = pixels(page, "strip"), count(page, "strip")
    page.fill("#interp-a", "3")
    page.fill("#interp-b", "42")
    page.fill("#interp-steps", "8")
    page.click("#interp-run")
    page.wait_for_function(f"document.querySelector('#strip').dataset.count > {n}")
    assert pixels(page, "strip") != before

    # a bad request shows its error instead of failing silently
    page.fill("#interp-b", "100000")
    page.click("#interp-run")
    page.wait_for_selector("#error:not([hidden])")
    assert "out of range" in page.text_content("#error")

    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "serve_page.png")
    assert shot.stat().st_size > 10_000
