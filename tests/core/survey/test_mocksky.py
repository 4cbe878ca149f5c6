import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from astropy.io import fits

from dhs_core.catalog.lrg import lrg_variant_flags
from dhs_core.conventions import MaskBits, flux_to_mag
from dhs_core.errors import InputFileError
from dhs_core.survey.bricks import brick_neighbours, read_bricks_table
from dhs_core.survey.coadds import BAND_MISSING, CoaddBrick, read_compressed_image
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.mock_catalog import DR10_MEDIAN_DENSITY
from dhs_core.survey.mock_render import lensed_arc
from dhs_core.survey.mocksky import LENSCAT_COLUMNS, build_mock_sky
from dhs_core.survey.sweeps import PIPELINE_SWEEP_COLUMNS, SWEEP_FORMATS, read_sweep


def _sweeps(root: Path) -> pa.Table:
    layout = SurveyLayout(str(root))
    return pa.concat_tables([read_sweep(p) for p in layout.sweep_paths()])


def _variant_counts(table: pa.Table) -> list[int]:
    flags = lrg_variant_flags(table, deredden=True)
    return [int(np.sum(flags[name].to_numpy(zero_copy_only=False))) for name in flags.column_names]


def _clusters(bricks: pa.Table) -> list[set[str]]:
    pairs = brick_neighbours(bricks)
    parent = {name: name for name in bricks["brickname"].to_pylist()}

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for a, b in zip(pairs["brickname"].to_pylist(), pairs["neighbour"].to_pylist()):
        parent[find(a)] = find(b)
    groups = {}
    for name in parent:
        groups.setdefault(find(name), set()).add(name)
    return list(groups.values())


def test_default_sky_meets_the_demo_targets(default_sky):
    layout = SurveyLayout(str(default_sky))
    bricks = read_bricks_table(layout.bricks_table_paths())
    assert bricks.num_rows >= 24
    clusters = _clusters(bricks)
    assert len(clusters) >= 6
    ra1 = dict(zip(bricks["brickname"].to_pylist(), bricks["ra1"].to_pylist()))
    assert any(any(ra1[b] > 359 for b in c) and any(ra1[b] < 1 for b in c) for c in clusters), (
        "no cluster straddles RA 0/360"
    )
    assert np.any(np.abs(bricks["dec"].to_numpy()) > 30)
    ra = bricks["ra"].to_numpy()
    assert (
        np.ptp(bricks["dec"].to_numpy()) > 20 and len(np.unique(np.round(ra, -1))) >= 5
    )  # tens of degrees apart
    assert len(layout.sweep_paths()) >= 3
    counts = _variant_counts(_sweeps(default_sky))
    assert counts[2] >= 1000
    size = sum(f.stat().st_size for f in default_sky.rglob("*") if f.is_file())
    assert size <= 300e6


def test_variants_are_nested_with_the_real_density_ratios(default_sky):
    counts = _variant_counts(_sweeps(default_sky))
    assert counts == sorted(counts) and len(set(counts)) == 5
    # ratios between variants as in DR10 South (medians 32, 81, 1202, 2801, 4968 per deg^2), within Poisson noise
    for v in range(1, 5):
        expected = DR10_MEDIAN_DENSITY[v] / DR10_MEDIAN_DENSITY[v - 1]
        assert counts[v] / counts[v - 1] == pytest.approx(expected, rel=0.5 if v == 1 else 0.2)


def test_sweep_columns_and_dtypes_are_dr10s(small_sky):
    for path in SurveyLayout(str(small_sky)).sweep_paths():
        with fits.open(path) as hdul:
            columns = hdul[1].columns
            assert columns.names == list(PIPELINE_SWEEP_COLUMNS)
            for column in columns:
                assert column.format == SWEEP_FORMATS.get(column.name, "E"), column.name
        table = read_sweep(path)
        assert (
            table.num_rows > 0
            and len(set(zip(table["brickname"].to_pylist(), table["objid"].to_pylist()))) == table.num_rows
        )
        assert set(table["type"].to_pylist()) <= {"PSF", "REX", "EXP", "DEV", "SER"}


def test_coadd_wcs_agrees_with_the_bricks_table(small_sky):
    layout = SurveyLayout(str(small_sky))
    bricks = read_bricks_table(layout.bricks_table_paths())
    for row in bricks.to_pylist():
        brick = CoaddBrick(layout, row["brickname"])
        ny, nx = brick.shape
        x, y = brick.sky_to_pixel(row["ra"], row["dec"])
        assert float(x) == pytest.approx((nx - 1) / 2, abs=1e-6) and float(y) == pytest.approx(
            (ny - 1) / 2, abs=1e-6
        )
        for ra, dec in ((row["ra1"], row["dec1"]), (row["ra2"], row["dec2"]), (row["ra1"], row["dec2"])):
            cx, cy = brick.sky_to_pixel(ra, dec)
            assert 0 <= cx < nx and 0 <= cy < ny
        assert row["area_deg2"] == pytest.approx(0.01, rel=1e-3)
        for product, band in (("image", "r"), ("invvar", "z"), ("maskbits", None)):
            with fits.open(layout.coadd_path(row["brickname"], product, band)) as hdul:
                assert (
                    hdul[0].data is None
                    and isinstance(hdul[1], fits.CompImageHDU)
                    and hdul[1].compression_type == "RICE_1"
                )


def _lrg_rows(table: pa.Table, zmax: float):
    z = flux_to_mag(table["flux_z"].to_numpy() / table["mw_transmission_z"].to_numpy())
    v3 = lrg_variant_flags(table, deredden=True)["is_v3_color_relaxed"].to_numpy(zero_copy_only=False)
    ok = v3 & (z < zmax) & (table["maskbits"].to_numpy() == 0)
    return [table.slice(i, 1).to_pylist()[0] for i in np.flatnonzero(ok)]


def test_cutout_on_an_lrg_has_its_light_at_the_centre(small_sky):
    layout = SurveyLayout(str(small_sky))
    rows = _lrg_rows(_sweeps(small_sky), zmax=19.5)
    assert len(rows) >= 10
    offsets = []
    for row in rows[:30]:
        stamp = CoaddBrick(layout, row["brickname"]).cutout(row["ra"], row["dec"], size=64)
        if not stamp.all_ok:
            continue
        z = stamp.image[2] - np.median(stamp.image[2])
        yy, xx = np.mgrid[0:64, 0:64]
        near = np.hypot(xx - stamp.x, yy - stamp.y) < 4
        weights = np.clip(z, 0, None) * near
        offsets.append(
            np.hypot(
                (weights * xx).sum() / weights.sum() - stamp.x, (weights * yy).sum() / weights.sum() - stamp.y
            )
        )
        assert z[near].mean() > 5 / np.sqrt(np.median(stamp.invvar[2]))
    assert len(offsets) >= 8 and np.median(offsets) < 0.25


def _sky_sigma_and_core(image: np.ndarray, x: float, y: float):
    """Robust sigma of pixels > 35 px from the target and mean of pixels within 2 px (DESIGN's definitions)."""
    yy, xx = np.mgrid[0 : image.shape[1], 0 : image.shape[2]]
    r = np.hypot(xx - x, yy - y)
    sigma, core = [], []
    for band in image:
        sky = band[r > 35]
        sigma.append(1.4826 * np.median(np.abs(sky - np.median(sky))))
        core.append(band[r < 2].mean())
    return np.array(sigma), np.array(core)


def test_noise_and_galaxies_look_like_real_dr10_cutouts(reference_data, default_sky):
    real = []
    for path in sorted((reference_data / "dr10_cutouts").glob("*.npz")):
        cube = np.load(path)["cutout"]
        cube = cube.transpose(2, 0, 1) if cube.shape[-1] == 3 else cube
        real.append(_sky_sigma_and_core(cube, 50.0, 50.0))
    real_sigma = np.array([s for s, _ in real])
    # the measurement reproduces DESIGN.md's ranges on the real cutouts
    np.testing.assert_allclose(real_sigma.min(axis=0), [0.0016, 0.0024, 0.0055], atol=1.5e-4)
    np.testing.assert_allclose(real_sigma.max(axis=0), [0.0025, 0.0046, 0.0105], atol=1.5e-4)
    layout = SurveyLayout(str(default_sky))
    mock_sigma, mock_core = [], []
    for row in _lrg_rows(_sweeps(default_sky), zmax=20.4)[::5][:60]:
        stamp = CoaddBrick(layout, row["brickname"]).cutout(row["ra"], row["dec"], size=101)
        if stamp.all_ok:
            sigma, core = _sky_sigma_and_core(stamp.image, stamp.x, stamp.y)
            mock_sigma.append(sigma)
            mock_core.append(core)
    mock_sigma, mock_core = np.array(mock_sigma), np.array(mock_core)
    assert len(mock_sigma) >= 30
    median_sigma = np.median(mock_sigma, axis=0)
    assert np.all(median_sigma >= [0.0016, 0.0024, 0.0055]) and np.all(
        median_sigma <= [0.0025, 0.0046, 0.0105]
    )
    median_core = np.median(mock_core, axis=0)
    assert 0.03 <= median_core[1] <= 0.09 and 0.10 <= median_core[2] <= 0.41


def test_missing_band_and_nan_patch_are_present(small_sky):
    description = json.loads((small_sky / "mock_sky.json").read_text())
    layout = SurveyLayout(str(small_sky))
    missing = description["missing_band_bricks"][0]
    assert not os.path.exists(layout.coadd_path(missing, "image", "g"))
    brick = CoaddBrick(layout, missing)
    stamp = brick.cutout_at_pixel(700.0, 700.0)
    assert stamp.band_status[0] == BAND_MISSING and stamp.band_status[1:] == ("ok", "ok")
    bricks = read_bricks_table(layout.bricks_table_paths())
    row = bricks.filter(pa.compute.equal(bricks["brickname"], missing)).to_pylist()[0]
    assert row["psfsize_g"] == 0 and row["nexp_g"] == 0
    sweep = _sweeps(small_sky)
    in_brick = sweep.filter(pa.compute.equal(sweep["brickname"], missing))
    assert not np.any(in_brick["flux_g"].to_numpy()) and not np.any(in_brick["nobs_g"].to_numpy())
    patch = description["nan_patch_bricks"][0]
    image, _ = read_compressed_image(layout.coadd_path(patch, "image", "r"))
    invvar, _ = read_compressed_image(layout.coadd_path(patch, "invvar", "r"))
    assert np.isnan(image).sum() >= 100 and np.all(invvar[np.isnan(image)] == 0)


def test_masks_follow_dr10(default_sky):
    layout = SurveyLayout(str(default_sky))
    sweep = _sweeps(default_sky)
    seen = 0
    for name in sorted(set(sweep["brickname"].to_pylist())):
        mask, _ = read_compressed_image(layout.coadd_path(name, "maskbits"))
        assert mask.dtype.kind == "i"
        # NPRIMARY marks the overlap margin, never the brick's centre
        assert np.all(mask[0] & MaskBits.NPRIMARY) and not np.any(mask[650:750, 650:750] & MaskBits.NPRIMARY)
        assert np.any(mask & MaskBits.ALLMASK_R)
        seen |= int(np.bitwise_or.reduce(mask.ravel()))
    assert seen & MaskBits.BRIGHT and seen & MaskBits.MEDIUM and seen & MaskBits.SATUR_R
    gaia = sweep["gaia_phot_g_mean_mag"].to_numpy()
    bright = (gaia > 0) & (gaia < 13)
    assert np.all(sweep["maskbits"].to_numpy()[bright] & MaskBits.BRIGHT)


def test_planted_lenses_use_the_lenscat_format(reference_data, small_sky):
    with open(reference_data / "catalogs/lenscat_catalog.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == LENSCAT_COLUMNS
    with open(small_sky / "catalogs/mock_lenscat.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and list(rows[0]) == list(LENSCAT_COLUMNS)
    sweep = _sweeps(small_sky)
    ra, dec = sweep["ra"].to_numpy(), sweep["dec"].to_numpy()
    for row in rows:
        distance = (
            np.hypot((ra - float(row["RA [deg]"])) * np.cos(np.radians(dec)), dec - float(row["DEC [deg]"]))
            * 3600
        )
        host = int(np.argmin(distance))
        assert distance[host] < 0.01 and sweep["type"][host].as_py() != "PSF"


def test_mock_arcs_carry_the_sis_magnification():
    """A small source at beta = theta_E / 2 behind an SIS: total magnification 2 theta_E / beta = 4."""
    arc = lensed_arc(theta_e=1.5, beta_x=0.75, beta_y=0.0, src_hlr=0.03, flux=2.0, size_px=41, oversample=9)
    assert arc.flux == pytest.approx(2.0 * 4.0, rel=0.03)
    far = lensed_arc(theta_e=1.5, beta_x=4.0, beta_y=0.0, src_hlr=0.05, flux=2.0, size_px=81, oversample=9)
    # outside the Einstein radius only one image: mu = 1 / (1 - theta_E / theta), theta = beta + theta_E
    assert far.flux == pytest.approx(2.0 * (1 + 1.5 / 4.0), rel=0.03)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_bit_identical_files(tmp_path, small_sky):
    from tests.conftest import SMALL_SKY

    build_mock_sky(str(tmp_path / "serial"), workers=1, **SMALL_SKY)
    assert _digest(tmp_path / "serial") == _digest(small_sky)  # the fixture was built with parallel workers
    other = build_mock_sky(str(tmp_path / "other"), **{**SMALL_SKY, "seed": 8})
    assert other["n_objects"] != json.loads((small_sky / "mock_sky.json").read_text())["n_objects"]


def test_existing_sky_is_kept_and_a_rebuild_replaces_it_whole(tmp_path):
    root = tmp_path / "sky"
    build_mock_sky(str(root), seed=3, n_bricks=7, n_lenses=0)
    stamp = (root / "mock_sky.json").stat().st_mtime_ns
    build_mock_sky(str(root), seed=3, n_bricks=7, n_lenses=0)
    assert (root / "mock_sky.json").stat().st_mtime_ns == stamp
    (root / "stale-file").write_text("left by someone")
    build_mock_sky(str(root), seed=3, n_bricks=7, n_lenses=0, overwrite=True)
    assert not (root / "stale-file").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["sky"]  # no staging or old folder left behind
    with pytest.raises(ValueError, match="n_bricks"):
        build_mock_sky(str(tmp_path / "tiny"), n_bricks=3)


def test_a_folder_that_is_not_a_mock_sky_is_never_replaced(tmp_path):
    survey = tmp_path / "dr10"
    (survey / "sweep").mkdir(parents=True)
    (survey / "sweep" / "precious.fits").write_bytes(b"real data")
    with pytest.raises(InputFileError, match="not a mock sky"):
        build_mock_sky(str(survey), seed=3, n_bricks=7, n_lenses=0, overwrite=True)
    assert (survey / "sweep" / "precious.fits").read_bytes() == b"real data"


def test_a_rebuild_without_overwrite_keeps_user_files_and_the_sky_is_not_private(tmp_path):
    """Item 11: a sky of other parameters used to be replaced whole, deleting a user's file inside, and was mode 0700."""
    root = tmp_path / "sky"
    build_mock_sky(str(root), seed=3, n_bricks=7, n_lenses=0)
    assert (root.stat().st_mode & 0o777) == 0o777 & ~_umask()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(InputFileError, match="files it did not write .*notes.txt"):
        build_mock_sky(str(root), seed=4, n_bricks=7, n_lenses=0)
    assert (root / "notes.txt").read_text() == "mine"
    (root / "notes.txt").unlink()
    assert (
        build_mock_sky(str(root), seed=4, n_bricks=7, n_lenses=0)["params"]["seed"] == 4
    )  # only its own files: rebuilt


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
