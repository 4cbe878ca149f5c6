"""The name of every asset, written once: its Dagster asset key and its folder under the data root
(``<data_root>/<name>/<partition>/``). In the order a full run materializes them."""

SURVEY_BRICKS = "survey_bricks"
SWEEP_LRGS = "sweep_lrgs"
BRICK_LRG_COUNTS = "brick_lrg_counts"
REGION_BRICKS = "region_bricks"
REGION_METRICS = "region_metrics"
REGION_SELECTIONS = "region_selections"
KNOWN_LENSES = "known_lenses"
PARENT_SAMPLE = "parent_sample"
GALAXY_CUTOUTS = "galaxy_cutouts"
SOURCE_BANK = "source_bank"
DATASET_SPECS = "datasets"  # the folder of the YAML specs, not a Parquet table
INJECTION_MANIFEST = "injection_manifest"
INJECTED_STAMPS = "injected_stamps"
COVERAGE_GAPS = "coverage_gaps"
STAMP_DIAGNOSTICS = "stamp_diagnostics"
SHORTCUT_REPORT = "shortcut_report"
ANCHOR_STAMPS = "anchor_stamps"
HARD_NEGATIVES = "hard_negatives"
BASELINE_SCORES = "baseline_scores"
MODEL_SCORES = "scores"  # the folder models drop their scores into, recorded, not built
SELECTION_FUNCTION = "selection_function"

ASSET_NAMES = (
    SURVEY_BRICKS,
    SWEEP_LRGS,
    BRICK_LRG_COUNTS,
    REGION_BRICKS,
    REGION_METRICS,
    REGION_SELECTIONS,
    KNOWN_LENSES,
    PARENT_SAMPLE,
    GALAXY_CUTOUTS,
    SOURCE_BANK,
    DATASET_SPECS,
    INJECTION_MANIFEST,
    INJECTED_STAMPS,
    COVERAGE_GAPS,
    STAMP_DIAGNOSTICS,
    SHORTCUT_REPORT,
    ANCHOR_STAMPS,
    HARD_NEGATIVES,
    BASELINE_SCORES,
    MODEL_SCORES,
    SELECTION_FUNCTION,
)
