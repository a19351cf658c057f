"""The pages in a real browser: Debian's headless Chromium against uvicorn on a free port.

Checks the DOM Chromium built (after parsing, CSS and scripts), not the HTML we sent, and saves
screenshots to ``test-artifacts/``. Chromium is a system package (``make setup`` installs it);
without it these tests fail with the install command rather than skip silently.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.demo.catalog import ORANGES, PORK, RICE, Product
from chain.artifacts import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    binary = CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")
    if not binary:
        pytest.fail(
            "chromium is not installed: apt-get install -y --no-install-recommends chromium"
        )
    profile = tmp_path_factory.mktemp("chromium-profile")
    yield [
        str(binary),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
    ]


def browse(command: list[str], *args: str) -> str:
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_provenance_page_in_chromium(chromium: list[str], live_server: str) -> None:
    url = f"{live_server}/01/{RICE.gtin14}/10/{RICE.lot}?lang=zh"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "provenance-rice.png"
    shot.unlink(missing_ok=True)
    dom = browse(chromium, "--window-size=420,2200", "--dump-dom", f"--screenshot={shot}", url)
    assert "五常大米" in dom
    events = re.findall(r'<li class="event step-[a-z_]+"', dom)
    assert len(events) >= 6
    badges = re.findall(r'data-verification="(\w+)"', dom)
    assert badges and set(badges) == {"verified"}
    assert '<form class="join"' in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.parametrize("product", [PORK, ORANGES], ids=lambda p: p.key)
def test_breach_and_recall_pages_in_chromium(
    chromium: list[str], live_server: str, product: Product
) -> None:
    url = f"{live_server}/01/{product.gtin14}/10/{product.lot}?lang=en"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"provenance-{product.key}.png"
    shot.unlink(missing_ok=True)
    dom = browse(chromium, "--window-size=420,2000", "--dump-dom", f"--screenshot={shot}", url)
    if product is PORK:
        assert 'class="reading breach"' in dom and "Temperature breach" in dom
    else:
        assert 'id="recall-banner"' in dom and "This batch has been recalled" in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dashboard_in_chromium(chromium: list[str], live_server: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    url = f"{live_server}/dashboard?lang=en"
    dom = browse(chromium, "--window-size=1000,1200", "--dump-dom", f"--screenshot={shot}", url)
    assert '<svg class="chart donut"' in dom and 'id="flagged"' in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
