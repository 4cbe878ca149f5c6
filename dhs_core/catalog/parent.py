"""Phase 3c: the parent sample — one row per LRG of the chosen variant in the selected regions.

Selection-set membership is a list column (never one row per set: the original duplicated galaxies up
to 12 times). ``row_id`` is Spark's ``xxhash64(brickname, objid)``, stable across runs and engines.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from dhs_core.catalog.lrg import VARIANT_FLAGS
from dhs_core.conventions import BANDS, LRG_VARIANT_NAMES, sweep_psfdepth_to_mag5
from dhs_core.errors import ConfigError
from dhs_core.evaluate.known_lenses import KNOWN_LENS_RADIUS_ARCSEC
from dhs_core.hashing import spark_xxhash64

PARENT_GALAXY_COLUMNS = (
    "release",
    "brickname",
    "objid",
    "ra",
    "dec",
    "type",
    "maskbits",
    "flux_g",
    "flux_r",
    "flux_z",
    "flux_w1",
    "gmag",
    "rmag",
    "zmag",
    "w1mag",
    "rz",
    "zw1",
    "gmag_mw",
    "rmag_mw",
    "zmag_mw",
    "w1mag_mw",
    "rz_mw",
    "zw1_mw",
    "shape_r",
    "shape_e1",
    "shape_e2",
    "sersic",
    *VARIANT_FLAGS,
)
OBJECT_CONDITIONS = tuple(f"psfsize_{b}" for b in BANDS) + tuple(f"psfdepth_mag5_{b}" for b in BANDS)
"""The galaxy's own PSF FWHM (arcsec) and 5-sigma point-source depth (AB mag), from its sweep row; null where the
sweep has none (size <= 0, inverse variance <= 0)."""


@dataclass(frozen=True)
class ParentConfig:
    """``variant``: the LRG selection variant whose galaxies make the parent sample (``LRG_VARIANT_NAMES``);
    ``known_lens_radius_arcsec``: no galaxy within this distance of a known lens or candidate enters it
    (``dhs_core.evaluate.known_lenses``; default a stamp's half-diagonal, 11.9"; 0: no exclusion)."""

    variant: str = "v3_color_relaxed"
    known_lens_radius_arcsec: float = KNOWN_LENS_RADIUS_ARCSEC

    def __post_init__(self):
        if f"is_{self.variant}" not in VARIANT_FLAGS:
            raise ConfigError("parent.variant", self.variant, f"one of {list(LRG_VARIANT_NAMES)}")
        if not self.known_lens_radius_arcsec >= 0:
            raise ConfigError("parent.known_lens_radius_arcsec", self.known_lens_radius_arcsec, ">= 0 arcsec")


def parent_sample(
    con: duckdb.DuckDBPyConnection,
    galaxies: str,
    region_bricks: pa.Table,
    selections: pa.Table,
    split: str,
    variant: str = ParentConfig.variant,
) -> pa.Table:
    """The parent sample of one split.

    ``galaxies``: the name of a DuckDB relation holding every ``sweep_lrgs`` row; ``region_bricks``
    (Phase 3a) gives each brick's region, split, guard-band flag and conditions; ``selections`` holds all
    selection sets (Phase 3b). Brick PSF sizes <= 0 or NaN become null (missing coverage, never a PSF of
    zero). Each galaxy's own conditions (``OBJECT_CONDITIONS``) come from its sweep row. Rows sorted by (brickname, objid).
    """
    flag = f"is_{variant}"
    if flag not in VARIANT_FLAGS:
        raise ConfigError("parent.variant", variant, f"one of {list(LRG_VARIANT_NAMES)}")
    psf = ", ".join(
        f"CASE WHEN rb.psfsize_{b} > 0 AND NOT isnan(rb.psfsize_{b}) THEN rb.psfsize_{b} END AS brick_psfsize_{b}"
        for b in "grz"
    )
    depth = ", ".join(f"rb.psfdepth_mag5_{b} AS brick_psfdepth_mag5_{b}" for b in "grz")
    own = ", ".join(
        [
            *(
                f"CASE WHEN g.psfsize_{b} > 0 AND NOT isnan(g.psfsize_{b}) THEN g.psfsize_{b} END AS psfsize_{b}"
                for b in BANDS
            ),
            *(f"g.psfdepth_ivar_{b}" for b in BANDS),
        ]
    )
    columns = ", ".join(f"g.{c}" for c in PARENT_GALAXY_COLUMNS)
    con.register("region_bricks_t", region_bricks)
    con.register("selections_t", selections)
    query = f"""
        WITH sets AS (
            SELECT region_id, list(DISTINCT selection_set_id ORDER BY selection_set_id) AS selection_sets
            FROM selections_t GROUP BY region_id
        )
        SELECT {columns}, {own}, rb.region_id, rb.split, sets.selection_sets, {psf}, {depth}, rb.ebv AS brick_ebv
        FROM {galaxies} g
        JOIN region_bricks_t rb ON rb.brickname = g.brickname
        JOIN sets ON sets.region_id = rb.region_id
        WHERE g.{flag} AND rb.split = $split AND NOT rb.guard_dropped
        ORDER BY g.brickname, g.objid
    """
    table = con.sql(query, params={"split": split}).to_arrow_table()
    for b in BANDS:  # inverse variance (nMgy^-2) -> 5-sigma AB mag, in place
        mag5 = sweep_psfdepth_to_mag5(
            table[f"psfdepth_ivar_{b}"].to_numpy(zero_copy_only=False).astype(np.float64)
        )
        index = table.column_names.index(f"psfdepth_ivar_{b}")
        table = table.set_column(index, f"psfdepth_mag5_{b}", pa.array(mag5, mask=~np.isfinite(mag5)))
    row_id = spark_xxhash64(table["brickname"], table["objid"])
    return table.add_column(0, "row_id", pa.array(row_id))
