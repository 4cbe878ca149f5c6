"""Phase 4c: manifest rows become engine tasks, and stamps keep the manifest's order and keys."""

import numpy as np
import pyarrow as pa
import pytest

from dhs_core.bank import build_generated_bank, open_bank
from dhs_core.errors import MissingColumnError
from dhs_core.inject.engine import EngineConfig
from dhs_core.manifest.build import ManifestConfig, build_manifest
from dhs_core.manifest.sampling import stratum_edges
from dhs_core.stamps.build import engine_tasks, inject_manifest
from dhs_core.survey.layout import SurveyLayout
from dhs_core.hashing import spark_xxhash64
from dhs_core.survey.sweeps import read_sweep


def test_manifest_rows_become_stamps(small_sky, tmp_path):
    """Galaxies of the mock sky's sweeps through a real manifest and the coadds: order, keys and S/N targets."""
    layout = SurveyLayout(str(small_sky))
    rows = []
    for path in layout.sweep_paths():
        sweep = read_sweep(path, ["BRICKNAME", "OBJID", "RA", "DEC", "TYPE", "FLUX_R", "SHAPE_E1", "SHAPE_E2"])
        rows += [r for r in sweep.to_pylist() if r["type"] != "PSF" and r["flux_r"] > 1][:30]
    n = len(rows)
    table = pa.table({"row_id": spark_xxhash64([r["brickname"] for r in rows], np.array([r["objid"] for r in rows], np.int64)),
                      "brickname": [r["brickname"] for r in rows], "objid": [r["objid"] for r in rows], "ra": [r["ra"] for r in rows],
                      "dec": [r["dec"] for r in rows], "zmag": np.full(n, 19.0), "rmag": -2.5 * np.log10([r["flux_r"] for r in rows]) + 22.5,
                      "w1mag": np.full(n, 17.0), "rz": np.full(n, 1.2), "zw1": np.full(n, 1.5), "shape_e1": [r["shape_e1"] for r in rows],
                      "shape_e2": [r["shape_e2"] for r in rows], "region_id": [r["brickname"] for r in rows], "split": ["train"] * n,
                      "brick_psfsize_g": np.full(n, 1.4), "brick_psfsize_r": np.full(n, 1.3), "brick_psfsize_z": np.full(n, 1.2),
                      "brick_psfdepth_mag5_r": np.full(n, 24.5), "brick_ebv": np.full(n, 0.03)})
    bank = build_generated_bank(tmp_path / "bank.h5", 30, seed=2)
    config = ManifestConfig(n_galaxies=n, n_templates=30, brightness_mode="snr")
    manifest = build_manifest(table, "topk_density_k100", "topk_density", "train", stratum_edges(np.array([1.0, 1.6]), "p"),
                              stratum_edges(np.array([24.0, 25.0]), "d"), config)
    tasks = engine_tasks(manifest)
    assert tasks["theta_e"].equals(manifest["theta_e_arcsec"]) and tasks["task_seed"].equals(manifest["task_seed64"])
    with open_bank(bank) as opened:
        stamps = inject_manifest(manifest, layout, opened, EngineConfig(), 64)
    assert stamps["task_id"].equals(manifest["task_id"]) and stamps["row_id"].equals(manifest["row_id"])
    ok = stamps.filter(pa.compute.and_(pa.compute.equal(stamps["status"], "ok"), pa.compute.invert(stamps["is_control"])))
    expected = manifest.filter(pa.compute.is_in(manifest["task_id"], ok["task_id"]))["target_arc_snr"].to_numpy()
    np.testing.assert_allclose(ok["arc_snr_integrated"].to_numpy(), expected, rtol=1e-6)  # the frozen S/N target, met
    with pytest.raises(MissingColumnError, match="theta_e_arcsec"):
        engine_tasks(manifest.drop_columns(["theta_e_arcsec"]))
