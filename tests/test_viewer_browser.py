"""The viewer in a real browser: Debian's Chromium, driven through its chromedriver by Selenium, against the
service under gunicorn (two workers, so the sign-in cookie must hold on either).

`make test` installs chromium and chromium-driver when they are missing (`make browser`). The test saves
two screenshots, the search results and a conversation, into VIEWER_SCREENSHOTS when that is set (`make
screenshots` writes the README's), else into the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_client import HTTPClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from viewer_helpers import SCRIPT_TEXT, SEARCH_WORD, TOOL_INPUT, store_conversation

from helpers import SESSIONS
from key_helpers import bearer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_SECONDS = 20
# Chromium as root, headless, with nothing that reaches past 127.0.0.1 (its background services would).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a profile of its own, closed after the test."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    assert not missing, f"{missing} not found: `make browser` installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: webdriver.Chrome, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("VIEWER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert driver.save_screenshot(str(path)), path
    return path


def _wait_for(driver: webdriver.Chrome, css: str):
    return WebDriverWait(driver, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def test_sign_in_search_open_a_conversation_and_sign_out(browser, keyless_server, keys, clean_db, tmp_path):
    team_a, team_b = keys["team-a"][1], keys["team-b"][1]
    base = keyless_server.url
    with HTTPClient(base) as http:
        store_conversation(http, "trip-planning", agent_id="travel-agent", headers=bearer(team_a))
        for other in ("weekly-report", "support-ticket-1182"):
            assert http.post(SESSIONS, json={"session_id": other}, headers=bearer(team_a)).status_code == 201
        store_conversation(http, "team-b-private", headers=bearer(team_b))

    browser.get(f"{base}/ui/")
    _wait_for(browser, "#key").send_keys(team_a)
    browser.find_element(By.ID, "sign-in").click()
    assert _wait_for(browser, "#namespace").text == "namespace team-a"

    search = browser.find_element(By.ID, "q")
    search.send_keys(SEARCH_WORD)
    browser.find_element(By.ID, "search").click()
    found = [
        link.text
        for link in WebDriverWait(browser, WAIT_SECONDS).until(
            lambda driver: driver.find_elements(By.CSS_SELECTOR, "#sessions .session-link")
        )
    ]
    assert found == ["trip-planning"]
    _screenshot(browser, tmp_path, "viewer-search.png")

    browser.find_element(By.LINK_TEXT, "trip-planning").click()
    _wait_for(browser, ".agent-link").click()
    tool_call = _wait_for(browser, ".tool-use")
    assert "get_weather" in tool_call.text and TOOL_INPUT["city"] in tool_call.text
    image = browser.find_element(By.CSS_SELECTOR, ".image img")
    assert image.get_property("naturalWidth") == 160 and image.get_property("complete") is True
    # The message holding a <script> shows it as text, and nothing ran.
    assert SCRIPT_TEXT in browser.find_element(By.ID, "m-0").text
    assert browser.title.startswith("travel-agent · trip-planning")
    # Tall enough to show the conversation from the question to the image.
    browser.set_window_size(1280, 1500)
    _screenshot(browser, tmp_path, "viewer-conversation.png")

    browser.get(f"{base}/ui/sessions/team-b-private")
    assert "session not found" in _wait_for(browser, "#error-message").text
    browser.get(f"{base}/ui/sessions/team-b-private/agents/a")
    assert "not found" in _wait_for(browser, "#error-message").text

    browser.get(f"{base}/ui/")
    _wait_for(browser, "#sign-out").click()
    _wait_for(browser, "#key")
    browser.get(f"{base}/ui/")
    assert browser.current_url.endswith("/ui/sign-in") and browser.find_elements(By.ID, "key")
