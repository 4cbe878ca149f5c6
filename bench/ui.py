"""Time from starting the UI (``dagster dev``, as ``make ui`` runs it) to a loaded UI, and the servers' memory,
against a peer: the same servers on a one-asset code location, measured in the same run.

    python bench/ui.py [--repeats 3]

"Loaded" is measured twice: the code location reported LOADED through GraphQL, and the asset graph
page showing every dhs asset in headless Chromium (Debian's package). Memory: the summed resident
memory of every process of the server's group (webserver, daemon, code servers) once loaded.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import save  # noqa: E402

from tests.e2e.server import DagsterDev  # noqa: E402

PEER_CODE = (
    "import dagster as dg\n\n@dg.asset\ndef one():\n    return 1\n\ndefs = dg.Definitions(assets=[one])\n"
)
ASSETS = ("survey_bricks", "sweep_lrgs", "injection_manifest", "injected_stamps", "shortcut_report")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def graph_shown(url: str, names) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 2200, "height": 1100})
            start = time.monotonic()
            expanded = "%2C".join(
                f"global%40global%3A{g}" for g in ("catalog", "manifest", "injection", "diagnostics")
            )
            page.goto(f"{url}/asset-groups?expanded={expanded}")
            for name in names:
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            return time.monotonic() - start
        finally:
            browser.close()


def measure(folder: Path, workspace: Path | None, location: str, names) -> tuple[float, float, float]:
    kwargs = {"workspace": workspace, "location": location} if workspace else {}
    dev = DagsterDev(folder / "home", {"DHS_DATA_ROOT": str(folder / "data")}, folder / "log.txt", **kwargs)
    try:
        loaded = dev.start()
        page = graph_shown(dev.url, names)
        time.sleep(2)
        return loaded, loaded + page, dev.rss_mb()
    finally:
        dev.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = {"dhs": [], "peer": []}
    with tempfile.TemporaryDirectory() as tmp:
        peer_dir = Path(tmp) / "peer"
        peer_dir.mkdir()
        (peer_dir / "one_asset.py").write_text(PEER_CODE)
        (peer_dir / "workspace.yaml").write_text(
            f"load_from:\n  - python_file:\n      relative_path: {peer_dir / 'one_asset.py'}\n"
            f"      location_name: peer\n"
        )
        for i in range(args.repeats):  # alternate, so that a slow spell hits both
            rows["dhs"].append(measure(Path(tmp) / f"dhs{i}", None, "dhs", ASSETS))
            rows["peer"].append(measure(Path(tmp) / f"peer{i}", peer_dir / "workspace.yaml", "peer", ["one"]))
    medians = {name: [statistics.median(r[k] for r in runs) for k in range(3)] for name, runs in rows.items()}
    for name, (loaded, shown, rss) in medians.items():
        print(
            f"{name}: code location loaded {loaded:.1f} s, asset graph shown {shown:.1f} s after start, servers {rss:.0f} MB "
            f"(medians of {args.repeats}: {', '.join(f'{r[1]:.1f} s/{r[2]:.0f} MB' for r in rows[name])})"
        )
    ratio_time, ratio_rss = medians["dhs"][1] / medians["peer"][1], medians["dhs"][2] / medians["peer"][2]
    print(f"dhs / one-asset peer: {ratio_time:.2f}x the time to a shown graph, {ratio_rss:.2f}x the memory")
    print(
        f"figures saved to {save('ui', {'dhs': medians['dhs'], 'peer': medians['peer'], 'ratio_time': ratio_time, 'ratio_rss': ratio_rss})}"
    )


if __name__ == "__main__":
    main()
