"""Phase 2: LRG selection from sweep rows — base cuts, magnitudes and colours, the five variant flags.

Magnitudes are AB from nanomaggies (``22.5 - 2.5 log10 flux``). Selection uses dereddened magnitudes
(``FLUX / MW_TRANSMISSION``, what DESI does) when ``deredden`` is on, raw magnitudes (what the original
pipeline did) when off; both sets are kept as columns either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.conventions import LRG_VARIANT_NAMES, MaskBits, deredden_flux, flux_to_mag, passes_lrg_variant

VARIANT_FLAGS = tuple(f"is_{name}" for name in LRG_VARIANT_NAMES)
QUALITY_MASK = MaskBits.BRIGHT | MaskBits.GALAXY | MaskBits.CLUSTER
MAG_BANDS = ("g", "r", "z", "w1")

SWEEP_LRG_INPUT_COLUMNS = (
    *("RELEASE", "BRICKNAME", "OBJID", "RA", "DEC", "TYPE"),
    *(f"FLUX_{b}" for b in ("G", "R", "Z", "W1")),
    *(f"MW_TRANSMISSION_{b}" for b in ("G", "R", "Z", "W1")),
    "MASKBITS",
    *(f"{quantity}_{b}" for quantity in ("NOBS", "PSFSIZE", "PSFDEPTH") for b in "GRZ"),
    *("SHAPE_R", "SHAPE_E1", "SHAPE_E2", "SERSIC"),
)
"""The sweep columns Phase 2 reads (and only these)."""


@dataclass(frozen=True)
class LrgSelectionConfig:
    """``deredden``: select on extinction-corrected magnitudes (default; off reproduces the original).
    ``quality_cuts``: also require NOBS_G/R/Z >= 1 and no BRIGHT/GALAXY/CLUSTER maskbit (off by default,
    as in the original)."""

    deredden: bool = True
    quality_cuts: bool = False


def _magnitudes(table: pa.Table, deredden: bool) -> dict[str, np.ndarray]:
    mags = {}
    for band in MAG_BANDS:
        flux = table[f"flux_{band}"].to_numpy(zero_copy_only=False).astype(np.float64)
        if deredden:
            flux = deredden_flux(flux, table[f"mw_transmission_{band}"].to_numpy(zero_copy_only=False))
        mags[band] = flux_to_mag(flux)
    return mags


def _not_psf(table: pa.Table) -> np.ndarray:
    return np.asarray(
        pc.not_equal(pc.utf8_upper(pc.utf8_trim_whitespace(table["type"])), "PSF").fill_null(False)
    )


def _flags(mags: dict[str, np.ndarray], not_psf: np.ndarray) -> dict[str, np.ndarray]:
    rz = mags["r"] - mags["z"]
    zw1 = mags["z"] - mags["w1"]
    return {
        flag: passes_lrg_variant(mags["z"], rz, zw1, name) & not_psf
        for flag, name in zip(VARIANT_FLAGS, LRG_VARIANT_NAMES)
    }


def lrg_variant_flags(table: pa.Table, deredden: bool) -> pa.Table:
    """The five variant flags (``is_v1_pure_massive`` ... ``is_v5_very_relaxed``), row for row.

    Input columns ``flux_g, flux_r, flux_z, flux_w1, type`` (nanomaggies), plus ``mw_transmission_<b>``
    when ``deredden``. A row is flagged when its TYPE is not PSF and it passes the variant's strict cuts
    on z, r - z and z - W1; a NaN magnitude (flux <= 0) fails every variant.
    """
    flags = _flags(_magnitudes(table, deredden), _not_psf(table))
    return pa.table({name: pa.array(values) for name, values in flags.items()})


def _filter(column: pa.ChunkedArray, keep: np.ndarray) -> pa.Array:
    """Rows of ``column`` where ``keep``: numpy for fixed-width numbers (fast), Arrow for the rest."""
    if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and column.null_count == 0:
        return pa.array(column.to_numpy()[keep])
    return pc.filter(column, pa.array(keep)).combine_chunks()


BASE_CUT_REASONS = (
    "type_psf",
    "flux_r_not_positive",
    "flux_z_not_positive",
    "flux_w1_not_positive",
    "magnitude_not_finite",
    "quality_cuts",
)
INVALID_VALUE_REASONS = (
    "magnitude_not_finite",
)  # values, not physics: a sweep losing many rows this way is broken


def base_cut_failures(
    sweep: pa.Table, config: LrgSelectionConfig, mags: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The rows each base cut fails (``BASE_CUT_REASONS`` order; a row may fail several): TYPE PSF; FLUX_R, FLUX_Z,
    FLUX_W1 not > 0 (NaN included); a non-finite r, z or W1 magnitude of ``mags``, the set used for selection (e.g. a
    NaN or non-positive MW transmission); the optional quality cuts (NOBS_G/R/Z >= 1, no BRIGHT/GALAXY/CLUSTER)."""
    fails = {"type_psf": ~_not_psf(sweep)}
    for band in ("r", "z", "w1"):
        fails[f"flux_{band}_not_positive"] = ~(sweep[f"flux_{band}"].to_numpy(zero_copy_only=False) > 0)
    fails["magnitude_not_finite"] = ~(
        np.isfinite(mags["r"]) & np.isfinite(mags["z"]) & np.isfinite(mags["w1"])
    )
    quality = np.zeros(sweep.num_rows, bool)
    if config.quality_cuts:
        for band in ("g", "r", "z"):
            quality |= ~(sweep[f"nobs_{band}"].to_numpy(zero_copy_only=False) >= 1)
        quality |= (sweep["maskbits"].to_numpy(zero_copy_only=False) & int(QUALITY_MASK)) != 0
    fails["quality_cuts"] = quality
    return fails


def base_cut_drops(sweep: pa.Table, config: LrgSelectionConfig) -> dict[str, int]:
    """Rows of a sweep each base cut removes, counted under the first reason that removes them
    (:func:`base_cut_failures`); sums to the rows :func:`select_sweep_galaxies` does not keep."""
    removed = np.zeros(sweep.num_rows, bool)
    drops = {}
    for reason, fails in base_cut_failures(sweep, config, _magnitudes(sweep, config.deredden)).items():
        drops[reason] = int((fails & ~removed).sum())
        removed |= fails
    return drops


def select_sweep_galaxies(sweep: pa.Table, config: LrgSelectionConfig) -> pa.Table:
    """Phase 2 on one sweep: every galaxy passing the base cuts, with magnitudes, colours and flags.

    Base cuts (:func:`base_cut_failures`): TYPE != PSF; FLUX_R, FLUX_Z, FLUX_W1 > 0; finite r, z, W1 magnitudes of the
    set used for selection. With ``config.quality_cuts``: NOBS_G/R/Z >= 1 and MASKBITS without BRIGHT, GALAXY, CLUSTER.
    Output columns: the sweep's identifiers, position, type, fluxes, maskbits, nobs, PSF size and depth
    (inverse variance) per band, shape; ``gmag, rmag, zmag, w1mag, rz, zw1`` (raw) and the same with
    ``_mw`` (dereddened); the five flags.
    """
    raw = _magnitudes(sweep, deredden=False)
    mw = _magnitudes(sweep, deredden=True)
    chosen = mw if config.deredden else raw
    keep = ~np.logical_or.reduce(list(base_cut_failures(sweep, config, chosen).values()))
    columns = {name: _filter(column, keep) for name, column in zip(sweep.column_names, sweep.columns)}
    kept = {}
    for suffix, mags in (("", raw), ("_mw", mw)):
        kept[suffix] = {band: mags[band][keep] for band in MAG_BANDS}
        for band in MAG_BANDS:
            columns[f"{band}mag{suffix}"] = pa.array(kept[suffix][band])
        columns[f"rz{suffix}"] = pa.array(kept[suffix]["r"] - kept[suffix]["z"])
        columns[f"zw1{suffix}"] = pa.array(kept[suffix]["z"] - kept[suffix]["w1"])
    flags = _flags(kept["_mw" if config.deredden else ""], np.ones(int(keep.sum()), dtype=bool))
    for name, values in flags.items():
        columns[name] = pa.array(values)
    return pa.table(columns)


def within_bricks(table: pa.Table, bricknames: pa.ChunkedArray | pa.Array) -> tuple[pa.Table, int]:
    """The rows of a Phase 2 table on the given bricks (a footprint's), and how many rows were on others."""
    kept = table.filter(pc.is_in(table["brickname"], value_set=pa.array(bricknames.to_pylist(), pa.string())))
    return kept, table.num_rows - kept.num_rows


def brick_lrg_count_sql(source: str) -> str:
    """DuckDB query of the original's Phase 2 table from a ``sweep_lrgs`` relation ``source``.

    One row per brick: ``brickname, n_gal, n_lrg_v1_pure_massive ... n_lrg_v5_very_relaxed`` (summed
    over sweep files, as a brick's objects may sit in two), sorted by brickname.
    """
    sums = ", ".join(
        f"sum(CAST({flag} AS INTEGER))::BIGINT AS n_lrg_{name}"
        for flag, name in zip(VARIANT_FLAGS, LRG_VARIANT_NAMES)
    )
    return f"SELECT brickname, count(*)::BIGINT AS n_gal, {sums} FROM {source} GROUP BY brickname ORDER BY brickname"
