"""The ``dhs`` command: build the mock sky, run the demo pipeline through Dagster.

    dhs mock-sky [--root DIR] [--seed N] [--n-bricks N] [--overwrite]
    dhs demo     [--seed N] [--n-bricks N] [--http]
    dhs serve    ROOT [--port N] [--latency-s S] [--rate-mb-s R]
    dhs export   DATASET --out DIR [--split SPLIT ...] [--shard-rows N]

``dhs demo`` builds the embedded mock DR10 sky (unless one with the same parameters is there, or
``DHS_SURVEY_ROOT`` names a survey to use instead: a folder or a portal URL), materializes the bricks table,
registers a partition per sweep file, materializes every other asset with its checks in the Dagster instance at
``DAGSTER_HOME`` (default ``./dagster_home``), and prints where the outputs are. With ``--http`` the mock sky is
served on 127.0.0.1 as the portal serves DR10, and the pipeline runs from a cache (``DHS_SURVEY_CACHE``, default
``<data root>/survey_cache``) that the assets fill through the fetch layer, as on a real run: ``survey_bricks`` the
bricks table, each ``sweep_lrgs`` partition its sweep, each ``galaxy_cutouts`` partition its bricks' coadds.

``dhs export`` writes a dataset's ok stamps of the data root (``DHS_DATA_ROOT``, default ``./data``) as training
shards with a dataset card (``dhs_core.datasets.export``).
"""

import argparse
import contextlib
import os
import sys
import time
import warnings

from dhs_core import asset_names as names
from dhs_core import storage
from dhs_core.catalog.splits import SPLITS
from dhs_core.datasets.export import SHARD_ROWS, export_dataset
from dhs_core.datasets.spec import specs_folder
from dhs_core.evaluate.baseline import BASELINE_MODEL
from dhs_core.survey.mocksky import DEFAULT_N_BRICKS, build_mock_sky
from dhs_core.tables import write_file


def _mock_sky(args) -> int:
    start = time.perf_counter()
    description = build_mock_sky(args.root, seed=args.seed, n_bricks=args.n_bricks, overwrite=args.overwrite)
    print(
        f"mock sky at {args.root}: {len(description['bricks'])} bricks, {len(description['sweep_files'])} sweep files, "
        f"{description['n_objects']} objects, {description['n_lenses_planted']} planted lenses "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 0


def _demo(args) -> int:
    os.environ.setdefault("DAGSTER_HOME", os.path.abspath("dagster_home"))
    from dhs_assets.resources import (
        SurveyRoot,
        default_data_root,
        default_lens_catalogs,
        default_survey_root,
    )

    data_root, survey, server = default_data_root(), default_survey_root(), None
    if "DHS_SURVEY_ROOT" in os.environ:  # a survey the user chose: read it, never write a mock sky there
        print(f"survey root (DHS_SURVEY_ROOT): {survey.url or survey.path}", flush=True)
    else:
        print(f"mock DR10 sky -> {survey.path}", flush=True)
        args.root, args.overwrite = survey.path, False
        _mock_sky(args)
    # the mock sky's planted lenses, from its folder even when it is served over HTTP below
    lens_catalogs = default_lens_catalogs(survey.path)
    if args.http:  # the mock sky as a portal on loopback; the pipeline reads a cache that fetches from it
        from dhs_core.survey.serve import SurveyServer

        server = SurveyServer(survey.path).start()
        cache = os.path.abspath(os.environ.get("DHS_SURVEY_CACHE", os.path.join(data_root, "survey_cache")))
        # a new resource, not a model_copy: Dagster builds run resources from the constructor's config
        survey = SurveyRoot(path=cache, url=server.url, footprint=survey.footprint)
        print(f"serving it at {server.url}; the pipeline reads the cache {cache}", flush=True)
    resources = demo_resources(survey, lens_catalogs)
    try:
        return _materialize_all(resources, data_root, survey.path)
    finally:
        if server:
            server.stop()


def demo_resources(survey, lens_catalogs) -> dict:
    """The demo's resources: the environment's data root resource (not its folder alone: with an ``s3://`` root the
    folder is only the cache), the survey root ``survey`` and the planted lenses' catalogues."""
    from dhs_assets.resources import build_resources, default_data_root_resource

    return build_resources(default_data_root_resource(), survey, lens_catalogs=lens_catalogs)


def _materialize_all(resources: dict, data_root: str, survey_root: str) -> int:
    from dagster import AssetKey, DagsterInstance, materialize

    from dhs_assets.catalog.partitions import selection_set_partitions, split_partitions, sweep_partitions
    from dhs_assets.datasets.partitions import dataset_partitions, dataset_split_partitions
    from dhs_assets.datasets.sensors import register_specs
    from dhs_assets.definitions import ASSETS, CHECKS
    from dhs_assets.diagnostics.assets import REPORT_FILE
    from dhs_assets.evaluate.sensors import register_scores
    from dhs_core.tables import partition_dir

    instance = DagsterInstance.get()

    def register_sweeps() -> list[
        str
    ]:  # after survey_bricks: a portal's or a footprint's sweeps are planned from it
        sweeps = list(resources["survey_root"].sweep_files())
        known = set(instance.get_dynamic_partitions(sweep_partitions.name))
        instance.add_dynamic_partitions(sweep_partitions.name, [k for k in sweeps if k not in known])
        return sweeps

    def register_datasets() -> list[AllPartitions]:  # what the dataset sensor does, now
        store = resources["data_root"].store()  # an s3:// data root: the specs go to the bucket too
        with storage.mounted(data_root, store) if store else contextlib.nullcontext():
            installed = install_demo_specs(data_root)
        if installed:
            print(f"  dataset specs {', '.join(installed)} -> {specs_folder(data_root)}", flush=True)
        register_specs(instance, data_root)
        return dataset_splits()

    def dataset_splits() -> list[AllPartitions]:
        return [AllPartitions(dataset_split_partitions.get_partition_keys(dynamic_partitions_store=instance))]

    def each_dataset() -> list[str]:
        return list(instance.get_dynamic_partitions(dataset_partitions.name))

    def scored() -> list[str]:  # what the scores sensor does, now: the baseline's scores of the grid
        register_scores(instance, data_root)
        return [DEMO_SELECTION_PARTITION]

    steps = [
        ([names.SURVEY_BRICKS], [None]),
        ([names.SWEEP_LRGS], register_sweeps),
        ([names.BRICK_LRG_COUNTS], [None]),
        ([names.REGION_BRICKS, names.REGION_METRICS], [None]),
        # one run for all partitions, as a backfill runs them
        ([names.REGION_SELECTIONS], [AllPartitions(selection_set_partitions.get_partition_keys())]),
        ([names.KNOWN_LENSES], [None]),
        ([names.PARENT_SAMPLE], [AllPartitions(split_partitions.get_partition_keys())]),
        ([names.GALAXY_CUTOUTS], [AllPartitions(split_partitions.get_partition_keys())]),
        ([names.SOURCE_BANK], [None]),
        ([names.INJECTION_MANIFEST], register_datasets),
        ([names.INJECTED_STAMPS], dataset_splits),
        ([names.STAMP_DIAGNOSTICS], dataset_splits),
        ([names.SHORTCUT_REPORT], each_dataset),
        ([names.COVERAGE_GAPS], [None]),
        ([names.ANCHOR_STAMPS], [None]),
        ([names.HARD_NEGATIVES], [None]),
        ([names.BASELINE_SCORES], [DEMO_EVALUATED]),
        ([names.SELECTION_FUNCTION], scored),
    ]
    configs = {
        names.SOURCE_BANK: {"n_generated": DEMO_BANK_TEMPLATES},
        names.SELECTION_FUNCTION: DEMO_SELECTION,
    }
    print(f"materializing in the Dagster instance at {os.environ['DAGSTER_HOME']}", flush=True)
    for n, (keys, partitions) in enumerate(steps, 1):
        partitions = partitions() if callable(partitions) else partitions
        for i, partition in enumerate(partitions, 1):
            where = (
                " all partitions, one run"
                if isinstance(partition, AllPartitions)
                else f" partition {i}/{len(partitions)} {partition}"
                if partition
                else ""
            )
            print(f"[{n}/{len(steps)}] {' + '.join(keys)}{where}", flush=True)
            run_config = {**QUIET, "ops": {k: {"config": configs[k]} for k in keys if k in configs}}
            target = (
                {"tags": partition.tags()}
                if isinstance(partition, AllPartitions)
                else {"partition_key": partition}
            )
            _require(
                materialize(
                    [*ASSETS, *CHECKS],
                    selection=[AssetKey(k) for k in keys],
                    instance=instance,
                    resources=resources,
                    run_config=run_config,
                    raise_on_error=False,
                    **target,
                )
            )
    print("\ndone. outputs:")
    print(f"  survey root (DR10):      {survey_root}")
    print(f"  planted lenses:          {os.path.join(survey_root, 'catalogs', 'mock_lenscat.csv')}")
    for asset in names.ASSET_NAMES:
        if asset != names.SHORTCUT_REPORT:  # its HTML file, below
            print(f"  {asset + ':':24s} {os.path.join(data_root, asset)}")
    for dataset in each_dataset():
        report = os.path.join(partition_dir(data_root, names.SHORTCUT_REPORT, dataset), REPORT_FILE)
        print(f"  {'report ' + dataset + ' (HTML):':24s} {report}")
    selection = partition_dir(data_root, names.SELECTION_FUNCTION, DEMO_SELECTION_PARTITION)
    print(f"  {'selection function (HTML):':24s} {os.path.join(selection, REPORT_FILE)}")
    print("  browse them in the Dagster UI: make ui")
    return 0


class AllPartitions:
    """A step that materializes the partitions ``keys`` (in their partitioning's order) in one run (a range, as
    backfills run)."""

    def __init__(self, keys: list[str]):
        self.keys = list(keys)

    def tags(self) -> dict:
        return {
            "dagster/asset_partition_range_start": self.keys[0],
            "dagster/asset_partition_range_end": self.keys[-1],
        }


DEMO_BANK_TEMPLATES = 300  # a generated bank (no catalogue download needed)
# the loop the demo closes: the baseline (trained on train|train) scores the grid; its selection function on the grid's
# held-out splits, with the train dataset's held-out controls too (the grid has few: a quarter of its galaxies)
DEMO_EVALUATED = "grid"
DEMO_SELECTION_PARTITION = f"{DEMO_EVALUATED}|{BASELINE_MODEL}"
DEMO_SELECTION = {"splits": ["val", "test"], "control_partitions": ["train|val", "train|test"]}
# the demo's dataset specs (a train tier and an evaluation grid), copied into the data root where none of that name is
DEMO_SPECS = os.path.join(os.path.dirname(__file__), "demo_datasets")


def install_demo_specs(data_root: str) -> list[str]:
    """Copy the demo's dataset specs into ``<data_root>/datasets/`` unless a file of that name is there (a spec the
    user edited stays); return the files copied."""
    folder = specs_folder(data_root)
    os.makedirs(folder, exist_ok=True)
    copied = []
    for name in sorted(os.listdir(DEMO_SPECS)):
        target = os.path.join(folder, name)
        if name.endswith(".yaml") and not os.path.exists(target):
            with open(os.path.join(DEMO_SPECS, name), "rb") as fh:
                write_file(fh.read(), target)
            copied.append(name)
    return copied


# Dagster's console logger at WARNING: the full event log stays in the instance, for the UI
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _require(result) -> None:
    """Stop the demo at a failed step or blocking check, printing why (each failed check's metadata); report
    failed warnings and go on."""
    failures = []
    for line, blocking in check_failures(result):
        if blocking:
            failures.append(line)
        else:  # reported, as the shortcut gate reports the raw recipe
            print(f"  warning: {line} (severity WARN; see the report)", flush=True)
    if failures:
        raise SystemExit("blocking asset check(s) failed:\n  " + "\n  ".join(failures))
    if not result.success:
        errors = [
            str(event.event_specific_data.error.message).strip()
            for event in result.all_events
            if event.event_type_value == "STEP_FAILURE"
            and event.event_specific_data
            and event.event_specific_data.error
        ]
        raise SystemExit(
            "a materialization failed:\n  " + "\n  ".join(errors or ["see the Dagster log above"])
        )


def check_failures(result) -> list[tuple[str, bool]]:
    """``(line, blocking)`` for every failed asset check of a run: which check on which asset, and its metadata."""
    from dagster import AssetCheckSeverity

    lines = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        values = {key: getattr(value, "value", value) for key, value in evaluation.metadata.items()}
        # the numbers and words that say why; nested records (whole gate tables) stay in the instance and the report
        details = "; ".join(
            f"{key}: {value}" for key, value in values.items() if not isinstance(value, (dict, list))
        )
        lines.append(
            (
                f"asset check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed: {details}",
                evaluation.severity != AssetCheckSeverity.WARN,
            )
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    # a user of the command is not served by Dagster marking backfill_policy beta on every asset that uses it
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    parser = argparse.ArgumentParser(prog="dhs", description="Dark Halo Scope data platform")
    sub = parser.add_subparsers(dest="command", required=True)
    mock = sub.add_parser("mock-sky", help="write the embedded mock DR10 sky")
    mock.add_argument("--root", default=os.path.join(os.environ.get("DHS_DATA_ROOT", "data"), "mock_sky"))
    mock.add_argument("--overwrite", action="store_true")
    demo = sub.add_parser("demo", help="build the mock sky and materialize every asset on it")
    demo.add_argument(
        "--http",
        action="store_true",
        help="serve the mock sky on 127.0.0.1 and run from a cache fetched from it",
    )
    for p in (mock, demo):
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--n-bricks", type=int, default=DEFAULT_N_BRICKS)
    serve = sub.add_parser(
        "serve", help="serve a survey root over HTTP on 127.0.0.1 (as the portal serves DR10)"
    )
    serve.add_argument("root", help="the survey root (e.g. data/mock_sky)")
    serve.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    serve.add_argument("--latency-s", type=float, default=0.0, help="added before every answer (s)")
    serve.add_argument("--rate-mb-s", type=float, default=0.0, help="per connection (MB/s; 0: unlimited)")
    export = sub.add_parser(
        "export", help="write a dataset's stamps as training shards (Parquet) with a dataset card"
    )
    export.add_argument("dataset", help="the dataset's name (its spec in <data root>/datasets/)")
    export.add_argument(
        "--out", required=True, help="the folder to write (an earlier export there is replaced)"
    )
    export.add_argument(
        "--split", action="append", choices=SPLITS, help="a split to export (repeat it; default: every split)"
    )
    export.add_argument("--shard-rows", type=int, default=SHARD_ROWS, help="stamps per shard")
    args = parser.parse_args(argv)
    commands = {"mock-sky": _mock_sky, "demo": _demo, "serve": _serve, "export": _export}
    return commands[args.command](args)


def _export(args) -> int:
    from dhs_assets.resources import default_data_root
    from dhs_core.errors import DhsError

    try:
        card = export_dataset(
            default_data_root(), args.dataset, args.out, tuple(args.split or SPLITS), args.shard_rows
        )
    except DhsError as exc:
        print(f"dhs export: {exc}", file=sys.stderr)
        return 2
    for split, counts in card["counts"].items():
        print(
            f"{split}: {counts['rows']:,} stamps ({counts['injection']:,} injections, {counts['control']:,} controls) "
            f"in {len(card['shards'][split])} shard(s)"
        )
    print(f"dataset {card['dataset']} (spec {card['spec_hash']}) -> {os.path.abspath(args.out)}")
    return 0


def _serve(args) -> int:
    """Serve until interrupted; the first line printed is the URL."""
    from dhs_core.survey.serve import SurveyServer

    server = SurveyServer(
        args.root, port=args.port, latency_s=args.latency_s, rate_bytes_s=args.rate_mb_s * 1e6 or None
    ).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
