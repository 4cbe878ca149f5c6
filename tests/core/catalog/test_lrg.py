import numpy as np
import pyarrow as pa
import pytest

from dhs_core.catalog.lrg import (
    VARIANT_FLAGS,
    LrgSelectionConfig,
    brick_lrg_count_sql,
    lrg_variant_flags,
    select_sweep_galaxies,
)
from dhs_core.conventions import mag_to_flux, passes_lrg_variant
from dhs_core.survey.fits_table import read_fits_columns
from dhs_core.tables import connect


def _rows(z, rz, zw1, types=None, transmission=1.0):
    z, rz, zw1 = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (z, rz, zw1))
    n = len(z)
    columns = {
        "flux_g": mag_to_flux(z + rz + 1.7),
        "flux_r": mag_to_flux(z + rz),
        "flux_z": mag_to_flux(z),
        "flux_w1": mag_to_flux(z - zw1),
        "type": types or ["DEV"] * n,
    }
    for band in ("g", "r", "z", "w1"):
        columns[f"mw_transmission_{band}"] = np.full(n, transmission)
    return pa.table(columns)


def test_variant_cuts_are_strict_at_the_boundaries():
    assert VARIANT_FLAGS == (
        "is_v1_pure_massive",
        "is_v2_baseline_dr10",
        "is_v3_color_relaxed",
        "is_v4_mag_relaxed",
        "is_v5_very_relaxed",
    )
    # exactly on a cut fails, a hair inside passes (magnitudes given directly: no flux round trip)
    assert not passes_lrg_variant(20.4, 1.0, 1.0, "v3_color_relaxed")
    assert passes_lrg_variant(np.nextafter(20.4, 0), 1.0, 1.0, "v3_color_relaxed")
    assert not passes_lrg_variant(20.0, 0.4, 1.0, "v3_color_relaxed")
    assert not passes_lrg_variant(20.0, 1.0, 0.8, "v3_color_relaxed")
    assert not passes_lrg_variant(19.0, 0.5, 2.0, "v1_pure_massive")
    assert passes_lrg_variant(19.0, 0.5001, 1.6001, "v1_pure_massive")
    assert not passes_lrg_variant(np.nan, 1.0, 1.0, "v5_very_relaxed")
    with pytest.raises(ValueError, match="unknown LRG variant"):
        passes_lrg_variant(19, 1, 1, "v6")


def test_flags_row_for_row_from_fluxes():
    table = _rows(
        [19.5, 20.3, 20.9, 21.3, 22.0, 19.5],
        [1.0, 1.0, 0.45, 0.35, 1.0, 1.0],
        [1.8, 1.0, 1.0, 1.0, 1.0, 1.8],
        types=["DEV", "REX", "SER", "EXP", "DEV", "PSF"],
    )
    flags = lrg_variant_flags(table, deredden=False)
    assert flags.column_names == list(VARIANT_FLAGS)
    got = np.array([flags[f].to_pylist() for f in VARIANT_FLAGS]).T.astype(int).tolist()
    assert got == [
        [1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1],
        [0, 0, 0, 1, 1],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]


def test_non_positive_flux_fails_every_variant():
    table = _rows([19.0], [1.0], [1.5])
    table = table.set_column(table.column_names.index("flux_w1"), "flux_w1", pa.array([-1.0]))
    assert not any(lrg_variant_flags(table, deredden=False).to_pylist()[0].values())


def test_dereddening_switch():
    # raw z = 20.45 fails v3; dereddened by a transmission of 0.9 it is 20.336 and passes
    table = _rows([20.45], [1.0], [1.2], transmission=0.9)
    assert not lrg_variant_flags(table, deredden=False)["is_v3_color_relaxed"][0].as_py()
    assert lrg_variant_flags(table, deredden=True)["is_v3_color_relaxed"][0].as_py()


def test_base_cuts_and_both_magnitude_sets():
    table = _rows(
        [19.0, 19.0, 19.0, 19.0], [1.0] * 4, [1.5] * 4, types=["DEV", "PSF", "REX", "EXP"], transmission=0.8
    )
    flux_r = table["flux_r"].to_numpy().copy()
    flux_r[2] = 0.0  # fails the base cuts
    table = table.set_column(table.column_names.index("flux_r"), "flux_r", pa.array(flux_r))
    n = table.num_rows
    table = table.append_column("maskbits", pa.array([0, 0, 0, 2], pa.int32()))
    for band in "grz":
        table = table.append_column(f"nobs_{band}", pa.array([1, 1, 1, 0], pa.int16()))
    out = select_sweep_galaxies(table, LrgSelectionConfig())
    assert out["type"].to_pylist() == ["DEV", "EXP"]
    assert out["zmag"][0].as_py() == pytest.approx(19.0)
    assert out["zmag_mw"][0].as_py() == pytest.approx(19.0 + 2.5 * np.log10(0.8))
    assert out["rz_mw"][0].as_py() == pytest.approx(1.0)
    strict = select_sweep_galaxies(table, LrgSelectionConfig(quality_cuts=True))
    assert strict["type"].to_pylist() == ["DEV"]  # EXP has NOBS_Z = 0 and the BRIGHT bit
    assert n == 4


def test_selection_agrees_with_desi_lrg_targets(reference_data):
    """On 1,001 real DR8 targets, the relaxed variants recover DESI's own LRGs and little else."""
    table = read_fits_columns(str(reference_data / "legacysurvey_dr8_sweeps/targets.fits"), None)
    table = table.append_column("type", pa.array(["REX"] * table.num_rows))  # targets carry no TYPE
    desi_lrg = (table["desi_target"].to_numpy() & 1) != 0
    assert desi_lrg.sum() == 182
    flags = lrg_variant_flags(table, deredden=True)
    values = [flags[f].to_numpy(zero_copy_only=False) for f in VARIANT_FLAGS]
    assert all(np.all(~a | b) for a, b in zip(values[:-1], values[1:]))  # nested on real data
    v3, v4 = values[2], values[3]
    assert v4[desi_lrg].mean() > 0.8  # completeness against DESI's selection
    assert desi_lrg[v3].mean() > 0.9  # purity: v3 objects are DESI LRGs


def test_brick_counts_sum_over_sweeps():
    rows = pa.table(
        {"brickname": ["a", "a", "b", "a"], **{f: [True, False, True, True] for f in VARIANT_FLAGS}}
    )
    with connect() as con:
        con.register("g", rows)
        counts = con.sql(brick_lrg_count_sql("g")).to_arrow_table()
    assert counts.to_pylist()[0] == {
        "brickname": "a",
        "n_gal": 3,
        **{f"n_lrg_{f[3:]}": 2 for f in VARIANT_FLAGS},
    }
    assert counts["brickname"].to_pylist() == ["a", "b"]
