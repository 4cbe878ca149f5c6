"""Evaluation assets: the known-lens catalogue (``known_lenses``) and the real lenses cut as anchors
(``anchor_stamps``)."""

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from dhs_assets.evaluate.config import AnchorRunConfig
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, LensCatalogs, SurveyRoot
from dhs_core.asset_names import ANCHOR_STAMPS, KNOWN_LENSES, SURVEY_BRICKS
from dhs_core.evaluate.anchors import anchor_stamps as cut_anchor_stamps
from dhs_core.evaluate.known_lenses import known_lens_table
from dhs_core.evaluate.real_stamps import MEASURABLE
from dhs_core.tables import read_table, write_table

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
