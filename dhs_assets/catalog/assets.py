"""Catalogue assets: bricks table, Phase 2 (sweep_lrgs, brick_lrg_counts), 3a (regions), 3b, 3c."""

from dataclasses import asdict

import pyarrow as pa
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from dhs_assets.catalog.config import LrgRunConfig, ParentRunConfig, RegionRunConfig, SelectionRunConfig
from dhs_assets.catalog.partitions import (
    current_sweep_lrgs,
    selection_set_partitions,
    split_partitions,
    sweep_partitions,
)
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, DuckDB, SurveyRoot
from dhs_core.asset_names import (
    BRICK_LRG_COUNTS,
    KNOWN_LENSES,
    PARENT_SAMPLE,
    REGION_BRICKS,
    REGION_METRICS,
    REGION_SELECTIONS,
    SURVEY_BRICKS,
    SWEEP_LRGS,
)
from dhs_core.catalog.build_regions import (
    BRICK_COLUMNS,
    build_regions,
    galaxies_without_brick,
    realised_fractions,
)
from dhs_core.catalog.lrg import (
    SWEEP_LRG_INPUT_COLUMNS,
    VARIANT_FLAGS,
    base_cut_drops,
    brick_lrg_count_sql,
    select_sweep_galaxies,
    within_bricks,
)
from dhs_core.catalog.parent import parent_sample as build_parent_sample
from dhs_core.catalog.selection import select_regions
from dhs_core.conventions import LRG_VARIANT_NAMES
from dhs_core.errors import InputFileError, MissingColumnError
from dhs_core.evaluate.known_lenses import exclude_known_lenses
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.plan import footprint_bricks
from dhs_core.survey.sweeps import read_sweep
from dhs_core.tables import read_table, write_table

COMMON = {"group_name": "catalog", "kinds": {"parquet", "duckdb"}, "owners": ["team:dhs"]}
ALL_SWEEPS = AssetDep(SWEEP_LRGS, partition_mapping=AllPartitionMapping())
ALL_SELECTIONS = AssetDep(REGION_SELECTIONS, partition_mapping=AllPartitionMapping())


@asset(
    **COMMON,
    description=(
        "The DR10 bricks table: geometry (ra1, ra2, dec1, dec2, area_deg2) and per-brick summaries "
        "(psfsize_<b> FWHM arcsec, psfdepth_mag5_<b> 5-sigma AB mag, ebv), one row per brick; with a footprint, the bricks "
        "whose centre lies in it. Fetched from the portal first when the survey root is a URL."
    ),
)
def survey_bricks(
    context: AssetExecutionContext, data_root: DataRoot, survey_root: SurveyRoot
) -> MaterializeResult:
    fetched = survey_root.fetch_bricks_table(context.log.info)
    paths = survey_root.layout.bricks_table_paths()
    if not paths:
        raise InputFileError(
            survey_root.layout.root, "no bricks table (survey-bricks*.fits[.gz]) in this survey root"
        )
    every = read_bricks_table(paths)
    missing = [c for c in BRICK_COLUMNS if c not in every.column_names]
    if missing:  # caught here, naming the files, not two phases later
        raise MissingColumnError(", ".join(paths), missing, every.column_names)
    table = footprint_bricks(every, survey_root.sky_box)
    if table.num_rows == 0:
        raise InputFileError(
            ", ".join(paths), f"no brick has its centre in the footprint {survey_root.footprint} (deg)"
        )
    path = write_table(table, data_root.path, SURVEY_BRICKS)
    context.log.info(f"{table.num_rows} bricks from {len(paths)} file(s) -> {path}")
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "source_files": ", ".join(paths),
            **fetched,
            "footprint": survey_root.footprint or "(everything)",
            "bricks_outside_footprint": every.num_rows - table.num_rows,
        }
    )


@asset(
    **COMMON,
    partitions_def=sweep_partitions,
    deps=[SURVEY_BRICKS],
    description=(
        "Phase 2, one partition per sweep file: every galaxy passing the base cuts (TYPE != PSF; r, z, W1 "
        "fluxes > 0; finite magnitudes) with raw and dereddened magnitudes, colours and the five LRG flags; with a footprint, "
        "only galaxies on its bricks. The sweep file is fetched from the portal first when the survey root is a URL."
    ),
)
def sweep_lrgs(
    context: AssetExecutionContext, config: LrgRunConfig, data_root: DataRoot, survey_root: SurveyRoot
) -> MaterializeResult:
    key = context.partition_key
    files = survey_root.sweep_files()
    if key not in files:
        raise InputFileError(
            survey_root.layout.sweep_path(key + ".fits"), "sweep file of this partition not found"
        )
    survey_root.fetch_sweep(key, context.log.info)
    sweep = read_sweep(files[key], SWEEP_LRG_INPUT_COLUMNS)
    table = select_sweep_galaxies(sweep, config.core())
    outside = 0
    if survey_root.footprint:  # the tile's galaxies on bricks outside the footprint are not ours
        table, outside = within_bricks(
            table, read_table(data_root.path, SURVEY_BRICKS, columns=["brickname"])["brickname"]
        )
    path = write_table(table, data_root.path, SWEEP_LRGS, key)
    counts = {name: int(sum(table[flag].to_pylist())) for flag, name in zip(VARIANT_FLAGS, LRG_VARIANT_NAMES)}
    drops = base_cut_drops(sweep, config.core())
    context.log.info(
        f"{files[key]}: {sweep.num_rows} rows, {table.num_rows} pass the base cuts; removed {drops}; {counts}"
    )
    if sweep.num_rows == 0:
        context.log.warning(
            f"{files[key]} has no rows: its bricks get no galaxy from it (the sweep_lrgs_drops check fails)"
        )
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "sweep_file": files[key],
            "sweep_rows": sweep.num_rows,
            **{f"dropped_{reason}": n for reason, n in drops.items()},
            "outside_footprint": outside,
            "magnitudes_for_selection": "dereddened" if config.deredden else "raw (as the original)",
            "quality_cuts": config.quality_cuts,
            **{f"n_{k}": v for k, v in counts.items()},
        }
    )


@asset(
    **COMMON,
    deps=[ALL_SWEEPS],
    description=(
        "The original's Phase 2 table: brickname, n_gal, n_lrg per variant (summed over sweep files)."
    ),
)
def brick_lrg_counts(
    context: AssetExecutionContext, data_root: DataRoot, survey_root: SurveyRoot, duckdb: DuckDB
) -> MaterializeResult:
    source, vanished = current_sweep_lrgs(
        survey_root.sweep_files(), survey_root.layout.sweep_dir, data_root.path
    )
    report_vanished(context, vanished)
    with duckdb.connect() as con:
        table = con.sql(brick_lrg_count_sql(source)).to_arrow_table()
    if table.num_rows == 0:
        raise InputFileError(
            survey_root.layout.sweep_dir,
            "no galaxy passed the base cuts in any sweep file there "
            "(every sweep_lrgs partition is empty): check the sweeps' contents",
        )
    path = write_table(table, data_root.path, BRICK_LRG_COUNTS)
    totals = {name: int(pa.compute.sum(table[name]).as_py() or 0) for name in table.column_names[1:]}
    return MaterializeResult(
        metadata={**table_metadata(table, path), **totals, "vanished_sweeps": ", ".join(vanished)}
    )


def report_vanished(context: AssetExecutionContext, vanished: list[str]) -> None:
    if vanished:
        context.log.warning(
            f"sweep_lrgs partition(s) whose sweep file is gone, left out: {', '.join(vanished)}"
        )


@multi_asset(
    specs=[
        AssetSpec(
            REGION_BRICKS,
            deps=[SURVEY_BRICKS, BRICK_LRG_COUNTS],
            **COMMON,
            description=(
                "Phase 3a per brick: quality-passing bricks with region_id (HEALPix-bounded component), split "
                "(train/val/test) and guard_dropped, with their conditions and LRG counts."
            ),
        ),
        AssetSpec(
            REGION_METRICS,
            deps=[SURVEY_BRICKS, BRICK_LRG_COUNTS],
            **COMMON,
            description=(
                "Phase 3a per region: counts, Σn/Σarea densities, PSF/depth/EBV statistics, RA/Dec bounds, "
                "compactness, the four ranking scores and region_split."
            ),
        ),
    ],
)
def regions(context: AssetExecutionContext, config: RegionRunConfig, data_root: DataRoot):
    bricks = read_table(data_root.path, SURVEY_BRICKS)
    counts = read_table(data_root.path, BRICK_LRG_COUNTS)
    region_config, split_config = config.regions(), config.splits()
    region_bricks, metrics = build_regions(bricks, counts, region_config, split_config)
    lost = galaxies_without_brick(bricks, counts)
    if lost["bricks"]:
        context.log.warning(
            f"{lost['bricks']} brick(s) of the sweeps are not in the bricks table: {lost['galaxies']} galaxies, "
            f"{lost['v3_lrgs']} v3 LRGs left out (e.g. {', '.join(lost['examples'])})"
        )
    fractions = realised_fractions(region_bricks)
    parameters = {
        **{f"region_{k}": _metadata(v) for k, v in asdict(region_config).items()},
        **{f"split_{k}": _metadata(v) for k, v in asdict(split_config).items()},
    }
    largest = max(metrics["n_bricks"].to_pylist() or [0])
    path = write_table(region_bricks, data_root.path, REGION_BRICKS)
    yield MaterializeResult(
        asset_key=REGION_BRICKS,
        metadata={
            **table_metadata(region_bricks, path),
            **parameters,
            **{f"lrg_fraction_{k}": v for k, v in fractions.items()},
            "bricks_failing_quality": bricks.num_rows - region_bricks.num_rows,
            "bricks_not_in_bricks_table": lost["bricks"],
            "galaxies_without_brick": lost["galaxies"],
            "v3_lrgs_without_brick": lost["v3_lrgs"],
            "galaxy_fraction_without_brick": lost["galaxy_fraction"],
            "bricks_not_in_bricks_table_examples": ", ".join(lost["examples"]),
            "guard_dropped": int(sum(region_bricks["guard_dropped"].to_pylist())),
        },
    )
    path = write_table(metrics, data_root.path, REGION_METRICS)
    yield MaterializeResult(
        asset_key=REGION_METRICS,
        metadata={
            **table_metadata(metrics, path),
            **parameters,
            "largest_region_bricks": largest,
            "largest_region_brick_share": largest / max(region_bricks.num_rows, 1),
        },
    )


def _metadata(value):
    """A config value as asset metadata, keeping its type (the splits check reads it back)."""
    if value is None:
        return "None"
    return list(value) if isinstance(value, tuple) else value


@asset(
    **COMMON,
    deps=[REGION_METRICS],
    partitions_def=selection_set_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "Phase 3b, one partition per selection set (4 ranking modes x top-K / stratified custom / balanced): "
        "the selected regions with their rank and scores; within each split when splits are by region. A backfill "
        "builds its sets in one run."
    ),
)
def region_selections(
    context: AssetExecutionContext, config: SelectionRunConfig, data_root: DataRoot
) -> MaterializeResult:
    metrics = read_table(data_root.path, REGION_METRICS)
    within_splits = metrics["region_split"].null_count < metrics.num_rows
    partitions = {}
    for key in context.partition_keys:
        table = select_regions(metrics, key, config.core(), within_splits)
        path = write_table(table, data_root.path, REGION_SELECTIONS, key)
        partitions[key] = (
            {f"regions_{s}": table["region_split"].to_pylist().count(s) for s in ("train", "val", "test")}
            if within_splits
            else {"regions": table.num_rows}
        )
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "within_splits": within_splits,
            **partitions[key],
            "partitions": MetadataValue.json(partitions),
        }
    )


@asset(
    **COMMON,
    deps=[ALL_SWEEPS, REGION_BRICKS, ALL_SELECTIONS, KNOWN_LENSES],
    partitions_def=split_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "Phase 3c, one partition per split: one row per LRG of the chosen variant in the union of the selected "
        "regions, with region, split, selection-set membership (a list), brick conditions and a stable row_id; no "
        "galaxy within known_lens_radius_arcsec of a known lens or candidate (known_lenses: it could only become a "
        "host or a control). A backfill builds its splits in one run."
    ),
)
def parent_sample(
    context: AssetExecutionContext,
    config: ParentRunConfig,
    data_root: DataRoot,
    survey_root: SurveyRoot,
    duckdb: DuckDB,
) -> MaterializeResult:
    source, vanished = current_sweep_lrgs(
        survey_root.sweep_files(), survey_root.layout.sweep_dir, data_root.path
    )
    report_vanished(context, vanished)
    region_bricks = read_table(data_root.path, REGION_BRICKS)
    selections = read_table(data_root.path, REGION_SELECTIONS, None)
    lenses = read_table(data_root.path, KNOWN_LENSES, columns=["name", "ra", "dec"])
    core, partitions = config.core(), {}
    with duckdb.connect() as con:
        con.sql(f"CREATE VIEW sweep_lrgs AS SELECT * FROM {source}")
        for key in context.partition_keys:
            table = build_parent_sample(con, SWEEP_LRGS, region_bricks, selections, key, core.variant)
            table, excluded = exclude_known_lenses(table, lenses, core.known_lens_radius_arcsec)
            path = write_table(table, data_root.path, PARENT_SAMPLE, key)
            partitions[key] = {
                "galaxies": table.num_rows,
                "regions": len(set(table["region_id"].to_pylist())),
                "bricks": len(set(table["brickname"].to_pylist())),
                "excluded_near_known_lenses": excluded.num_rows,
                "excluded_examples": sorted(set(excluded["known_lens"].to_pylist()))[:10],
            }
            if excluded.num_rows:
                context.log.info(
                    f'{key}: {excluded.num_rows} galaxies within {core.known_lens_radius_arcsec:.1f}" of a known '
                    f"lens left out ({', '.join(partitions[key]['excluded_examples'])})"
                )
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "variant": config.variant,
            "known_lens_radius_arcsec": core.known_lens_radius_arcsec,
            "known_lenses": lenses.num_rows,
            "excluded_near_known_lenses": sum(p["excluded_near_known_lenses"] for p in partitions.values()),
            "regions": partitions[key]["regions"],
            "bricks": partitions[key]["bricks"],
            "partitions": MetadataValue.json(partitions),
            "vanished_sweeps": ", ".join(vanished),
        }
    )
