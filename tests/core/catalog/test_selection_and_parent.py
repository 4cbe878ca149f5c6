import math

import numpy as np
import pyarrow as pa
import pytest

from dhs_core.catalog.lrg import VARIANT_FLAGS
from dhs_core.catalog.parent import PARENT_GALAXY_COLUMNS, parent_sample
from dhs_core.catalog.selection import (
    SelectionConfig,
    density_bins,
    select_regions,
    selection_partition_keys,
    selection_set_id,
)
from dhs_core.errors import ConfigError
from dhs_core.hashing import spark_xxhash64
from dhs_core.tables import connect


def _metrics(n, splits=("train",), seed=0):
    rng = np.random.default_rng(seed)
    density = rng.lognormal(7, 0.5, n)
    return pa.table(
        {
            "region_id": [f"{i:04d}p000" for i in range(n)],
            "region_split": [splits[i % len(splits)] for i in range(n)],
            "area_deg2": rng.uniform(0.5, 5, n),
            "n_bricks": rng.integers(5, 50, n),
            "n_lrg_v3_color_relaxed_total": rng.integers(100, 1000, n),
            "lrg_density_v3_color_relaxed_areaweighted": density,
            "score_density": density,
            "score_n_lrg": rng.uniform(0, 1, n),
            "score_area_weighted": rng.uniform(0, 1, n),
            "score_psf_weighted": np.round(rng.uniform(0, 1, n), 1),  # ties, to exercise the tie-break
            "psfsize_r_p50": rng.uniform(1, 1.5, n),
            "psfdepth_mag5_r_p50": rng.uniform(23.8, 24.6, n),
            "ebv_p50": rng.uniform(0, 0.1, n),
            "compactness": rng.uniform(0.3, 1, n),
        }
    )


def test_twelve_selection_sets():
    keys = selection_partition_keys()
    assert len(keys) == len(set(keys)) == 12
    assert selection_set_id("topk_density", SelectionConfig()) == "topk_density_k100"
    assert selection_set_id("strat_custom_psf_weighted", SelectionConfig()) == "strat_custom_psf_weighted_k75"
    with pytest.raises(ConfigError):
        SelectionConfig(custom_weights=(0.5, 0.5))


def test_topk_within_each_split_with_a_deterministic_tie_break():
    metrics = _metrics(500, splits=("train", "val", "test"))
    chosen = select_regions(metrics, "topk_psf_weighted", SelectionConfig(top_k=20), within_splits=True)
    assert chosen.num_rows == 60
    for split in ("train", "val", "test"):
        mine = chosen.filter(pa.compute.equal(chosen["region_split"], split)).to_pylist()
        pool = [r for r in metrics.to_pylist() if r["region_split"] == split]
        expected = sorted(pool, key=lambda r: (-r["score_psf_weighted"], r["region_id"]))[:20]
        assert [r["region_id"] for r in mine] == [r["region_id"] for r in expected]
        assert [r["region_rank"] for r in mine] == list(range(1, 21))
    assert set(chosen["selection_set_id"].to_pylist()) == {"topk_psf_weighted_k20"}


def test_stratified_sets_take_ceil_of_weighted_k_per_density_bin():
    metrics = _metrics(2000)
    config = SelectionConfig(stratified_k=75)
    chosen = select_regions(metrics, "strat_custom_n_lrg", config, within_splits=False)
    per_bin = np.bincount(chosen["density_bin"].to_numpy(), minlength=3)
    assert per_bin.tolist() == [math.ceil(0.2 * 75), math.ceil(0.4 * 75), math.ceil(0.4 * 75)]
    balanced = select_regions(metrics, "strat_balanced_density", config, within_splits=False)
    assert np.bincount(balanced["density_bin"].to_numpy(), minlength=3).tolist() == [25, 25, 25]
    # within a bin the best scores are taken
    bins = density_bins(
        metrics["lrg_density_v3_color_relaxed_areaweighted"].to_numpy(), config.density_quantiles
    )
    top_bin = [r for r, b in zip(metrics.to_pylist(), bins) if b == 2]
    best = sorted(top_bin, key=lambda r: (-r["score_n_lrg"], r["region_id"]))[:30]
    got = [r for r in chosen.to_pylist() if r["density_bin"] == 2]
    assert {r["region_id"] for r in got} == {r["region_id"] for r in best}


def test_density_bins_last_bin_closed():
    values = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    bins = density_bins(values, (0.0, 0.5, 0.9, 1.0))
    assert bins.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2]


def test_parent_sample_rows(tmp_path):
    galaxies = pa.table(
        {
            "release": [10000] * 5,
            "brickname": ["b1", "b1", "b2", "b3", "b4"],
            "objid": pa.array([2, 1, 0, 0, 0], pa.int32()),
            "ra": [1.0] * 5,
            "dec": [0.0] * 5,
            "type": ["DEV"] * 5,
            "maskbits": pa.array([0] * 5, pa.int32()),
            **{
                c: [1.0] * 5
                for c in PARENT_GALAXY_COLUMNS[PARENT_GALAXY_COLUMNS.index("flux_g") : -len(VARIANT_FLAGS)]
            },
            **{f: [True, True, True, True, True] for f in VARIANT_FLAGS},
            # each galaxy's own PSF FWHM (arcsec) and depth (inverse variance, nMgy^-2): 0 means none
            "psfsize_g": pa.array([1.3, 0.0, 1.3, 1.3, 1.3], pa.float32()),
            "psfsize_r": pa.array([1.2] * 5, pa.float32()),
            "psfsize_z": pa.array([1.1] * 5, pa.float32()),
            "psfdepth_ivar_g": pa.array([25.0, 25.0, 25.0, 25.0, 0.0], pa.float32()),
            "psfdepth_ivar_r": pa.array([100.0] * 5, pa.float32()),
            "psfdepth_ivar_z": pa.array([4.0] * 5, pa.float32()),
        }
    )
    galaxies = galaxies.set_column(
        galaxies.column_names.index("is_v3_color_relaxed"),
        "is_v3_color_relaxed",
        pa.array([True, True, False, True, True]),
    )
    region_bricks = pa.table(
        {
            "brickname": ["b1", "b2", "b3", "b4"],
            "region_id": ["b1", "b1", "b3", "b4"],
            "split": ["train", "train", "train", "train"],
            "guard_dropped": [False, False, True, False],
            "ebv": [0.01] * 4,
            "psfsize_g": [0.0, 1.2, 1.2, float("nan")],
            "psfsize_r": [1.1] * 4,
            "psfsize_z": [1.0] * 4,
            "psfdepth_mag5_g": [0.0, 24.5, 24.5, 24.5],
            "psfdepth_mag5_r": [24.0] * 4,
            "psfdepth_mag5_z": [23.0] * 4,
        }
    )
    selections = pa.table(
        {
            "region_id": ["b1", "b1", "b3", "b4"],
            "selection_set_id": ["topk_n_lrg_k100", "topk_density_k100", "x", "topk_density_k100"],
        }
    )
    with connect() as con:
        con.register("galaxies", galaxies)
        table = parent_sample(con, "galaxies", region_bricks, selections, "train")
    # b2's galaxy is not v3; b3 is dropped by the guard band; rows sorted by (brickname, objid)
    assert list(zip(table["brickname"].to_pylist(), table["objid"].to_pylist())) == [
        ("b1", 1),
        ("b1", 2),
        ("b4", 0),
    ]
    assert table["selection_sets"].to_pylist()[0] == ["topk_density_k100", "topk_n_lrg_k100"]
    assert table["brick_psfsize_g"].to_pylist() == [None, None, None]  # 0 and NaN are missing, never a PSF
    assert table["brick_psfsize_r"].to_pylist()[0] == pytest.approx(1.1)
    # the galaxy's own conditions beside the brick's: objid 1 has no g PSF size, b4's galaxy no g depth
    assert table["psfsize_g"].to_pylist() == [None, pytest.approx(1.3), pytest.approx(1.3)]
    assert table["psfdepth_mag5_g"].to_pylist() == [
        pytest.approx(22.5),
        pytest.approx(22.5),
        None,
    ]  # 5 sigma = 1 nMgy
    assert table["psfdepth_mag5_r"].to_pylist()[0] == pytest.approx(
        22.5 + 2.5 * np.log10(2)
    )  # sigma 0.1 nMgy
    assert table["row_id"].to_pylist() == spark_xxhash64(table["brickname"], table["objid"]).tolist()
    with connect() as con:
        con.register("galaxies", galaxies)
        assert parent_sample(con, "galaxies", region_bricks, selections, "val").num_rows == 0
        with pytest.raises(ConfigError, match="variant"):
            parent_sample(con, "galaxies", region_bricks, selections, "train", variant="v9")
