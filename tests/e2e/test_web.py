"""The web app in a real browser: Playwright (web/e2e) drives Debian's chromium
against the whole system as ``make dev`` starts it, which serves the app it built.

Each test runs one Playwright spec. Screenshots of the key pages, at desktop and
phone size, are saved under ``web/test-results/screenshots`` (not committed); every
page is checked with axe-core for serious WCAG 2.2 A/AA violations."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import running_system
from tests.integration.harness import DevSystem

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SCREENSHOTS = WEB / "test-results" / "screenshots"
DEMO_CONCERT = "f1cd78f9-ae72-5ed2-9a98-ad0628b178ae"


def need(what: str, found: str | None, how: str) -> str:
    """``found``, or a failure on CI and a skip elsewhere."""
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed ({how})")
    pytest.skip(f"{what} is not installed: {how}")


@pytest.fixture(scope="module")
def browser() -> str:
    need("npm", shutil.which("npm"), "Node.js 20.19+")
    playwright = WEB / "node_modules" / ".bin" / "playwright"
    need("Playwright", str(playwright) if playwright.exists() else None, "make web-install")
    return need(
        "chromium",
        shutil.which("chromium") or shutil.which("chromium-browser"),
        "apt-get install chromium",
    )


@pytest.fixture(scope="module")
async def system(
    browser: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DevSystem]:
    async with running_system(
        tmp_path_factory.mktemp("web"),
        # The hold-expiry test watches a whole hold run out.
        HOLD_TTL_SECONDS="20",
        # Every browser context is the same client IP here.
        RATE_LIMIT_PER_MINUTE="2000",
        PUBLIC_BOOKING_RATE_LIMIT_PER_MINUTE="100",
    ) as system:
        yield system


async def playwright(system: DevSystem, browser: str, spec: str, tmp_path: Path) -> str:
    printed = re.search(r"demo admin +(\S+) +password (\S+)", system.log_path.read_text())
    assert printed is not None, "make dev prints the new admin's password once"
    env = {
        **os.environ,
        "BASE_URL": f"http://localhost:{system.ports['gateway']}",
        "ADMIN_EMAIL": printed.group(1),
        "ADMIN_PASSWORD": printed.group(2),
        "EVENT_ID": DEMO_CONCERT,
        "CHROMIUM": browser,
        "SCREENSHOT_DIR": str(SCREENSHOTS),
        "PLAYWRIGHT_OUTPUT_DIR": str(tmp_path / "playwright"),
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [str(WEB / "node_modules" / ".bin" / "playwright"), "test", f"e2e/{spec}"],
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"\b[1-9]\d* passed\b", output) and " failed" not in output, output
    return output


async def test_an_admin_watches_a_guest_book_and_cancel_live(
    system: DevSystem, browser: str, tmp_path: Path
) -> None:
    await playwright(system, browser, "booking.spec.ts", tmp_path)
    for page in ("admin-dashboard", "booking-page", "booking-confirmed", "manage-cancelled"):
        for size in ("desktop", "phone"):
            assert (SCREENSHOTS / f"{page}-{size}.png").stat().st_size > 0


async def test_a_seat_hold_expires_on_screen_and_a_paid_one_confirms(
    system: DevSystem, browser: str, tmp_path: Path
) -> None:
    output = await playwright(system, browser, "tickets.spec.ts", tmp_path)
    assert "2 passed" in output
    assert (SCREENSHOTS / "seat-map-phone.png").stat().st_size > 0


async def test_every_admin_page_is_usable_and_accessible(
    system: DevSystem, browser: str, tmp_path: Path
) -> None:
    output = await playwright(system, browser, "admin.spec.ts", tmp_path)
    assert "3 passed" in output
    assert (SCREENSHOTS / "admin-audit-desktop.png").stat().st_size > 0
