"""What anyone sees in the Temporal Web UI, checked in a real (headless) browser.

The session's dev server runs headless, so this module starts its own, with the UI,
on free ports. Needs Debian's chromium (`apt-get install -y chromium`); Playwright
drives it directly, no `playwright install`.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from temporalio.client import Client

from devtools.devserver import start_dev_command
from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.store import Store
from partnerships.domain.lifecycle import Step, TimeScale
from partnerships.engine.converter import DATA_CONVERTER
from tests.helpers import at, example_charter, record_pilots, running_worker, sign_both, start, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
# A partnership stays where it is put for the whole test.
STILL = TimeScale(seconds_per_week=3600)
UI_TIMEOUT_MS = 20_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium"
)


@dataclass
class ServerWithUi:
    client: Client
    ui_url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server_with_ui(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerWithUi]:
    port, ui_port = _free_port(), _free_port()
    db_file = tmp_path_factory.mktemp("temporal-ui") / "temporal.db"
    process = subprocess.Popen(
        start_dev_command(db_file, port=port, ui_port=ui_port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:
            try:
                client = await Client.connect(f"127.0.0.1:{port}", data_converter=DATA_CONVERTER)
                break
            except RuntimeError:
                if loop.time() > deadline or process.poll() is not None:
                    raise
                await asyncio.sleep(0.25)
        ui_url = f"http://127.0.0.1:{ui_port}"
        while True:
            try:
                await asyncio.to_thread(urllib.request.urlopen, ui_url, timeout=2)
                break
            except OSError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.25)
        yield ServerWithUi(client, ui_url)
    finally:
        process.terminate()
        process.wait(timeout=15)


async def test_a_partnership_in_crawl_is_found_by_its_search_attributes_and_shows_where_it_stands(
    server_with_ui: ServerWithUi, settings: Settings, store: Store
) -> None:
    from playwright.async_api import async_playwright, expect

    client = server_with_ui.client
    partner = f"Webui {uuid.uuid4().hex[:8]}"
    charter = example_charter(partner__name=partner)
    async with running_worker(client, settings, store):
        await start(client, settings, charter, STILL)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        query = f'PartnershipPhase="crawl" AND Partner="{partner}"'
        list_url = f"{server_with_ui.ui_url}/namespaces/default/workflows?query={quote(query)}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1440, "height": 1000})
                page.set_default_timeout(UI_TIMEOUT_MS)
                # Visibility is eventually consistent: reload until the row is there.
                for _ in range(20):
                    await page.goto(list_url)
                    link = page.get_by_role("link", name=charter.workflow_id)
                    try:
                        await expect(link.first).to_be_visible(timeout=2_000)
                        break
                    except AssertionError:
                        continue
                await expect(link.first).to_be_visible()
                await page.screenshot(path=SCREENSHOTS / "portfolio-query-crawl.png", full_page=True)

                await page.goto(f"{server_with_ui.ui_url}/namespaces/default/workflows/{charter.workflow_id}")
                await expect(page.get_by_text(f"{partner} — tier 2 technology partnership").first).to_be_visible()
                # Current details come from the running workflow (a query the UI sends to the worker).
                await page.get_by_role("tab", name="User Metadata").click()
                await expect(page.get_by_role("heading", name="Current Details")).to_be_visible()
                # The UI renders each Markdown block in its own sandboxed iframe; current details come last.
                current = page.locator("iframe").last.content_frame
                await expect(current.get_by_text(f"{partner} — Crawl (underway)")).to_be_visible()
                await expect(current.get_by_text("pilot results before the gate review")).to_be_visible()
                static_details = page.locator("iframe").nth(1).content_frame
                await expect(static_details.get_by_text("time to first dashboard").first).to_be_visible()
                await page.screenshot(path=SCREENSHOTS / "partnership-current-details.png", full_page=True)
            finally:
                await browser.close()
