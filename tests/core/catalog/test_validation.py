"""Values checked where they enter (item 6 of the reliability issue) and every base-cut drop counted (item 5)."""

import numpy as np
import pyarrow as pa
import pytest

from dhs_core.catalog.build_regions import galaxies_without_brick
from dhs_core.catalog.lrg import (
    BASE_CUT_REASONS,
    SWEEP_LRG_INPUT_COLUMNS,
    LrgSelectionConfig,
    base_cut_drops,
    select_sweep_galaxies,
)
from dhs_core.catalog.validation import sweep_drop_problems, sweep_lrgs_problems
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.sweeps import read_sweep
from tests.core.catalog.conftest import brick_grid, counts_for


@pytest.fixture(scope="module")
def sweep_and_bricks(small_sky):
    layout = SurveyLayout(str(small_sky))
    sweep = read_sweep(layout.sweep_paths()[0], SWEEP_LRG_INPUT_COLUMNS)
    return sweep, read_bricks_table(layout.bricks_table_paths())


def _with(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table[column].to_pylist()
    values[row] = value
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(values, table[column].type)
    )


def test_clean_galaxies_break_no_rule(sweep_and_bricks):
    sweep, bricks = sweep_and_bricks
    table = select_sweep_galaxies(sweep, LrgSelectionConfig())
    assert table.num_rows > 50
    assert not any(sweep_lrgs_problems(table, bricks).values()), sweep_lrgs_problems(table, bricks)


@pytest.mark.parametrize(
    "column, value, rule",
    [
        ("ra", float("nan"), "ra_out_of_range"),
        ("ra", 1e6, "ra_out_of_range"),
        ("ra", -400.0, "ra_out_of_range"),
        ("dec", 95.0, "dec_out_of_range"),
        ("dec", -91.0, "dec_out_of_range"),
        ("brickname", "3599p899", "brick_not_in_bricks_table"),
        ("flux_r", "x1e6", "too_bright"),
        ("flux_g", float("inf"), "non_finite_flux"),
        ("maskbits", -1, "negative_maskbits"),
    ],
)
def test_each_bad_value_is_counted_under_its_rule(sweep_and_bricks, column, value, rule):
    sweep, bricks = sweep_and_bricks
    table = select_sweep_galaxies(sweep, LrgSelectionConfig())
    if value == "x1e6":
        value = table[column][3].as_py() * 1e6
    problems = sweep_lrgs_problems(_with(table, column, 3, value), bricks)
    assert problems[rule] == 1, problems
    if column == "ra" and np.isfinite(value) and rule == "ra_out_of_range":
        assert problems["position_outside_its_brick"] == 1  # and it is not where its brick is


def test_a_position_off_its_brick_is_caught(sweep_and_bricks):
    sweep, bricks = sweep_and_bricks
    table = select_sweep_galaxies(sweep, LrgSelectionConfig())
    moved = _with(table, "dec", 0, table["dec"][0].as_py() + 0.5)  # half a degree: another brick's sky
    assert sweep_lrgs_problems(moved, bricks)["position_outside_its_brick"] == 1


def test_base_cut_drops_count_every_removed_row_once(sweep_and_bricks):
    sweep, _ = sweep_and_bricks
    config = LrgSelectionConfig()
    bad = _with(_with(sweep, "mw_transmission_z", 5, float("nan")), "flux_w1", 6, -1.0)
    drops = base_cut_drops(bad, config)
    assert set(drops) == set(BASE_CUT_REASONS)
    assert sum(drops.values()) == bad.num_rows - select_sweep_galaxies(bad, config).num_rows
    assert drops["type_psf"] > 0 and drops["magnitude_not_finite"] >= 1 and drops["flux_w1_not_positive"] >= 1
    assert sweep_drop_problems(bad.num_rows, drops) == {"empty_sweep": 0, "invalid_value_rows_over_limit": 0}
    assert sweep_drop_problems(0, dict.fromkeys(BASE_CUT_REASONS, 0))["empty_sweep"] == 1
    assert sweep_drop_problems(100, {"magnitude_not_finite": 2})["invalid_value_rows_over_limit"] == 1


def test_galaxies_on_bricks_the_bricks_table_lacks_are_counted():
    bricks = brick_grid(10.0, 0.0, 3, 2)
    counts = counts_for(bricks, n_gal=500, v3=36)
    lost = galaxies_without_brick(bricks.slice(1), counts)  # the first brick is missing from the bricks table
    assert lost == {
        "bricks": 1,
        "galaxies": 500,
        "v3_lrgs": 36,
        "galaxy_fraction": pytest.approx(1 / 6),
        "examples": [bricks["brickname"][0].as_py()],
    }
