"""The Dagster UI in a real browser: Playwright drives the system Chromium (never a downloaded
one) against a real `dagster dev` on 127.0.0.1, as a person would: open a chart asset,
materialize it for a partition from the Materialize dialog, follow the run to SUCCESS and find
the new materialization with its inline preview. Screenshots are kept in the test's tmp dir."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from intelli_assets.launch import open_instance
from intelli_assets.rendering.browser import find_chromium
from intelli_assets_tests.servers import dagster_dev as start_dagster_dev
from intelli_assets_tests.servers import graphql
from intelli_assets_tests.waiting import wait_for

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (scripts/install.sh --test)"
)
expect = playwright_api.expect

CHART = "top_patent_countries"
ASSET_PATH = f"/assets/charts/{CHART}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# the renderer's flags: Chromium calls no outside host (the network here is closed anyway)
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# every bound below is a hang guard on a loaded 2-core machine, not a speed check
UI_TIMEOUT_MS = 90_000
RUN_TIMEOUT_S = 300

RUN = """
query Run($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { status assetSelection { path } tags { key value } }
  }
}
"""
RUN_LOG = """
query Log($id: ID!) {
  logsForRun(runId: $id) {
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message }
        ... on EngineEvent { error { message } }
        ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { error { message } }
      }
    }
  }
}
"""
LATEST_MATERIALIZATION = """
query Latest($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        partition
        metadataEntries { label ... on MarkdownMetadataEntry { mdStr } }
      }
    }
  }
}
"""


def assert_png_file(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 10_000, path
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path


@pytest.fixture
def ui_home(tmp_path, monkeypatch) -> Path:
    """A fresh instance home set up as `intelli` does (dagster.yaml, tables, pool limits)."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("INTELLI_ARTIFACTS_DIR", raising=False)
    open_instance().dispose()
    assert (home / "dagster.yaml").is_file()
    return home


@pytest.fixture
def partition(ui_home, sample_workbook) -> str:
    """The sample workbook's partition, registered (and ingested) by one CLI run."""
    intelli = Path(sys.executable).parent / "intelli"
    # the bound is a hang guard: a child process left holding the output pipe would block forever
    ingest = subprocess.run(
        [str(intelli), "run", str(sample_workbook), "--charts", "cpc_treemap", "--json"],
        capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": str(ui_home)}, timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    return json.loads(ingest.stdout)["partition"]


@pytest.fixture
def dagster_dev(ui_home, partition):
    with start_dagster_dev(ui_home) as url:
        yield url


def materialize_from_the_ui(page, url: str, partition: str, shots: Path) -> str:
    """What a person does in the UI; returns the id of the run it launched."""
    # 1. the chart asset's page; it has never been materialized
    page.goto(f"{url}{ASSET_PATH}")
    expect(page.get_by_text("Never materialized")).to_be_visible(timeout=UI_TIMEOUT_MS)

    # 2. Materialize… opens the partition dialog (the asset is partitioned): pick the partition
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog").filter(has_text=f"Launch runs to materialize charts / {CHART}")
    expect(dialog).to_be_visible(timeout=UI_TIMEOUT_MS)
    dialog.get_by_text("Select a partition or create one").click()
    option = page.get_by_role("menuitem", name=partition)
    option.click()
    page.keyboard.press("Escape")  # closes the partition list, not the dialog
    expect(option).to_be_hidden()
    expect(dialog).to_contain_text("1 partition")
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    page.screenshot(path=shots / "1-launch-dialog.png")

    with page.expect_response(lambda r: "op=LaunchPipelineExecution" in r.url) as response:
        launch.click()
    launched = response.value.json()["data"]["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["id"]

    # 3. the run's page (the "Launched run" toast fades after a few seconds: the Runs list is the
    # sure way in); the daemon starts the queued run, and the page follows it to Success
    page.get_by_role("navigation").get_by_role("link", name="Runs").click()
    page.get_by_role("link", name=f"run {run_id[:8]}", exact=True).click()
    expect(page).to_have_url(f"{url}/runs/{run_id}")
    status = wait_for(lambda: run_status(url, run_id), timeout=RUN_TIMEOUT_S, interval=1,
                      message=f"run {run_id} did not finish")
    assert status == "SUCCESS", f"run {run_id} ended {status}:\n{run_log(url, run_id)}"
    expect(page.get_by_text("Success", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.screenshot(path=shots / "2-run-success.png")
    return run_id


def find_the_materialization(page, url: str, partition: str, run_id: str, preview_md: str, shots: Path) -> None:
    """The asset's events show the new materialization and, in its metadata, the preview."""
    # 4. the asset's events: the latest materialization, for the partition, from this run
    page.goto(f"{url}{ASSET_PATH}")
    page.get_by_role("tab", name="Events").click()
    expect(page).to_have_url(re.compile(r"[?&]view=events"))
    detail = page.get_by_text(re.compile(rf"^Partition {re.escape(partition)} materialized in run {run_id[:8]}$"))
    expect(detail).to_be_visible(timeout=UI_TIMEOUT_MS)

    # 5. its preview: the metadata's markdown image, inline as a data: PNG
    page.get_by_role("row").filter(has=page.get_by_text("preview", exact=True)).get_by_text("[Show Markdown]").click()
    image = page.get_by_role("dialog").filter(has_text="preview").locator('img[src^="data:image/png;base64,"]')
    expect(image).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(image).to_have_attribute("alt", CHART)
    wait_for(lambda: image.evaluate("img => img.complete && img.naturalWidth > 0"), timeout=60, interval=0.2,
             message="the preview image did not load")
    src = image.get_attribute("src")
    assert src in preview_md  # the very image of this materialization
    assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_SIGNATURE
    page.screenshot(path=shots / "3-materialization-preview.png")


def run_log(url: str, run_id: str) -> str:
    """The run's event messages and errors, to say why it failed."""
    events = graphql(url, RUN_LOG, {"id": run_id})["logsForRun"].get("events", [])
    lines = [f"{e['__typename']}: {e.get('message', '')}" + (f" | {e['error']['message']}" if e.get("error") else "")
             for e in events]
    return "\n".join(lines[-30:])[-4000:]


def run_status(url: str, run_id: str) -> str | None:
    status = graphql(url, RUN, {"id": run_id})["runOrError"]["status"]
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None


@pytest.mark.slow
def test_materialize_a_chart_from_the_ui_and_see_its_preview(dagster_dev, partition, tmp_path, monkeypatch):
    url = dagster_dev
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # the system Chromium only, never a download
    shots = tmp_path / "screenshots"
    shots.mkdir()
    outside: list[str] = []
    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    # Dagster's one-time "Join the Dagster community" prompt opens 1 s after the first page load
    # on a new instance and can swallow a click: mark it seen first, as its Skip button does
    graphql(url, "mutation { setNuxSeen }")
    assert graphql(url, "{ shouldShowNux }")["shouldShowNux"] is False

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=args, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(UI_TIMEOUT_MS)
            context.set_default_navigation_timeout(UI_TIMEOUT_MS)

            def loopback_only(route):  # the UI must need nothing but the local webserver
                if route.request.url.startswith(f"{url}/"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", loopback_only)
            page = context.new_page()
            page.add_locator_handler(  # should the prompt show up all the same
                page.get_by_role("dialog").filter(has_text="Join the Dagster community"),
                lambda prompt: prompt.get_by_role("button", name="Skip").click(),
            )
            try:
                run_id = materialize_from_the_ui(page, url, partition, shots)

                run = graphql(url, RUN, {"id": run_id})["runOrError"]
                assert run["assetSelection"] == [{"path": ["charts", CHART]}]
                assert {"key": "dagster/partition", "value": partition} in run["tags"]
                latest = graphql(url, LATEST_MATERIALIZATION, {"key": {"path": ["charts", CHART]}})
                (materialization,) = latest["assetOrError"]["assetMaterializations"]
                assert (materialization["runId"], materialization["partition"]) == (run_id, partition)
                preview_md = next(e["mdStr"] for e in materialization["metadataEntries"] if e["label"] == "preview")
                assert "data:image/png;base64," in preview_md

                find_the_materialization(page, url, partition, run_id, preview_md, shots)
            except BaseException:
                with contextlib.suppress(playwright_api.Error):  # what the page showed when it went wrong
                    page.screenshot(path=shots / "failure.png")
                raise
            context.close()
        finally:
            browser.close()

    assert outside == [], f"the UI asked for non-loopback URLs: {outside}"
    for shot in ("1-launch-dialog.png", "2-run-success.png", "3-materialization-preview.png"):
        assert_png_file(shots / shot)
