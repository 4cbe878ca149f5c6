"""The source bank: real HST galaxies from GalSim catalogues, a generated fallback, and the noise check."""

import json

import galsim
import numpy as np
import pyarrow as pa
import pytest

from dhs_core.bank import build_bank_from_galsim_catalog, build_generated_bank, open_bank
from dhs_core.bank.measure import measure
from dhs_core.bank.store import write_bank
from dhs_core.bank.validation import not_noise, template_checks
from dhs_core.errors import InputFileError
from dhs_core.inject.engine import EngineConfig, inject
from tests.core.inject.test_engine import TASK, _cutout


@pytest.fixture(scope="module")
def aegis(reference_data, tmp_path_factory):
    folder = reference_data / "galsim_cosmos"
    path = build_bank_from_galsim_catalog(
        [folder / "AEGIS_F606w_catalog.fits", folder / "AEGIS_F814w_catalog.fits"],
        tmp_path_factory.mktemp("bank") / "aegis.h5",
    )
    with open_bank(path) as bank:
        yield bank


def test_real_hst_galaxies_become_clean_two_band_templates(aegis, reference_data):
    assert (
        aegis.bands == ["F606W", "F814W"]
        and aegis.images.shape[1:] == (2, 128, 128)
        and aegis.pixel_scale == 0.03
    )
    parameters = json.loads(aegis.attrs["parameters"])
    assert (
        parameters["considered"] == 5
        and len(aegis) + sum(parameters["rejected"].values()) == 5
        and len(aegis) >= 3
    )
    assert not aegis.attrs["synthetic"]
    for check in (template_checks(aegis), not_noise(aegis)):
        assert check[0], check[1]
    meta = aegis.meta
    assert set(meta["split"].to_pylist()) <= {"train", "val", "test"}
    assert np.all(meta["flux_snr"].to_numpy() > 10) and np.all(
        meta["negative_flux_fraction"].to_numpy() < 0.2
    )
    # drawn naively, about half of a real stamp's pixels are negative: that is the noise the bank removes
    catalog = galsim.RealGalaxyCatalog("AEGIS_F814w_catalog.fits", dir=str(reference_data / "galsim_cosmos"))
    naive = (
        galsim.Convolve(galsim.RealGalaxy(catalog, index=0), galsim.Gaussian(fwhm=0.1))
        .drawImage(nx=96, ny=96, scale=0.03)
        .array
    )
    assert np.mean(naive < 0) > 0.3
    template = aegis.template(0)  # g, r, z interpolated in wavelength from F606W and F814W
    assert template.image.shape == (3, 128, 128) and template.hlr_arcsec == pytest.approx(
        meta["hlr_arcsec"][0].as_py()
    )
    np.testing.assert_allclose(template.image.sum(axis=(1, 2)), 1, atol=1e-5)
    f606, f814 = np.asarray(aegis.images[0])
    np.testing.assert_allclose(template.image[0], f606, atol=1e-7)
    np.testing.assert_allclose(template.image[1], 0.76 * f606 + 0.24 * f814, atol=2e-3 * f606.max())
    assert not np.allclose(template.image[0], template.image[2], atol=1e-3 * f606.max())  # a colour gradient


def test_a_catalogue_without_its_image_file_names_it(reference_data, tmp_path):
    with pytest.raises(InputFileError, match="real_galaxy_images"):
        build_bank_from_galsim_catalog(
            reference_data / "galsim_cosmos/real_galaxy_catalog_23.5_example.fits", tmp_path / "b.h5"
        )
    assert not list(tmp_path.iterdir())  # nothing half written
    with pytest.raises(InputFileError, match="not found"):
        build_bank_from_galsim_catalog(tmp_path / "nothing.fits", tmp_path / "b.h5")
    with pytest.raises(InputFileError, match="source bank not found"):
        open_bank(tmp_path / "b.h5")


def test_generated_bank_is_reproducible_and_labelled_synthetic(tmp_path):
    first = build_generated_bank(tmp_path / "a.h5", 60, seed=3)
    second = build_generated_bank(tmp_path / "b.h5", 60, seed=3)
    with open_bank(first) as a, open_bank(second) as b:
        assert a.attrs["synthetic"] and a.bands == ["synthetic"]
        np.testing.assert_array_equal(np.asarray(a.images), np.asarray(b.images))
        for check in (template_checks(a), not_noise(a)):
            assert check[0], check[1]
        hlr, requested = a.meta["hlr_arcsec"].to_numpy(), a.meta["input_hlr_arcsec"].to_numpy()
        assert np.all((hlr > 0.05) & (hlr < 0.5)) and np.median(hlr / requested) == pytest.approx(
            1.1, abs=0.1
        )


def test_the_noise_check_fails_for_a_noise_bank(tmp_path):
    """The original's failure made on purpose: stamps of sky (a pedestal plus noise), normalised to unit flux."""
    rng = np.random.default_rng(0)
    images = 1.0 + rng.normal(0, 0.5, (30, 96, 96))
    images /= images.sum(axis=(1, 2), keepdims=True)
    meta = pa.Table.from_pylist([{"template_index": i, **measure(im, 0.03)} for i, im in enumerate(images)])
    path = write_bank(tmp_path / "noise.h5", images, meta, 0.03, ["F814W"], "test-noise", {}, synthetic=True)
    with open_bank(path) as bank:
        passed, details = not_noise(bank)
        assert not passed and details["median_hlr_over_side"] == pytest.approx(0.37, abs=0.03)
        assert not template_checks(bank)[0]  # and its HLRs are far out of range


def test_the_engine_renders_from_the_bank(aegis):
    tasks = [
        {
            **TASK,
            "task_id": f"{i}-{reff}",
            "src_kind": "template",
            "template_index": i,
            "src_reff_arcsec": reff,
            "brightness_mode": "dmag",
        }
        for i in range(len(aegis))
        for reff in (0.08, 0.2)
    ]
    rows = inject(
        [_cutout(i) for i in range(len(tasks))], pa.Table.from_pylist(tasks), aegis, EngineConfig()
    ).to_pylist()
    assert all(r["status"] == "ok" for r in rows)
    for row in rows:
        assert row["injected_flux_r"] == pytest.approx(row["src_flux_r"] * row["magnification"], rel=0.03)


def test_shrunk_real_templates_keep_their_flux(aegis):
    """A real template rescaled so its pixels are far smaller than the sub-pixel spacing aliases when
    point-sampled (45 % flux errors measured); its rays read the level of detail whose blocks cover their
    source-plane footprint, and the flux comes back to 1 %."""
    from dhs_core.inject.render import Grid, render_unit_source
    from dhs_core.inject.sources import TemplateSources

    grid = Grid((64, 64), 4)
    worst = {True: 0.0, False: 0.0}
    for index in range(len(aegis)):
        template = aegis.template(index)
        for reff in (0.05, 0.1, 0.2, 0.4):
            cutoff = template.light_radius_arcsec * reff / template.hlr_arcsec
            for pyramid in (True, False):
                sources = TemplateSources([template], reff, 0.3, np.ones(3), pyramid=pyramid)
                flux = render_unit_source(grid, 32.2, 31.7, None, sources, 0, 0, cutoff).sum(axis=(1, 2))
                worst[pyramid] = max(worst[pyramid], float(np.abs(flux - 1).max()))
    assert worst[True] < 0.01 and worst[False] > 0.2


def test_a_full_disk_during_the_bank_write_is_a_clear_error_and_keeps_the_old_bank(tmp_path):
    """Item 11: disk full while writing the bank ended in a segfault (rc 139) after 400 lines of HDF5 errors. The file
    size limit (RLIMIT_FSIZE) stands in for a full disk: the write fails the same way, at the same place."""
    from dhs_core.bank import build_generated_bank
    from tests.conftest import run_with_file_size_limit

    path = tmp_path / "bank.h5"
    build_generated_bank(path, 2, seed=1)
    old = path.read_bytes()
    run = run_with_file_size_limit(
        f"from dhs_core.bank import build_generated_bank\nbuild_generated_bank({str(path)!r}, 40, seed=1)\n",
        20_000,
    )
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert f"{path}: cannot write the source bank (File too large)" in run.stderr and "HDF5" not in run.stderr
    assert path.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == ["bank.h5"]


def _aegis_archive(reference_data, folder):
    """The AEGIS sample packed as GalSim's COSMOS archives are: one top folder holding the catalogues and their files."""
    import tarfile

    archive = folder / "AEGIS_training_sample.tar.gz"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted((reference_data / "galsim_cosmos").glob("*")):
            if path.name.startswith(("AEGIS_", "acs_")):
                tar.add(path, arcname=f"AEGIS_training_sample/{path.name}")
    return archive


def test_a_missing_catalogue_is_fetched_from_its_archive_and_unpacked_once(reference_data, tmp_path):
    """Real templates the same way as the survey: the archive served on loopback, fetched, unpacked, the bank built."""
    from dhs_core.bank import build_bank_from_galsim_catalog, open_bank
    from dhs_core.bank.download import resolve_catalog_files
    from dhs_core.errors import InputFileError
    from dhs_core.survey.serve import SurveyServer

    _aegis_archive(reference_data, tmp_path / "portal")
    cache = tmp_path / "cache"
    names = ["AEGIS_F606w_catalog.fits", "AEGIS_F814w_catalog.fits"]
    with SurveyServer(tmp_path / "portal") as server:
        url = f"{server.url}/AEGIS_training_sample.tar.gz"
        files = resolve_catalog_files(names, url, str(cache), backoff_base_s=0.01)
        assert [f.split("/")[-1] for f in files] == names and all(str(cache) in f for f in files)
        requests = len(server.requests)
        assert (
            resolve_catalog_files(names, url, str(cache)) == files and len(server.requests) == requests
        )  # unpacked once
        with pytest.raises(InputFileError, match="not in the archive"):
            resolve_catalog_files(["real_galaxy_catalog_25.2.fits"], url, str(cache))
        with pytest.raises(InputFileError, match="cannot fetch the catalogue archive: missing"):
            resolve_catalog_files(names, f"{server.url}/nothing.tar.gz", str(tmp_path / "other"))
    fetched = build_bank_from_galsim_catalog(files, tmp_path / "fetched.h5", seed=3)
    local = build_bank_from_galsim_catalog(
        [reference_data / "galsim_cosmos" / n for n in names], tmp_path / "local.h5", seed=3
    )
    with open_bank(fetched) as a, open_bank(local) as b:
        assert len(a) == len(b) >= 3 and np.array_equal(a.images[:], b.images[:])


def test_a_worker_keeps_one_bank_open_until_the_file_is_rebuilt(tmp_path, monkeypatch):
    """Stamps units of one worker share the open bank (its templates and their coefficients are prepared once, not
    once per unit); a bank rebuilt at the same path is opened anew; templates kept stay under the byte bound."""
    from dhs_core.bank import store

    path = tmp_path / "bank.h5"
    build_generated_bank(path, 6, seed=1)
    first = store.shared_bank(path)
    assert store.shared_bank(str(path)) is first and first.template(2) is first.template(2)
    before = first.template(2).image.copy()
    build_generated_bank(path, 6, seed=2)  # written under a temporary name, then renamed: another file
    second = store.shared_bank(path)
    assert second is not first and not np.array_equal(second.template(2).image, before)
    monkeypatch.setattr(store, "RECENT_TEMPLATE_BYTES", 2 * second.template(0).nbytes)
    for index in range(6):
        second.template(index)
    assert len(second._recent) <= 2 and list(second._recent) == [4, 5]  # the least recent dropped first
    with pytest.raises(InputFileError, match="source bank not found"):
        store.shared_bank(tmp_path / "none.h5")
