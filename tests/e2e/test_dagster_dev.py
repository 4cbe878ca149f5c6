"""The platform as users run it: ``dagster dev`` serving the definitions, a partitioned backfill launched
through GraphQL, its runs executed by the daemon, materializations and check results read back through
GraphQL, the servers shut down with no process left behind."""

import contextlib
import os
import time
import urllib.parse

import pytest

from dhs_assets.catalog.partitions import discover_sweep_files
from dhs_core.survey.layout import SurveyLayout
from tests.e2e.browser import chromium_page
from tests.e2e.server import DagsterDev

BACKFILLED = [
    "survey_bricks",
    "sweep_lrgs",
    "brick_lrg_counts",
    "region_bricks",
    "region_metrics",
    "region_selections",
    "known_lenses",
    "parent_sample",
    "source_bank",
    "injection_manifest",
]
pytestmark = pytest.mark.system

REPOSITORY = {"repositoryLocationName": "dhs", "repositoryName": "__repository__"}

ADD_PARTITION = """mutation($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename ... on PythonError { message } ... on UnauthorizedError { message } } }"""
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status numPartitions error { message } } } }"""
ASSETS = """query($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) { assetKey { path }
  partitionStats { numMaterialized numPartitions numFailed }
  assetChecksOrError { __typename ... on AssetChecks { checks { name blocking
    executionForLatestMaterialization { status evaluation { success } } } } } } }"""
MATERIALIZATIONS = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
  ... on Asset { assetMaterializations(limit: 1) { partition runId metadataEntries { label } } } } }"""


DATASET_PARTITIONS = """query { assetNodeOrError(assetKey: {path: ["datasets"]}) { __typename
  ... on AssetNode { partitionKeys } } }"""

GROUPS = ("catalog", "datasets", "manifest", "injection", "diagnostics", "evaluation")
ALL_ASSETS = [
    *BACKFILLED,
    "datasets",
    "injected_stamps",
    "stamp_diagnostics",
    "shortcut_report",
    "anchor_stamps",
]


@pytest.fixture(scope="module")
def server(small_sky, tmp_path_factory):
    """One ``dagster dev`` for the module's tests (the backfill runs first, so the browser sees its results)."""
    folder = tmp_path_factory.mktemp("dagster_dev")
    specs = folder / "data" / "datasets"
    specs.mkdir(parents=True)  # a spec in place before the daemon starts: its sensor registers it
    (specs / "e2e.yaml").write_text("name: e2e\nselection_sets: [topk_density]\nmanifest: {n_galaxies: 40}\n")
    dev = DagsterDev(
        folder / "home",
        {"DHS_DATA_ROOT": str(folder / "data"), "DHS_SURVEY_ROOT": str(small_sky)},
        folder / "dagster_dev.log",
    )
    try:
        dev.loaded_after = dev.start()
        yield dev
    finally:
        dev.stop()
        assert dev.processes() == [], f"processes left behind: {dev.processes()}"


def test_a_backfill_through_graphql_materializes_catalog_and_manifest_with_their_checks(server, small_sky):
    sweeps = list(discover_sweep_files(SurveyLayout(str(small_sky))))
    for key in sweeps:  # what the sweep sensor would do, here through the API
        added = server.graphql(ADD_PARTITION, {"repo": REPOSITORY, "name": "sweep_files", "key": key})[
            "addDynamicPartition"
        ]
        assert added["__typename"] == "AddDynamicPartitionSuccess", added
    deadline, keys = time.monotonic() + 180, []
    while time.monotonic() < deadline and not keys:  # dataset_specs_sensor runs by default, every 30 s
        keys = server.graphql(DATASET_PARTITIONS)["assetNodeOrError"]["partitionKeys"]
        time.sleep(2)
    assert keys == ["e2e"], server.log_path.read_text()[-3000:]
    launched = server.graphql(
        LAUNCH,
        {
            "params": {
                "assetSelection": [{"path": [k]} for k in BACKFILLED],
                "allPartitions": True,
                "title": "e2e: catalog and manifest",
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline, status = time.monotonic() + 900, None
    while time.monotonic() < deadline:
        backfill = server.graphql(STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]
        status = backfill["status"]
        if status not in ("REQUESTED", "CANCELING"):
            break
        time.sleep(3)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (backfill, server.log_path.read_text()[-3000:])

    nodes = {
        "/".join(n["assetKey"]["path"]): n
        for n in server.graphql(ASSETS, {"keys": [{"path": [k]} for k in BACKFILLED]})["assetNodes"]
    }
    assert set(nodes) == set(BACKFILLED)
    expected_partitions = {
        "sweep_lrgs": len(sweeps),
        "region_selections": 12,
        "parent_sample": 3,
        "injection_manifest": 3,  # one dataset x three splits
    }
    for key, node in nodes.items():
        stats = node["partitionStats"]
        if key in expected_partitions:
            assert (
                stats["numMaterialized"] == stats["numPartitions"] == expected_partitions[key]
                and stats["numFailed"] == 0
            ), (key, stats)
        else:
            latest = server.graphql(MATERIALIZATIONS, {"key": {"path": [key]}})["assetOrError"][
                "assetMaterializations"
            ]
            assert latest and {"dagster/row_count", "dagster/column_schema"} & {
                e["label"] for e in latest[0]["metadataEntries"]
            }, key
    checks = {
        c["name"]: c
        for n in nodes.values()
        if n["assetChecksOrError"]["__typename"] == "AssetChecks"
        for c in n["assetChecksOrError"]["checks"]
    }
    assert {
        "sweep_lrgs_valid",
        "splits_disjoint",
        "parent_sample_valid",
        "known_lens_exclusion",
        "bank_templates_valid",
        "manifest_integrity",
        "manifest_controls",
        "manifest_balance",
    } <= set(checks)
    for name, check in checks.items():
        execution = check["executionForLatestMaterialization"]
        assert execution and execution["status"] == "SUCCEEDED" and execution["evaluation"]["success"], (
            name,
            execution,
        )


def test_the_ui_shows_the_asset_graph_in_a_browser(server, tmp_path):
    """Headless Chromium (Debian's package, driven by Playwright) opens the global asset graph with every group
    expanded and finds every dhs asset; the screenshot goes to DHS_UI_SCREENSHOT (``make ui-check``: docs/img)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    expanded = ",".join(f"global@global:{group}" for group in GROUPS)
    screenshot = os.environ.get("DHS_UI_SCREENSHOT", str(tmp_path / "asset_graph.png"))
    with chromium_page(3000, 2000) as page:  # the whole graph at the UI's smallest zoom, or it culls nodes
        start = time.monotonic()
        page.goto(f"{server.url}/asset-groups?expanded={urllib.parse.quote(expanded)}")
        page.get_by_text("Global asset lineage").first.wait_for(timeout=60_000)
        for name in ALL_ASSETS:
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        shown_after = time.monotonic() - start
        # a first-visit newsletter dialog comes a few seconds after the page: dismiss it for the picture
        with contextlib.suppress(PlaywrightTimeout):
            page.get_by_role("button", name="Skip").click(timeout=15_000)
        time.sleep(1)  # let the graph's layout settle before the picture
        os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
        page.screenshot(path=screenshot)
    print(
        f"code location loaded {server.loaded_after:.1f} s after start; asset graph shown {shown_after:.1f} s after navigation; "
        f"screenshot {screenshot}"
    )
    assert os.path.getsize(screenshot) > 10_000
