import math

import numpy as np
import pytest

from dhs_core import conventions as cv
from dhs_core.survey.sweeps import read_sweep


def test_zero_point_and_magnitudes():
    assert cv.AB_ZEROPOINT == 22.5
    assert float(cv.flux_to_mag(1.0)) == 22.5
    assert float(cv.flux_to_mag(10.0)) == pytest.approx(20.0, abs=1e-12)
    mags = cv.flux_to_mag([0.0, -1.0, np.nan, 100.0])
    assert np.isnan(mags[:3]).all() and mags[3] == pytest.approx(17.5)
    flux = np.array([0.01, 1.0, 123.4])
    np.testing.assert_allclose(cv.mag_to_flux(cv.flux_to_mag(flux)), flux, rtol=1e-13)


def test_pixel_scale_and_bands():
    assert cv.PIXEL_SCALE_ARCSEC == 0.262
    assert cv.BANDS == ("g", "r", "z")
    assert set(cv.ALL_BANDS) == {"g", "r", "i", "z", "w1", "w2"}


def test_extinction_coefficients_are_dr10s():
    assert cv.EXTINCTION_COEFFICIENTS == {
        "g": 3.214,
        "r": 2.165,
        "i": 1.592,
        "z": 1.211,
        "w1": 0.184,
        "w2": 0.113,
    }
    assert float(cv.mw_transmission(0.1, "G")) == pytest.approx(10 ** (-0.4 * 0.3214))
    with pytest.raises(ValueError, match="band 'y'"):
        cv.extinction_coefficient("y")


def test_dereddening_matches_real_sweep_transmissions(reference_data):
    """DR8 sweeps carry EBV and MW_TRANSMISSION_*: our coefficients reproduce them."""
    table = read_sweep(
        str(reference_data / "legacysurvey_dr8_sweeps/sweep-310m005-320p000.fits"),
        ["EBV", "MW_TRANSMISSION_G", "MW_TRANSMISSION_R", "MW_TRANSMISSION_Z", "MW_TRANSMISSION_W1"],
    )
    ebv = table["ebv"].to_numpy()
    for band in ("g", "r", "z", "w1"):
        np.testing.assert_allclose(
            cv.mw_transmission(ebv, band), table[f"mw_transmission_{band}"].to_numpy(), rtol=2e-3
        )
    dered = cv.deredden_flux([1.0, 1.0, 1.0], [0.5, 0.0, np.nan])
    assert dered[0] == 2.0 and np.isnan(dered[1:]).all()


def test_depth_units_are_kept_apart():
    # sigma = 0.2 nMgy -> ivar 25 -> 5 sigma = 1 nMgy = 22.5 mag
    assert float(cv.sweep_psfdepth_to_mag5(25.0)) == pytest.approx(22.5)
    m5 = np.array([23.6, 24.5, 25.1])
    np.testing.assert_allclose(cv.sweep_psfdepth_to_mag5(cv.mag5_to_sweep_psfdepth(m5)), m5, rtol=1e-13)
    assert np.isnan(cv.sweep_psfdepth_to_mag5([0.0, -3.0])).all()
    assert cv.depth_column("psfdepth", "mag5", "R") == "psfdepth_mag5_r"
    assert cv.unambiguous_depth_names(["psfdepth_g", "galdepth_z", "psfdepth_ivar_r", "flux_g"], "ivar") == [
        "psfdepth_ivar_g",
        "galdepth_ivar_z",
        "psfdepth_ivar_r",
        "flux_g",
    ]


def test_real_sweep_depths_give_plausible_magnitudes(reference_data):
    table = read_sweep(
        str(reference_data / "legacysurvey_dr8_sweeps/sweep-320m005-330p000.fits"), ["PSFDEPTH_R"]
    )
    m5 = cv.sweep_psfdepth_to_mag5(table["psfdepth_ivar_r"].to_numpy())
    assert np.all((m5 > 22.5) & (m5 < 26.5))


@pytest.mark.parametrize(
    "name,bit",
    [
        ("NPRIMARY", 0),
        ("BRIGHT", 1),
        ("SATUR_G", 2),
        ("SATUR_R", 3),
        ("SATUR_Z", 4),
        ("ALLMASK_G", 5),
        ("ALLMASK_R", 6),
        ("ALLMASK_Z", 7),
        ("WISEM1", 8),
        ("WISEM2", 9),
        ("BAILOUT", 10),
        ("MEDIUM", 11),
        ("GALAXY", 12),
        ("CLUSTER", 13),
        ("SATUR_I", 14),
        ("ALLMASK_I", 15),
        ("SUB_BLOB", 16),
    ],
)
def test_maskbits_are_dr10s(name, bit):
    assert cv.MaskBits[name] == 1 << bit


def test_bad_pixel_masks_are_per_band():
    r_bad = cv.BAD_PIXEL["r"]
    assert r_bad & cv.MaskBits.SATUR_R and r_bad & cv.MaskBits.ALLMASK_R and r_bad & cv.MaskBits.BRIGHT
    assert not r_bad & cv.MaskBits.SATUR_Z and not r_bad & cv.MaskBits.ALLMASK_G
    assert not r_bad & cv.MaskBits.NPRIMARY  # outside the primary region is not a bad pixel
    bits = {b for b in range(17) if cv.NEGATIVE_EXCLUSION & (1 << b)}
    assert bits == {1, 5, 6, 7, 11, 12, 13}


def test_stamp_origin_rounds_half_up_and_keeps_the_subpixel_position():
    # np.round would send 32.5 to 32 and 31.5 to 32 (half to even); the convention is floor(x + 0.5)
    x0, _ = cv.stamp_origin(np.array([31.5, 32.5, 32.49, -0.5]), np.zeros(4), size=64)
    assert x0.tolist() == [0, 1, 0, -32]
    rng = np.random.default_rng(0)
    x = rng.uniform(-50, 5000, 10_000)
    for size in (63, 64, 101):
        px, _ = cv.position_in_stamp(x, x, size)
        assert np.all(px >= size // 2 - 0.5) and np.all(px < size // 2 + 0.5)


def test_pixel_offsets_follow_the_convention():
    dx, dy = cv.pixel_offsets_arcsec((5, 7), center_x=3.0, center_y=2.0)
    assert dx.shape == (5, 7) and dx[2, 3] == 0.0 and dy[2, 3] == 0.0
    assert dx[0, 4] == pytest.approx(0.262) and dy[4, 0] == pytest.approx(2 * 0.262)
    # oversampled sub-pixel centres average to the pixel centre
    sx, sy = cv.pixel_offsets_arcsec((5, 7), 3.0, 2.0, oversample=4)
    assert sx.shape == (20, 28)
    np.testing.assert_allclose(sx.reshape(5, 4, 7, 4).mean(axis=(1, 3)), dx, atol=1e-15)
    np.testing.assert_allclose(sy.reshape(5, 4, 7, 4).mean(axis=(1, 3)), dy, atol=1e-15)
    with pytest.raises(ValueError):
        cv.pixel_offsets_arcsec((2, 2), 0, 0, oversample=0)
    assert math.isclose(cv.DEG2_PER_SR, 3282.806350011744)
