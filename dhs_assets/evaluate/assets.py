"""Evaluation assets: the known-lens catalogue (``known_lenses``), the real lenses cut as anchors
(``anchor_stamps``), the look-alikes cut as hard negatives (``hard_negatives``), a baseline scorer
(``baseline_scores``), the models' scores as dropped (``scores``) and the selection function they give
(``selection_function``)."""

import json
import os

import numpy as np
import pyarrow as pa
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    DimensionPartitionMapping,
    IdentityPartitionMapping,
    MaterializeResult,
    MetadataValue,
    MultiPartitionMapping,
    asset,
)

from dhs_assets.datasets.partitions import dataset_partitions, dataset_split, dataset_split_key
from dhs_assets.diagnostics.assets import REPORT_FILE
from dhs_assets.diagnostics.samples import stamps_spec
from dhs_assets.evaluate.config import (
    AnchorRunConfig,
    BaselineRunConfig,
    HardNegativeRunConfig,
    SelectionFunctionRunConfig,
)
from dhs_assets.evaluate.partitions import dataset_model, dataset_model_partitions
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, LensCatalogs, SurveyRoot
from dhs_core.asset_names import (
    ANCHOR_STAMPS,
    BASELINE_SCORES,
    HARD_NEGATIVES,
    INJECTED_STAMPS,
    KNOWN_LENSES,
    MODEL_SCORES,
    SELECTION_FUNCTION,
    SURVEY_BRICKS,
    SWEEP_LRGS,
)
from dhs_core.errors import InputFileError
from dhs_core.evaluate.anchors import anchor_stamps as cut_anchor_stamps
from dhs_core.evaluate.baseline import BASELINE_MODEL, baseline_score_table
from dhs_core.evaluate.completeness import is_control, score_lookup
from dhs_core.evaluate.hard_negatives import hard_negative_stamps, negative_objects
from dhs_core.evaluate.known_lenses import known_lens_table
from dhs_core.evaluate.real_stamps import MEASURABLE
from dhs_core.evaluate.report import render_report
from dhs_core.evaluate.scores import read_scores, scores_dir, write_scores
from dhs_core.evaluate.selection_function import META_COLUMNS, json_ready, snr_edges
from dhs_core.evaluate.selection_function import selection_function as evaluate
from dhs_core.tables import (
    materialized_partitions,
    parquet_source,
    partition_dir,
    read_table,
    write_file,
    write_table,
)

SUMMARY_FILE = "summary.json"
COMMON = {"group_name": "evaluation", "owners": ["team:dhs"]}


@asset(
    **COMMON,
    kinds={"parquet", "duckdb"},
    description=(
        "Known lenses and lens candidates: the survey's lens catalogues (lenscat format; resource lens_catalogs, "
        'DHS_LENS_CATALOGS) read and merged, entries within 2" one object with its best tier (A = confident, '
        "B = probable) and every name. No parent galaxy within the exclusion radius of one becomes a host or a "
        "control; the Tier-A (and optionally Tier-B) objects are cut as anchor_stamps."
    ),
)
def known_lenses(
    context: AssetExecutionContext, data_root: DataRoot, lens_catalogs: LensCatalogs
) -> MaterializeResult:
    files = lens_catalogs.files()
    if not files:
        context.log.warning(
            "no known-lens catalogue configured (DHS_LENS_CATALOGS): nothing is excluded from the parent sample "
            "and there are no anchors"
        )
    table = known_lens_table(files)
    path = write_table(table, data_root.path, KNOWN_LENSES)
    tiers = table["tier"].to_pylist()
    context.log.info(f"{table.num_rows} known lenses from {len(files)} catalogue(s) -> {path}")
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "catalogs": MetadataValue.json(files),
            "tier_a": tiers.count("A"),
            "tier_b": tiers.count("B"),
            "merged_entries": int(sum(n - 1 for n in table["n_entries"].to_pylist())),
        }
    )


@asset(
    **COMMON,
    kinds={"parquet", "duckdb"},
    deps=[KNOWN_LENSES, SURVEY_BRICKS],
    description=(
        "Real anchors: a 64 x 64 stamp of every known lens of the chosen tiers (Tier A by default), cut from the survey "
        "through the cutout cache's source (local coadds, portal bricks or the cutout service), with the stamps' pixel "
        "and status columns and task_id anchor/<name>. Its arc S/N is measured on the injections' scale: a Sersic "
        "lens light and a ring-shaped arc fitted together in the S/N band (r), and the fitted arc's peak and "
        "integrated S/N over the good pixels (dhs_core.evaluate.arc_snr). Anchors outside the footprint or without "
        "pixels are kept with their status and reason."
    ),
)
def anchor_stamps(
    context: AssetExecutionContext, config: AnchorRunConfig, data_root: DataRoot, survey_root: SurveyRoot
) -> MaterializeResult:
    lenses = read_table(data_root.path, KNOWN_LENSES)
    bricks = read_table(data_root.path, SURVEY_BRICKS)
    source = survey_root.cutout_source()
    table = cut_anchor_stamps(lenses, bricks, source, config.core())
    path = write_table(table, data_root.path, ANCHOR_STAMPS)
    statuses = table["status"].to_pylist()
    snr = np.array([v for v in table["arc_snr_peak"].to_pylist() if v is not None], float)
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    context.log.info(f"{table.num_rows} anchors ({counts}) -> {path}")
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "tiers": MetadataValue.json(list(config.tiers)),
            **{f"n_{status}": n for status, n in counts.items()},
            "measured": int(sum(s in MEASURABLE for s in statuses)),
            "arc_snr_peak_median": float(np.median(snr)) if len(snr) else None,
            "source": source.name,
        }
    )


@asset(
    **COMMON,
    kinds={"parquet", "duckdb"},
    deps=[KNOWN_LENSES, SURVEY_BRICKS, SWEEP_LRGS],
    description=(
        "Hard negatives: real non-lens look-alikes (rings, spirals, mergers, edge-on discs, close pairs), cut like "
        "controls and labelled 0 in evaluation. From a user catalogue (run config catalog: ra, dec, class, or the "
        "Galaxy Zoo DECaLS volunteer catalogue as published) or, without one, a proxy from sweep_lrgs by Tractor "
        "shape and colour (close bright pairs, edge-on discs, large blue discs); at most max_per_class per class by a "
        "stable hash; none within the known-lens radius of a known lens. task_id negative/<name>, with the stamps' "
        "pixel and status columns (dhs_core.evaluate.hard_negatives)."
    ),
)
def hard_negatives(
    context: AssetExecutionContext,
    config: HardNegativeRunConfig,
    data_root: DataRoot,
    survey_root: SurveyRoot,
) -> MaterializeResult:
    core = config.core()
    objects, unclassified = negative_objects(parquet_source(data_root.path, SWEEP_LRGS, None), core)
    lenses = read_table(data_root.path, KNOWN_LENSES)
    bricks = read_table(data_root.path, SURVEY_BRICKS)
    source = survey_root.cutout_source()
    table, excluded = hard_negative_stamps(
        objects, bricks, source, lenses, core.known_lens_radius_arcsec, core.selection
    )
    path = write_table(table, data_root.path, HARD_NEGATIVES)
    classes, statuses = table["class"].to_pylist(), table["status"].to_pylist()
    context.log.info(
        f"{table.num_rows} hard negatives ({core.selection}), {excluded.num_rows} near known lenses -> {path}"
    )
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "selection": core.selection,
            "per_class": MetadataValue.json({c: classes.count(c) for c in sorted(set(classes))}),
            "per_status": MetadataValue.json({s: statuses.count(s) for s in sorted(set(statuses))}),
            "excluded_near_known_lenses": excluded.num_rows,
            "excluded_lenses": MetadataValue.json(sorted(set(excluded["known_lens"].to_pylist()))),
            "unclassified_catalogue_rows": unclassified,
            "source": source.name,
        }
    )


model_scores = AssetSpec(
    MODEL_SCORES,
    group_name="evaluation",
    kinds={"parquet"},
    owners=["team:dhs"],
    partitions_def=dataset_model_partitions,
    description=(
        "A model's scores of a dataset: Parquet files with task_id (a stamp's, anchor/<name> or negative/<name>) and "
        "score, dropped into <data root>/scores/<dataset>/<model>/ (docs/evaluation.md). Recorded by "
        "model_scores_sensor with a hash of the files as data version; a new or changed folder launches its "
        "selection_function partition."
    ),
)


@asset(
    **COMMON,
    kinds={"parquet", "sklearn"},
    partitions_def=dataset_partitions,
    deps=[INJECTED_STAMPS, ANCHOR_STAMPS, HARD_NEGATIVES],
    description=(
        "A baseline scorer, so the demo runs the whole evaluation loop (not a lens finder): logistic regression on "
        "annulus statistics of the residual stamp (dhs_core.evaluate.baseline), trained on the ok stamps of one "
        "dataset split (run config; default train|train), scoring every stamp of this dataset, the controls of the "
        "other stamps partitions (for thresholds), the anchors and the hard negatives. It drops its scores where a "
        "user's model would, <data root>/scores/<dataset>/baseline/, for model_scores_sensor to pick up."
    ),
)
def baseline_scores(
    context: AssetExecutionContext, config: BaselineRunConfig, data_root: DataRoot
) -> MaterializeResult:
    core, dataset = config.core(), context.partition_key
    done = materialized_partitions(data_root.path, INJECTED_STAMPS)
    if core.train_partition not in done:
        raise InputFileError(
            partition_dir(data_root.path, INJECTED_STAMPS, core.train_partition),
            "the baseline's training stamps are not there: materialize injected_stamps for that partition first",
        )
    own = [p for p in done if dataset_split(p)[0] == dataset]
    if not own:
        raise InputFileError(
            partition_dir(data_root.path, INJECTED_STAMPS, f"{dataset}|*"),
            f"no stamps of dataset {dataset!r}",
        )
    others = [p for p in done if p not in own and p != core.train_partition]
    real = list(real_objects(data_root.path).values())
    folder = lambda p: partition_dir(data_root.path, INJECTED_STAMPS, p)  # noqa: E731
    table = baseline_score_table(
        folder(core.train_partition), [folder(p) for p in own], [folder(p) for p in others], real, core
    )
    path = write_table(table, data_root.path, BASELINE_SCORES, dataset)
    dropped = write_scores(
        table.select(["task_id", "score"]), scores_dir(data_root.path, dataset, BASELINE_MODEL)
    )
    kinds = table["kind"].to_pylist()
    context.log.info(f"baseline scored {table.num_rows} objects of {dataset} -> {dropped}")
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "scores_file": MetadataValue.path(dropped),
            "trained_on": core.train_partition,
            "scored_partitions": MetadataValue.json(own),
            "control_partitions": MetadataValue.json(others),
            **{f"n_{k}": kinds.count(k) for k in sorted(set(kinds))},
        }
    )


@asset(
    **COMMON,
    kinds={"parquet", "html"},
    partitions_def=dataset_model_partitions,
    deps=[
        MODEL_SCORES,
        # a <dataset>|<model> partition reads every split of its dataset's stamps
        AssetDep(
            INJECTED_STAMPS,
            partition_mapping=MultiPartitionMapping(
                {"dataset": DimensionPartitionMapping("dataset", IdentityPartitionMapping())}
            ),
        ),
        ANCHOR_STAMPS,
        HARD_NEGATIVES,
    ],
    description=(
        "The selection function of a model on a dataset (partition <dataset>|<model>), from its scores: thresholds "
        "at the chosen false-positive rates on the controls, completeness by theta_E x achieved arc S/N x PSF bin x "
        "depth bin and their marginals with Wilson 95 % intervals (the table, long form), ROC AUC overall and per "
        "stratum, recall on the Tier-A/B anchors, false-positive rate on the hard negatives, the centre-masked "
        "ablation when configured, and the report (report.html: curves, heat map, anchors' S/N beside the "
        "injections'). Unscored objects count against the model and are reported."
    ),
)
def selection_function(
    context: AssetExecutionContext, config: SelectionFunctionRunConfig, data_root: DataRoot
) -> MaterializeResult:
    core = config.core()
    dataset, model = dataset_model(context.partition_key)
    partitions = [dataset_split_key(dataset, s) for s in core.splits]
    meta = stamps_meta(data_root.path, partitions)
    spec = stamps_spec(data_root.path, partitions)
    edges = snr_edges(spec.manifest.snr_bins)
    controls = stamps_meta(data_root.path, list(core.control_partitions)) if core.control_partitions else None
    real = real_objects(data_root.path)
    scores = read_scores(scores_dir(data_root.path, dataset, model))
    ablation = None
    if core.ablation_dataset:
        masked = stamps_meta(
            data_root.path, [dataset_split_key(core.ablation_dataset, s) for s in core.splits]
        )
        ablation = (masked, read_scores(scores_dir(data_root.path, core.ablation_dataset, model)))
    result = evaluate(
        meta,
        scores,
        config=core,
        snr_edges=edges,
        controls=controls,
        anchors=real.get(ANCHOR_STAMPS),
        negatives=real.get(HARD_NEGATIVES),
        ablation=ablation,
        other_ids=other_split_ids(data_root.path, dataset, partitions),
    )
    summary = json_ready({"dataset": dataset, "model": model, "partitions": partitions, **result.summary})
    path = write_table(result.table, data_root.path, SELECTION_FUNCTION, context.partition_key)
    folder = os.path.dirname(path)
    write_file(json.dumps(summary, indent=1).encode(), os.path.join(folder, SUMMARY_FILE))
    report = render_report(
        result.table,
        summary,
        title=f"dhs selection function: model {model} on dataset {dataset} ({', '.join(core.splits)})",
        anchors=real.get(ANCHOR_STAMPS),
        injection_snr=meta.filter(pa.array(~is_control(meta)))["arc_snr_peak"].to_pylist(),
        anchor_scores=score_lookup(scores),
    )
    html = write_file(report.encode(), os.path.join(folder, REPORT_FILE))
    first = summary["thresholds"][0]
    overall = [r for r in summary["anchors"] if r["tier"] == "all" and r["fpr_target"] == first["fpr_target"]]
    negatives = [
        r for r in summary["negatives"] if r["class"] == "all" and r["fpr_target"] == first["fpr_target"]
    ]
    context.log.info(f"selection function of {model} on {dataset}: {html}")
    return MaterializeResult(
        metadata={
            **table_metadata(result.table, path),
            "report": MetadataValue.path(html),
            "report_url": MetadataValue.url(f"file://{html}"),
            "summary": MetadataValue.path(os.path.join(folder, SUMMARY_FILE)),
            "auc": summary["auc"][0]["auc"],
            "threshold_fpr": first["fpr_target"],
            "threshold": first["threshold"],
            "anchor_recall": overall[0]["recall"] if overall else None,
            "hard_negative_fpr": negatives[0]["fpr"] if negatives else None,
            "scores": MetadataValue.json(summary["scores"]),
            "partitions": MetadataValue.json(partitions),
        }
    )


def real_objects(data_root: str) -> dict[str, pa.Table]:
    """The anchors and hard negatives that have been materialized (either may not be: evaluated without it)."""
    return {
        asset: read_table(data_root, asset)
        for asset in (ANCHOR_STAMPS, HARD_NEGATIVES)
        if materialized_partitions(data_root, asset)
    }


def stamps_meta(data_root: str, partitions: list[str]) -> pa.Table:
    """The selection function's columns (``META_COLUMNS``) of the stamps partitions ``partitions``; a partition not
    materialized is an error naming its folder."""
    done = set(materialized_partitions(data_root, INJECTED_STAMPS))
    for partition in partitions:
        if partition not in done:
            raise InputFileError(
                partition_dir(data_root, INJECTED_STAMPS, partition),
                "no stamps here: materialize injected_stamps for this partition first",
            )
    return pa.concat_tables(
        [read_table(data_root, INJECTED_STAMPS, p, columns=list(META_COLUMNS)) for p in partitions]
    )


def other_split_ids(data_root: str, dataset: str, evaluated: list[str]) -> list[str]:
    """The task ids of the dataset's materialized splits that are not evaluated (a model may score them all)."""
    others = [
        p
        for p in materialized_partitions(data_root, INJECTED_STAMPS)
        if dataset_split(p)[0] == dataset and p not in evaluated
    ]
    return [
        i
        for p in others
        for i in read_table(data_root, INJECTED_STAMPS, p, columns=["task_id"])["task_id"].to_pylist()
    ]
