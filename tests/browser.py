"""Helpers for tests that use a real browser (headless Chromium through selenium) or a
real ``ktui serve`` process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, child_env

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER_PATHS = ("/usr/bin/chromedriver",)


def _first(paths: tuple[str, ...], name: str) -> str | None:
    for path in paths:
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


def chromium_or_skip() -> tuple[str, str]:
    """Chromium and chromedriver, or skip the test saying what to install."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install 'ktui[test]')")
    browser = _first(CHROMIUM_PATHS, "chromium")
    driver = _first(CHROMEDRIVER_PATHS, "chromedriver")
    if browser is None or driver is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt-get install chromium chromium-driver)"
        )
    return browser, driver


@contextmanager
def chromium(width: int = 1200, height: int = 800, *, text_dom: bool = False) -> Iterator[Any]:
    """A headless Chromium driven by selenium.

    ``text_dom`` switches WebGL off, so the terminal in a served page (xterm.js) falls
    back to drawing its rows as DOM text that the test can read.
    """
    browser, driver_path = chromium_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    if text_dom:
        options.add_argument("--disable-3d-apis")
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class Served:
    """A running ``ktui serve`` child."""

    process: subprocess.Popen[str]
    url: str
    banner: str

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.url.split("/?", 1)[0]

    @property
    def token(self) -> str:
        """The token of the printed URL."""
        return self.url.rsplit("token=", 1)[1]


_URL = re.compile(r"(http://\S+/\?token=\S+)")


@contextmanager
def serving(*args: str, timeout: float = 30.0) -> Iterator[Served]:
    """Run ``ktui ARGS`` (``serve ...``) until it prints its URL; stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ktui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        banner = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            banner += line
            match = _URL.search(line)
            if match:
                yield Served(process, match.group(1), banner)
                return
        _, err = process.communicate(timeout=5)
        raise AssertionError(f"ktui serve printed no URL: {banner!r} {err!r}")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def screen_text(driver: Any) -> str:
    """The served terminal's text, row by row (needs ``chromium(text_dom=True)``)."""
    text = driver.execute_script(
        "const rows = document.querySelector('.xterm-rows'); return rows ? rows.innerText : ''"
    )
    return str(text or "").replace("\u00a0", " ")


def wait_for_text(driver: Any, wanted: str, timeout: float) -> str:
    """Wait until the served terminal shows ``wanted``; returns the screen's text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen_text(driver)
        if wanted in text:
            return text
        time.sleep(0.25)
    raise AssertionError(f"{wanted!r} did not appear in {timeout:.0f} s; the screen:\n{text}")


def repo_path(*parts: str) -> Path:
    """A path in this repository."""
    return REPO_ROOT.joinpath(*parts)
