"""Phase 3a: brick quality cuts, sky regions (connected bricks, bounded by a HEALPix grid), region metrics.

A region is a connected set of quality-passing bricks whose boxes touch (RA wrapping at 0/360, RA gaps
measured on the sky). Unbounded, such components grow into mega-regions that hold almost the whole
survey (the original's four largest held 97 % of bricks), which makes region-level splits useless; dhs
cuts components at the boundaries of a HEALPix grid (default nside 16, about 13.4 deg^2 a cell) so that
no region is larger than one cell. A region's id is the smallest brick name it contains: it depends
only on the region's content, never on processing order.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import duckdb
import numpy as np
import pyarrow as pa
from astropy_healpix import lonlat_to_healpix
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dhs_core.conventions import LRG_VARIANT_NAMES
from dhs_core.errors import ConfigError, MissingColumnError
from dhs_core.survey.bricks import brick_area_deg2, brick_neighbours

STAT_COLUMNS = ("psfsize_r", "psfdepth_mag5_r", "ebv", "brick_degree", "gal_density", "lrg_frac_v3")


@dataclass(frozen=True)
class RegionConfig:
    """Brick quality cuts (nulls fail) and region building.

    ``ebv_max`` mag, ``psfsize_r_max`` arcsec (FWHM), ``psfdepth_r_min`` 5-sigma AB mag;
    ``healpix_nside``: bound regions by this HEALPix grid (nested), ``None`` for unbounded components;
    ``touch_tolerance_arcsec``: gap on the sky below which two brick boxes count as touching;
    ``area_weight_alpha``: exponent of area in the area-weighted score.
    """

    ebv_max: float = 0.12
    psfsize_r_max: float = 1.6
    psfdepth_r_min: float = 23.6
    healpix_nside: int | None = 16
    touch_tolerance_arcsec: float = 1.0
    area_weight_alpha: float = 0.5

    def __post_init__(self):
        nside = self.healpix_nside
        if nside is not None and (nside < 1 or nside & (nside - 1)):
            raise ConfigError("healpix_nside", nside, "a power of two >= 1, or None for unbounded regions")
        if self.touch_tolerance_arcsec < 0:
            raise ConfigError("touch_tolerance_arcsec", self.touch_tolerance_arcsec, "a value >= 0 arcsec")


def brick_quality(bricks: pa.Table, config: RegionConfig) -> np.ndarray:
    """Which bricks pass ``ebv <= ebv_max``, ``psfsize_r <= psfsize_r_max``, ``psfdepth_mag5_r >= psfdepth_r_min``.

    A null or NaN value fails (as in the original).
    """
    needed = ("ebv", "psfsize_r", "psfdepth_mag5_r")
    missing = [c for c in needed if c not in bricks.column_names]
    if missing:
        raise MissingColumnError("bricks table", missing)

    def values(name):
        return bricks[name].to_numpy(zero_copy_only=False).astype(np.float64)

    with np.errstate(invalid="ignore"):
        return (
            (values("ebv") <= config.ebv_max)
            & (values("psfsize_r") <= config.psfsize_r_max)
            & (values("psfdepth_mag5_r") >= config.psfdepth_r_min)
        )


def healpix_cell(ra, dec, nside: int) -> np.ndarray:
    """Nested HEALPix index (int64) of positions in deg."""
    return np.asarray(
        lonlat_to_healpix(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg, nside, order="nested"),
        dtype=np.int64,
    )


def connected_regions(bricks: pa.Table, config: RegionConfig) -> pa.Table:
    """Region of every quality-passing brick: ``brickname, region_id, healpix_cell, brick_degree``.

    ``bricks`` needs ``brickname, ra, dec, ra1, ra2, dec1, dec2`` and the quality columns. Bricks are
    linked when their boxes touch (``brick_neighbours``) and, when bounded, lie in the same HEALPix
    cell (by brick centre). ``brick_degree`` counts a brick's links inside its region.
    """
    good = bricks.filter(pa.array(brick_quality(bricks, config)))
    names = np.array(good["brickname"].to_pylist(), dtype=object)
    n = len(names)
    cells = (
        healpix_cell(good["ra"].to_numpy(), good["dec"].to_numpy(), config.healpix_nside)
        if config.healpix_nside
        else np.zeros(n, dtype=np.int64)
    )
    pairs = brick_neighbours(good, tolerance_deg=config.touch_tolerance_arcsec / 3600.0)
    index = {name: i for i, name in enumerate(names)}
    a = np.array([index[x] for x in pairs["brickname"].to_pylist()], dtype=np.int64)
    b = np.array([index[x] for x in pairs["neighbour"].to_pylist()], dtype=np.int64)
    same_cell = cells[a] == cells[b] if len(a) else np.zeros(0, dtype=bool)
    a, b = a[same_cell], b[same_cell]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    order = np.argsort(names)  # the smallest name of each component names it
    first = {}
    for i in order:
        first.setdefault(labels[i], names[i])
    region_id = [first[label] for label in labels]
    degree = np.bincount(a, minlength=n)
    table = pa.table(
        {
            "brickname": names.tolist(),
            "region_id": region_id,
            "healpix_cell": cells if config.healpix_nside else pa.nulls(n, pa.int64()),
            "brick_degree": degree.astype(np.int64),
        }
    )
    return table.sort_by("brickname")


def _stats_sql(column: str) -> str:
    return (
        f"avg({column}) AS {column}_mean, stddev_samp({column}) AS {column}_std, "
        f"quantile_cont({column}, 0.1) AS {column}_p10, quantile_cont({column}, 0.5) AS {column}_p50, "
        f"quantile_cont({column}, 0.9) AS {column}_p90"
    )


def region_metrics(region_bricks: pa.Table, config: RegionConfig) -> pa.Table:
    """Per-region metrics and ranking scores from bricks with their region and LRG counts.

    ``region_bricks``: one row per brick with ``region_id, ra1, ra2, dec1, dec2, area_deg2, n_gal,
    n_lrg_<variant>`` and the stat columns. Output: ``n_bricks, area_deg2, n_gal_total,
    n_lrg_<variant>_total``, ``lrg_density_<variant>_areaweighted = sum n / sum area`` (per deg^2),
    mean/std/p10/p50/p90 of PSF size r, depth r, EBV, brick degree, galaxy density and v3 LRG
    fraction; ``ra_min, ra_max`` (deg; ``ra_min > ra_max`` when the region crosses RA 0/360),
    ``dec_min, dec_max``, ``compactness`` (area over the area of the RA/Dec bounding box), and the
    scores (see :func:`ranking_scores`). Sorted by region_id.
    """
    totals = ", ".join(f"sum(n_lrg_{v})::BIGINT AS n_lrg_{v}_total" for v in LRG_VARIANT_NAMES)
    densities = ", ".join(
        f"sum(n_lrg_{v}) / sum(area_deg2) AS lrg_density_{v}_areaweighted" for v in LRG_VARIANT_NAMES
    )
    stats = ", ".join(_stats_sql(c) for c in STAT_COLUMNS)
    query = f"""
        WITH b AS (
            SELECT *, n_gal / area_deg2 AS gal_density,
                   CASE WHEN n_gal > 0 THEN n_lrg_v3_color_relaxed / n_gal END AS lrg_frac_v3,
                   first_value(ra1) OVER (PARTITION BY region_id ORDER BY brickname) AS ra_ref
            FROM region_bricks
        ), offsets AS (
            -- RA offsets from a member brick, in (-180, 180]: right across RA 0/360 for any region < 180 deg
            SELECT *, ((ra1 - ra_ref + 540) % 360) - 180 AS off1,
                      ((ra1 - ra_ref + 540) % 360) - 180 + ((ra2 - ra1 + 360) % 360) AS off2
            FROM b
        )
        SELECT region_id, count(*)::BIGINT AS n_bricks, sum(area_deg2) AS area_deg2, sum(n_gal)::BIGINT AS n_gal_total,
               {totals}, {densities}, {stats},
               (min(ra_ref) + min(off1) + 360) % 360 AS ra_min, (min(ra_ref) + max(off2) + 360) % 360 AS ra_max,
               max(off2) - min(off1) AS ra_span, min(dec1) AS dec_min, max(dec2) AS dec_max
        FROM offsets GROUP BY region_id ORDER BY region_id
    """
    with duckdb.connect() as con:
        con.register("region_bricks", region_bricks)
        metrics = con.sql(query).to_arrow_table()
    span = metrics["ra_span"].to_numpy()
    box = brick_area_deg2(
        np.zeros_like(span), span, metrics["dec_min"].to_numpy(), metrics["dec_max"].to_numpy()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        compactness = np.where(box > 0, metrics["area_deg2"].to_numpy() / box, np.nan)
    metrics = metrics.drop_columns(["ra_span"]).append_column("compactness", pa.array(compactness))
    return ranking_scores(metrics, config)


def ranking_scores(metrics: pa.Table, config: RegionConfig) -> pa.Table:
    """The original's four ranking scores, from region medians.

    ``score_density = D = lrg_density_v3_areaweighted``; ``score_n_lrg = n_lrg_v3_total``;
    ``score_area_weighted = D * area^alpha``; ``score_psf_weighted = D * w_psf * w_depth * w_ebv`` with
    ``w_psf = clip(exp(-(psf_p50 - 1.25)/0.25), 0, 1)``, ``w_depth = 1/(1 + exp(-(depth_p50 - 23.8)/0.25))``,
    ``w_ebv = clip(exp(-4 ebv_p50), 0, 1)``. The weights are kept as columns.
    """
    density = metrics["lrg_density_v3_color_relaxed_areaweighted"].to_numpy()
    area = metrics["area_deg2"].to_numpy()
    w_psf = np.clip(np.exp(-(metrics["psfsize_r_p50"].to_numpy() - 1.25) / 0.25), 0, 1)
    w_depth = 1.0 / (1.0 + np.exp(-(metrics["psfdepth_mag5_r_p50"].to_numpy() - 23.8) / 0.25))
    w_ebv = np.clip(np.exp(-4.0 * metrics["ebv_p50"].to_numpy()), 0, 1)
    columns = {
        "w_psf": w_psf,
        "w_depth": w_depth,
        "w_ebv": w_ebv,
        "score_density": density,
        "score_n_lrg": metrics["n_lrg_v3_color_relaxed_total"].to_numpy().astype(np.float64),
        "score_area_weighted": density * area**config.area_weight_alpha,
        "score_psf_weighted": density * w_psf * w_depth * w_ebv,
    }
    for name, values in columns.items():
        metrics = metrics.append_column(name, pa.array(values))
    return metrics
