import numpy as np
import pyarrow as pa
import pytest

from dhs_core.catalog.regions import (
    RegionConfig,
    brick_quality,
    connected_regions,
    healpix_cell,
    region_metrics,
)
from dhs_core.errors import ConfigError
from dhs_core.survey.bricks import brick_neighbours
from tests.core.catalog.conftest import brick_grid, counts_for


def _with_counts(bricks, regions, **kw):
    joined = bricks.join(counts_for(bricks, **kw), "brickname")
    return joined.join(regions, "brickname").sort_by("brickname")


def test_quality_cuts_are_inclusive_and_nulls_fail():
    bricks = pa.table(
        {
            "ebv": [0.12, 0.1201, 0.05, None, 0.05, 0.05],
            "psfsize_r": [1.6, 1.0, 1.6001, 1.0, 1.0, float("nan")],
            "psfdepth_mag5_r": [23.6, 24.0, 24.0, 24.0, 23.5999, 24.0],
        }
    )
    assert brick_quality(bricks, RegionConfig()).tolist() == [True, False, False, False, False, False]
    with pytest.raises(ConfigError):
        RegionConfig(healpix_nside=12)


def test_separate_blobs_are_separate_regions_with_content_ids():
    bricks = pa.concat_tables([brick_grid(10.0, 0.0, 3, 2), brick_grid(40.0, 0.0, 2, 2)])
    regions = connected_regions(bricks, RegionConfig(healpix_nside=None))
    by_region = {}
    for name, region in zip(regions["brickname"].to_pylist(), regions["region_id"].to_pylist()):
        by_region.setdefault(region, set()).add(name)
    assert len(by_region) == 2
    assert all(region == min(names) for region, names in by_region.items())  # id = smallest brick name
    # stable: the same content in another order gives the same ids
    shuffled = bricks.take(np.random.default_rng(0).permutation(bricks.num_rows))
    assert connected_regions(shuffled, RegionConfig(healpix_nside=None)).equals(regions)
    interior = regions.filter(pa.compute.equal(regions["brickname"], "0103p001"))
    assert interior["brick_degree"][0].as_py() == 5  # 2 in its row, 3 in the row above


def test_regions_join_across_ra_zero():
    bricks = brick_grid(359.5, 0.0, 4, 1)  # 359.5-360.5, i.e. two bricks either side of RA 0
    regions = connected_regions(bricks, RegionConfig(healpix_nside=None))
    assert len(set(regions["region_id"].to_pylist())) == 1
    metrics = region_metrics(_with_counts(bricks, regions), RegionConfig())
    row = metrics.to_pylist()[0]
    assert row["ra_min"] == pytest.approx(359.5, abs=1e-6) and row["ra_max"] == pytest.approx(0.5, abs=1e-3)
    assert row["compactness"] == pytest.approx(1.0, rel=1e-3)


def test_touching_uses_on_sky_distances():
    # two bricks with an RA gap of 0.0005 deg: 0.9" on the sky at Dec 60, 1.8" at the equator
    def pair(dec):
        w = 0.25
        return pa.table(
            {
                "brickname": ["a", "b"],
                "ra1": [10.0, 10.0 + w + 0.0005],
                "ra2": [10.0 + w, 10.0 + 2 * w + 0.0005],
                "dec1": [dec, dec],
                "dec2": [dec + 0.25, dec + 0.25],
            }
        )

    tolerance = 1.0 / 3600
    assert brick_neighbours(pair(59.75), tolerance).num_rows == 2
    assert brick_neighbours(pair(-0.125), tolerance).num_rows == 0


def test_healpix_bounds_the_mega_region():
    strip = brick_grid(0.0, -0.25, 200, 2)  # 200 x 2 contiguous bricks: ~50 deg of RA
    unbounded = connected_regions(strip, RegionConfig(healpix_nside=None))
    assert len(set(unbounded["region_id"].to_pylist())) == 1
    bounded = connected_regions(strip, RegionConfig(healpix_nside=16))
    cells = {}
    for region, cell in zip(bounded["region_id"].to_pylist(), bounded["healpix_cell"].to_pylist()):
        cells.setdefault(region, set()).add(cell)
    assert len(cells) > 3 and all(len(c) == 1 for c in cells.values())  # no region spans two cells
    ordered = strip.sort_by("brickname")
    assert bounded["brickname"].to_pylist() == ordered["brickname"].to_pylist()
    np.testing.assert_array_equal(
        bounded["healpix_cell"].to_numpy(),
        healpix_cell(ordered["ra"].to_numpy(), ordered["dec"].to_numpy(), 16),
    )
    metrics = region_metrics(_with_counts(strip, bounded), RegionConfig())
    assert metrics["area_deg2"].to_numpy().max() <= 13.43  # one nside-16 cell


def test_region_metrics_follow_the_definitions():
    bricks = brick_grid(20.0, 0.0, 2, 2)
    psf = np.array([1.0, 1.2, 1.4, 1.6])
    bricks = bricks.set_column(bricks.column_names.index("psfsize_r"), "psfsize_r", pa.array(psf))
    regions = connected_regions(bricks, RegionConfig(healpix_nside=None))
    table = _with_counts(bricks, regions, n_gal=1000, v3=30)
    metrics = region_metrics(table, RegionConfig())
    row = metrics.to_pylist()[0]
    area = table["area_deg2"].to_numpy().sum()
    assert row["n_bricks"] == 4 and row["area_deg2"] == pytest.approx(area)
    assert row["lrg_density_v3_color_relaxed_areaweighted"] == pytest.approx(120 / area)
    assert row["psfsize_r_p50"] == pytest.approx(np.quantile(psf, 0.5))
    assert row["psfsize_r_p10"] == pytest.approx(np.quantile(psf, 0.1))
    assert row["psfsize_r_std"] == pytest.approx(np.std(psf, ddof=1))
    assert row["lrg_frac_v3_mean"] == pytest.approx(0.03)
    d = row["score_density"]
    assert row["score_area_weighted"] == pytest.approx(d * area**0.5)
    assert row["w_psf"] == pytest.approx(np.exp(-(1.3 - 1.25) / 0.25))
    assert row["w_depth"] == pytest.approx(1 / (1 + np.exp(-(24.2 - 23.8) / 0.25)))
    assert row["w_ebv"] == pytest.approx(np.exp(-4 * 0.03))
    assert row["score_psf_weighted"] == pytest.approx(d * row["w_psf"] * row["w_depth"] * row["w_ebv"])
    assert row["score_n_lrg"] == 120
