"""What anyone sees in the Temporal Web UI, checked in a real (headless) browser.

The session's dev server runs headless, so this module starts its own, with the UI,
on free ports (under `make test-cluster`: the cluster's Web UI server). Needs Debian's
chromium (`apt-get install -y chromium`); Playwright drives it directly, no
`playwright install`.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
import pytest_asyncio
from temporalio.client import Client

from devtools.devserver import start_dev_command
from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.store import Store
from partnerships.adapters.web_ui import COLUMNS_TO_ADD, COLUMNS_TO_REMOVE, PORTFOLIO_VIEW, saved_view_url
from partnerships.domain.charter import Charter
from partnerships.domain.gates import Outcome, Rag
from partnerships.domain.lifecycle import ExitRequest, Step, TimeScale
from partnerships.engine.converter import DATA_CONVERTER
from tests.helpers import (
    CLUSTER_ADDRESS,
    US,
    act,
    at,
    decide,
    example_charter,
    reach_walk_review,
    recommit_both,
    record_pilots,
    record_scorecard,
    running_worker,
    sign_both,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

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
# Slow enough that a partnership driven into Run stays there (a quarter is 13 s, then a
# review window of about 4 s) while the browser reads the list, fast enough to get there.
TO_RUN = TimeScale(seconds_per_week=1)
UI_TIMEOUT_MS = 20_000
# `make test-cluster` sets it beside the cluster's address.
CLUSTER_UI_URL = os.environ.get("PARTNERSHIPS_TEST_TEMPORAL_UI_URL") if CLUSTER_ADDRESS else None

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
async def server_with_ui(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[ServerWithUi]:
    if CLUSTER_UI_URL is not None:
        # `make test-cluster`: the cluster's own Web UI server, on SQL visibility.
        yield ServerWithUi(request.getfixturevalue("env").client, CLUSTER_UI_URL)
        return
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
                complete = current.get_by_text("the evidence is complete; the Crawl gate review opens", exact=False)
                await expect(complete).to_be_visible()
                static_details = page.locator("iframe").nth(1).content_frame
                await expect(static_details.get_by_text("time to first dashboard").first).to_be_visible()
                await page.screenshot(path=SCREENSHOTS / "partnership-current-details.png", full_page=True)
            finally:
                await browser.close()


# The list as the UI draws it: a row per workflow, a cell per configured column.
ROW = "workflows-summary-configurable-table-row"
CELL = "workflows-summary-table-body-cell"
HEADER_CELLS = '[data-testid^="workflows-summary-table-header-cell-"]'
RUNNING = re.compile(r"^\s*Running\s*$")
# A date as the UI prints it ("2026-12-24 UTC 10:00:00.00", in the time zone the person chose).
A_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} ")


def _row(page: Page, workflow_id: str) -> Locator:
    return page.get_by_test_id(ROW).filter(has=page.get_by_role("link", name=workflow_id, exact=True))


def _reads(
    charter: Charter,
    phase: str,
    step: str,
    *,
    rag: str = "",
    deadline: str | re.Pattern[str] = A_DATE,
    scale: TimeScale = STILL,
) -> list[str | re.Pattern[str]]:
    """The row's cells under the columns the README has a person set up, in order."""
    return [
        RUNNING,
        charter.workflow_id,
        phase,
        step,
        charter.partner.name,
        str(int(charter.tier)),
        rag,
        deadline,
        scale.describe(),
    ]


async def _reload_until(page: Page, check: Callable[[int], Awaitable[None]]) -> None:
    """The list shows what visibility held when the page loaded, and visibility is eventually
    consistent: reload until the check passes (each try waits up to 2 s, the last the default)."""
    for _ in range(20):
        try:
            await check(2_000)
            return
        except AssertionError:
            await page.reload()
    await check(UI_TIMEOUT_MS)


async def test_the_workflows_list_shows_each_partnerships_phase_step_partner_tier_and_rag(
    server_with_ui: ServerWithUi, settings: Settings, store: Store
) -> None:
    """A person opens the portfolio view `make server` prints, adds the columns the README names
    by clicking, and reads every partnership where it stands without opening one."""
    from playwright.async_api import async_playwright, expect

    client = server_with_ui.client
    prefix = f"List {uuid.uuid4().hex[:6]}"
    signing = example_charter(partner__name=f"{prefix} Alpha", tier=1)
    crawling = example_charter(partner__name=f"{prefix} Bravo", tier=2)
    exited = example_charter(partner__name=f"{prefix} Charlie", tier=3)
    running = example_charter(partner__name=f"{prefix} Delta", tier=3)

    async def into_run_and_red() -> None:
        await start(client, settings, running, TO_RUN)
        await reach_walk_review(client, running.slug)
        await decide(client, running.slug, Outcome.GO)
        await recommit_both(client, running.slug)
        await wait_for(client, running.slug, at("run", Step.UNDERWAY))
        await record_scorecard(client, running.slug, Rag.RED)

    async with running_worker(client, settings, store):
        # Crawl and Walk take 12 s before Run: under way while the others are set up and read.
        to_run = asyncio.create_task(into_run_and_red())
        try:
            for charter in (signing, crawling, exited):
                await start(client, settings, charter, STILL)
            await sign_both(client, crawling.slug)
            await wait_for(client, crawling.slug, at("crawl", Step.UNDERWAY))
            await sign_both(client, exited.slug)
            await act(client, exited.slug, PartnershipWorkflow.exit, ExitRequest(by=US, reason="priorities changed"))
            # Ended, but running while its exit tasks are open: the list must not show it like one at work.
            await wait_for(client, exited.slug, at("exited", Step.WINDING_DOWN))

            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 1440, "height": 1000})
                    page.set_default_timeout(UI_TIMEOUT_MS)
                    # The link `make server` prints: it saves the portfolio view in this browser and opens it.
                    await page.goto(saved_view_url(server_with_ui.ui_url, "default"))
                    await expect(page.get_by_role("button", name=PORTFOLIO_VIEW, exact=True)).to_be_visible()

                    async def listed(timeout: int) -> None:
                        await expect(_row(page, exited.workflow_id)).to_be_visible(timeout=timeout)

                    await _reload_until(page, listed)

                    # The README's clicks: the gear below the list, then remove and add columns.
                    await page.get_by_test_id("workflows-summary-table-configuration-button").click()
                    for label in COLUMNS_TO_REMOVE:
                        await page.get_by_role("button", name=f"Remove {label} column", exact=True).click()
                    for label in COLUMNS_TO_ADD:
                        await page.get_by_role("button", name=f"Add {label} column", exact=True).click()
                    await page.get_by_role("button", name="Close Workflows Table configuration").click()
                    await expect(page.locator(HEADER_CELLS)).to_have_text(["Status", "Workflow ID", *COLUMNS_TO_ADD])

                    rows = {
                        signing.workflow_id: _reads(signing, "charter", "signing"),
                        crawling.workflow_id: _reads(crawling, "crawl", "underway"),
                        exited.workflow_id: _reads(exited, "exited", "winding-down", deadline=""),
                    }

                    async def every_row_reads(timeout: int) -> None:
                        for workflow_id, cells in rows.items():
                            await expect(_row(page, workflow_id).get_by_test_id(CELL)).to_have_text(
                                cells, timeout=timeout
                            )

                    await _reload_until(page, every_row_reads)

                    await to_run
                    rows[running.workflow_id] = _reads(running, "run", "underway", rag=Rag.RED.value, scale=TO_RUN)
                    # The columns stay in this browser across reloads: one page, every partnership.
                    await _reload_until(page, every_row_reads)
                    await page.screenshot(path=SCREENSHOTS / "portfolio-list-columns.png", full_page=True)
                finally:
                    await browser.close()
        finally:
            to_run.cancel()
