"""The web page in a real headless Chromium (Debian's, driven by Playwright): pick an image, read the text and
confidence off the page; an unreadable file shows the server's message."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.serving import running_server
from textrec.serve.app import create_app
from textrec.serve.settings import ServeSettings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def page_url():
    with running_server(create_app(ServeSettings())) as url:
        yield url


@pytest.fixture()
def page(page_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()
        tab.goto(page_url + "/")
        yield tab
        browser.close()


def test_pick_an_image_and_read_the_result(page, tmp_path):
    page.set_input_files("#file", str(EXAMPLES / "receipt-total.png"))
    page.wait_for_selector("#result[data-state=done]", timeout=20_000)
    assert page.inner_text("#result") == "TOTAL 12.50"
    assert "confidence" in page.inner_text("#confidence") and "%" in page.inner_text("#confidence")
    assert page.locator(".chars span").count() == len("TOTAL 12.50")
    assert page.is_visible("#preview")
    page.screenshot(path=str(tmp_path / "page.png"))


def test_a_broken_file_shows_the_error(page, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a picture")
    page.set_input_files("#file", str(junk))
    page.wait_for_selector("#result[data-state=error]", timeout=20_000)
    assert "not an image" in page.inner_text("#error")


def test_an_error_after_a_success_leaves_nothing_of_the_old_result(page, tmp_path):
    page.set_input_files("#file", str(EXAMPLES / "receipt-total.png"))
    page.wait_for_selector("#result[data-state=done]", timeout=20_000)
    assert page.locator(".chars span").count() > 0
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a picture")
    page.set_input_files("#file", str(junk))
    page.wait_for_selector("#result[data-state=error]", timeout=20_000)
    assert "not an image" in page.inner_text("#error")
    assert page.inner_text("#result") == "" and page.locator(".chars span").count() == 0
    assert page.locator("#confidence").count() == 0 and page.locator("#boxes polygon").count() == 0


def test_paste_an_image(page):
    """A clipboard paste event carrying a PNG is read like a picked file."""
    data = list((EXAMPLES / "hello.png").read_bytes())
    page.evaluate("""(bytes) => {
        const file = new File([new Uint8Array(bytes)], "pasted.png", {type: "image/png"});
        const data = new DataTransfer(); data.items.add(file);
        document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data}));
    }""", data)
    page.wait_for_selector("#result[data-state=done]", timeout=20_000)
    assert page.inner_text("#result") == "Hello"


def test_a_page_is_shown_with_its_line_boxes(page, tmp_path):
    """Page mode: the server finds the lines and the page draws one box per line over the image."""
    from tests.test_pages import two_column_page

    path = tmp_path / "columns.png"
    two_column_page().save(path)
    page.select_option("#mode", "page")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#result[data-state=done]", timeout=60_000)
    assert page.get_attribute("#result", "data-mode") == "page"
    assert page.locator("#boxes polygon").count() == 8
    assert "quick brown" in page.inner_text("#result")
    box = page.locator("#boxes polygon").first.bounding_box()
    assert box is not None and box["width"] > 20  # drawn over the image, at its displayed scale
    page.screenshot(path=str(tmp_path / "page-mode.png"))


def test_api_docs_render_with_no_network_beyond_the_server(page_url):
    """/docs uses the Swagger UI files shipped in the package: every request outside the server is refused."""
    from playwright.sync_api import sync_playwright

    outside = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()

        def only_local(route):
            if route.request.url.startswith(page_url) or route.request.url.startswith("data:"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        tab.route("**/*", only_local)
        tab.goto(page_url + "/docs")
        tab.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert tab.inner_text(".swagger-ui .info .title").startswith("textrec")
        assert tab.locator(".opblock").count() >= 3  # the operations, read from /openapi.json
        browser.close()
    assert outside == []


def test_a_server_with_a_key_asks_for_it_and_reads_with_it():
    from playwright.sync_api import sync_playwright

    with running_server(create_app(ServeSettings(api_key="s3cret"))) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()
        tab.goto(url + "/")
        tab.wait_for_selector("#keyrow:not([hidden])", timeout=20_000)  # /info answered 401: the key is asked for
        tab.fill("#key", "s3cret")
        tab.dispatch_event("#key", "change")
        tab.set_input_files("#file", str(EXAMPLES / "hello.png"))
        tab.wait_for_selector("#result[data-state=done]", timeout=20_000)
        assert tab.inner_text("#result") == "Hello"
        browser.close()
