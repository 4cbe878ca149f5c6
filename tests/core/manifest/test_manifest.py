"""Phase 4a: grids, sampling, controls, frozen draws, and the checks (the original's bugs 1-8 pinned)."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dhs_core.errors import ConfigError, MissingColumnError
from dhs_core.manifest import draws, validation
from dhs_core.manifest.build import ManifestConfig, build_manifest
from dhs_core.manifest.grids import NAMED_GRIDS, grid_from_config
from dhs_core.manifest.sampling import (
    config_index,
    control_flags,
    stratified_sample,
    stratum_bins,
    stratum_edges,
)

PSF_EDGES = np.array([0.8, 1.2, 1.3, 1.4, 1.6])
DEPTH_EDGES = np.array([23.6, 24.2, 24.5, 25.0, 26.8])
SET_ID, SET_KEY = "topk_density_k100", "topk_density"


def parent(n, split="train", seed=0):
    """A synthetic parent-sample split: n galaxies with the columns the manifest reads."""
    rng = np.random.default_rng(seed)
    bricks = np.array([f"{b:04d}p{b % 300:03d}" for b in rng.integers(0, 2000, n)])
    objid = np.arange(n) % 5000
    from dhs_core.hashing import spark_xxhash64

    order = np.lexsort((objid, bricks))
    bricks, objid = bricks[order], objid[order]
    return pa.table(
        {
            "row_id": spark_xxhash64(bricks, objid),
            "brickname": bricks,
            "objid": objid.astype(np.int32),
            "ra": rng.uniform(0, 360, n),
            "dec": rng.uniform(-30, 30, n),
            "zmag": rng.uniform(17, 20, n),
            "rmag": rng.uniform(18, 21.5, n),
            "w1mag": rng.uniform(15, 18, n),
            "rz": rng.uniform(0.6, 1.8, n),
            "zw1": rng.uniform(1, 2.5, n),
            "shape_e1": pa.array(np.where(rng.random(n) < 0.1, np.nan, rng.uniform(-0.3, 0.3, n))),
            "shape_e2": rng.uniform(-0.3, 0.3, n),
            "region_id": bricks,
            "split": [split] * n,
            **{f"psfsize_{b}": rng.uniform(0.9, 1.7, n) for b in "grz"},
            **{f"psfdepth_mag5_{b}": rng.uniform(23.5, 25.0, n) for b in "grz"},
            "brick_psfsize_g": rng.uniform(1.0, 1.8, n),
            "brick_psfsize_r": rng.uniform(0.85, 1.55, n),
            "brick_psfsize_z": rng.uniform(0.8, 1.5, n),
            "brick_psfdepth_mag5_r": rng.uniform(23.8, 25.5, n),
            "brick_ebv": rng.uniform(0, 0.1, n),
        }
    )


def build(galaxies, config, split="train", set_id=SET_ID):
    return build_manifest(galaxies, set_id, SET_KEY, split, PSF_EDGES, DEPTH_EDGES, config)


def test_named_grids_and_config_ids():
    assert {name: g.size for name, g in NAMED_GRIDS.items()} == {
        "grid_small": 48,
        "grid_medium": 360,
        "grid_full": 3024,
        "grid_sota": 1008,
        "grid_extended": 480,
    }
    configs = NAMED_GRIDS["grid_small"].configs()
    assert configs["config_id"][0].as_py() == "grid_small_0000_te0.3_dm1_rf0.08_e0_sh0"
    assert configs["config_id"][47].as_py() == "grid_small_0047_te1_dm2_rf0.15_e0.3_sh0.03"
    assert len(set(configs["config_id"].to_pylist())) == 48
    extended = NAMED_GRIDS["grid_extended"]
    assert (
        extended.theta_e == (0.5, 0.75, 1.0, 1.25, 1.5)
        and extended.src_dmag[-1] == 3.0
        and extended.src_reff[0] == 0.05
    )


def test_user_grids_are_validated():
    good = {
        "name": "mine",
        "theta_e": [0.8, 1.6],
        "src_dmag": [1.0],
        "src_reff": [0.1],
        "src_e": [0.0, 0.5],
        "shear": [0.0],
    }
    assert grid_from_config(good).size == 4
    assert (
        grid_from_config(
            "name: mine\ntheta_e: [1.0]\nsrc_dmag: [1]\nsrc_reff: [0.2]\nsrc_e: [0]\nshear: [0.01]\n"
        ).size
        == 1
    )
    for change, word in (
        ({"src_reff": [0.1, -0.1]}, "src_reff"),
        ({"src_e": [1.0]}, "src_e"),
        ({"theta_e": []}, "theta_e"),
        ({"shear": [0.0, 0.0]}, "shear"),
        ({"name": "grid_small"}, "grid.name"),
        ({"theta_e": "1.0"}, "theta_e"),
        ({"extra": [1]}, "grid keys"),
        ({"src_dmag": [float("nan")]}, "src_dmag"),
    ):
        with pytest.raises(ConfigError, match=word):
            grid_from_config({**good, **change})
    with pytest.raises(ConfigError, match="named grid"):
        grid_from_config("grid_huge")


def test_controls_and_configs_are_bit_exact_with_pyspark(reference_data):
    golden = pq.read_table(reference_data / "catalogs/spark_xxhash64_golden.parquet")
    flags = control_flags(
        golden["row_id"], golden["brickname"], golden["region_split"], seed=1337, control_frac=0.5
    )
    np.testing.assert_array_equal(flags, golden["is_control_pmod"].to_numpy())
    legacy = control_flags(
        golden["row_id"], golden["brickname"], golden["region_split"], legacy_signed_mod=True
    )
    np.testing.assert_array_equal(legacy, golden["is_control_spark"].to_numpy())
    assert flags.mean() == pytest.approx(0.5, abs=0.01) and legacy.mean() == pytest.approx(
        0.75, abs=0.01
    )  # bug 4
    np.testing.assert_array_equal(config_index(golden["row_id"], 48, seed=1337), golden["cfg_idx"].to_numpy())


def test_strata_and_sampling():
    edges = stratum_edges(np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan]), "x")
    np.testing.assert_allclose(edges, [1, 2, 3, 4, 5])
    assert stratum_bins(np.array([0.5, 1.0, 1.99, 2.0, 5.0, 9.0]), edges).tolist() == [0, 0, 0, 1, 3, 3]
    galaxies = parent(4000)
    row_id = galaxies["row_id"].to_numpy()
    psf = stratum_bins(galaxies["brick_psfsize_r"].to_numpy(), PSF_EDGES)
    depth = stratum_bins(galaxies["brick_psfdepth_mag5_r"].to_numpy(), DEPTH_EDGES)
    chosen = stratified_sample(row_id, psf, depth, 320)
    assert len(chosen) == 320
    per_stratum = np.bincount((psf * 4 + depth)[chosen], minlength=16)
    assert per_stratum.max() <= 20  # ceil(320 / 16)
    shuffled = np.random.default_rng(3).permutation(4000)  # the input order changes nothing (bug 2)
    again = stratified_sample(row_id[shuffled], psf[shuffled], depth[shuffled], 320)
    assert sorted(row_id[shuffled][again]) == sorted(row_id[chosen])


def test_grid_tier_samples_galaxies_first():
    """n galaxies x n_cfg configurations x replicates rows, not (n x n_cfg) galaxies x n_cfg (bug 1: 325 M rows)."""
    config = ManifestConfig.for_tier(
        tier="grid", grid="grid_medium", n_galaxies=25, control_frac=0.0, replicates=2
    )
    manifest = build(parent(5000), config)
    assert manifest.num_rows == 25 * 360 * 2
    assert len(set(manifest["row_id"].to_pylist())) == 25
    with_controls = build(parent(5000), ManifestConfig.for_tier(tier="grid", n_galaxies=200))
    galaxies = (
        with_controls.filter(with_controls["is_control"]).group_by("row_id").aggregate([("row_id", "count")])
    )
    assert galaxies.num_rows > 0 and set(galaxies["row_id_count"].to_pylist()) == {
        2
    }  # one CONTROL row per replicate


def test_a_split_without_galaxies_gives_an_empty_manifest_in_every_tier():
    """A selection set with no galaxy in a split (the demo's grid dataset on a 7-brick sky) made the grid tier fail
    with a numpy broadcasting error."""
    for tier in ("grid", "debug", "train"):
        manifest = build(parent(0), ManifestConfig.for_tier(tier=tier, control_frac=0.25))
        assert manifest.num_rows == 0 and "task_id" in manifest.column_names, tier


def test_train_tier_unpaired_controls_and_replicates():
    config = ManifestConfig.for_tier(tier="train", n_galaxies=3000)
    manifest = build(parent(20000), config)
    assert manifest.num_rows == 3000 * 2  # every stratum holds its 188
    control = manifest["is_control"].to_numpy()
    assert control.mean() == pytest.approx(0.5, abs=0.03)
    rows = manifest.to_pylist()
    for a, b in zip(rows[::2], rows[1::2]):  # replicates: same galaxy, config and flag; different draws
        assert (a["row_id"], a["config_id"], a["is_control"]) == (
            b["row_id"],
            b["config_id"],
            b["is_control"],
        )
        assert a["replicate"] == 0 and b["replicate"] == 1 and a["task_seed64"] != b["task_seed64"]
        assert a["is_control"] or (a["src_x_arcsec"] != b["src_x_arcsec"] and a["src_gr"] != b["src_gr"])
    controls = [r for r in rows if r["is_control"]]
    assert all(
        r["config_id"] == "CONTROL"
        and r["theta_e_arcsec"] == 0
        and r["lens_e"] == 0
        and r["template_index"] == -1
        for r in controls
    )
    injected = [r for r in rows if not r["is_control"]]
    assert {r["config_id"] for r in injected} <= set(
        NAMED_GRIDS["grid_small"].configs()["config_id"].to_pylist()
    )
    for name, check in (
        ("ids", validation.unique_task_ids(manifest)),
        ("controls", validation.control_fraction(manifest, config)),
        ("configs", validation.config_usage(manifest, config)),
        ("strata", validation.strata_balance(manifest, config)),
        ("draws", validation.draws_in_range(manifest, config)),
    ):
        assert check[0], (name, check[1])


def test_paired_controls_show_each_injected_galaxy_unlensed():
    manifest = build(
        parent(500), ManifestConfig.for_tier(n_galaxies=200, unpaired_controls=False, replicates=1)
    )
    by_galaxy = {}
    for row in manifest.to_pylist():
        by_galaxy.setdefault(row["row_id"], []).append(row["is_control"])
    assert all(sorted(flags) == [False, True] for flags in by_galaxy.values()) and len(by_galaxy) == 200


def test_selection_sets_get_independent_draws_and_reruns_are_identical():
    """A galaxy in two selection sets gets different draws in each (the original's seed left the set out,
    so its tasks were identical stamps in train and val after relabelling: bugs 7 and 8)."""
    galaxies = parent(800)
    config = ManifestConfig.for_tier(n_galaxies=400, control_frac=0.0)
    a, b = build(galaxies, config), build(galaxies, config, set_id="topk_n_lrg_k100")
    assert a["row_id"].to_pylist() == b["row_id"].to_pylist() and a["config_id"] == b["config_id"]
    assert not np.any(a["src_x_arcsec"].to_numpy() == b["src_x_arcsec"].to_numpy())
    assert build(galaxies, config).equals(a)  # a re-run gives the same table
    shuffled = galaxies.take(np.random.default_rng(1).permutation(galaxies.num_rows))
    assert build(shuffled, config).equals(a)  # nor does the input's row order


def test_splits_come_from_the_parent_and_templates_never_cross_splits():
    with pytest.raises(ConfigError, match="not in val"):
        build(parent(100, "train"), ManifestConfig.for_tier(), split="val")
    with pytest.raises(MissingColumnError, match="shape_e1"):
        build(parent(100).drop_columns(["shape_e1"]), ManifestConfig.for_tier())
    used = {}
    for split in ("train", "val", "test"):
        manifest = build(
            parent(3000, split, seed=len(split)),
            ManifestConfig.for_tier(n_galaxies=3000, n_templates=500),
            split=split,
        )
        index = manifest["template_index"].to_numpy()
        used[split] = set(index[index >= 0].tolist())
        assert manifest["region_split"].unique().to_pylist() == [split]
    assert (
        not (used["train"] & used["val"])
        and not (used["train"] & used["test"])
        and not (used["val"] & used["test"])
    )
    assert len(used["train"]) > 5 * len(used["val"])  # 80/10/10 of the bank


def test_frozen_draws_follow_their_distributions():
    seeds = np.arange(200_000, dtype=np.int64) * 7919
    x, y = draws.source_offsets(seeds, np.full(len(seeds), 1.5), 0.8)
    radius = np.hypot(x, y)
    assert radius.max() <= 1.2 and np.mean(radius <= 0.6) == pytest.approx(
        0.25, abs=0.005
    )  # uniform over the disk
    gr, rz = draws.colours(seeds, "red")
    assert gr.mean() == pytest.approx(1.15, abs=0.01) and gr.std() == pytest.approx(0.30, abs=0.01)
    assert rz.mean() == pytest.approx(0.85, abs=0.01) and rz.std() == pytest.approx(0.20, abs=0.01)
    blue_gr, _ = draws.colours(seeds, "blue")
    assert blue_gr.mean() == pytest.approx(0.2, abs=0.01)
    snr = draws.snr_targets(seeds)
    fractions = np.histogram(snr, [0.8, 2, 8, 20, 100])[0] / len(snr)
    np.testing.assert_allclose(fractions, [0.40, 0.40, 0.15, 0.05], atol=1e-12)  # allocated, not drawn: exact
    inside = snr[(snr >= 2) & (snr < 8)]
    assert np.median(inside) == pytest.approx(4.0, rel=0.03)  # log-uniform: the geometric mean of the bin
    # light traces mass: Tractor's e2 is mirrored into the stamp frame (RA grows to -x)
    e, phi = draws.tractor_shape_in_stamp([0.2, 0.0], [0.0, 0.2])
    np.testing.assert_allclose(e, [0.2, 0.2])
    np.testing.assert_allclose(phi, [0.0, -np.pi / 4])
    lens_e, lens_phi = draws.lens_shapes(
        seeds[:5000], draws.LensShapeModel(), np.full(5000, 0.2), np.zeros(5000)
    )
    assert np.median(lens_e) == pytest.approx(0.2, abs=0.01)
    assert np.median(np.abs(np.where(lens_phi > np.pi / 2, lens_phi - np.pi, lens_phi))) == pytest.approx(
        np.deg2rad(10) * 0.674, rel=0.1
    )
    uniform_e, _ = draws.lens_shapes(seeds[:5000], draws.LensShapeModel("uniform"))
    assert uniform_e.min() >= 0.05 and uniform_e.max() <= 0.5


def test_snr_bins_are_allocated_exactly_among_injections_from_frozen_draws():
    """Bins get exactly their weights' share of a manifest's injections (to one task); a task's place in the order
    is its own frozen draw, so the same tasks get the same targets, and controls none."""
    seeds = np.arange(1, 1001, dtype=np.int64) * 104729
    control = np.arange(1000) % 10 == 0
    snr = draws.snr_targets(seeds, draws.DEFAULT_SNR_BINS, ~control)
    assert np.all(snr[control] == 0)
    assert np.histogram(snr[~control], [0.8, 2, 8, 20, 100])[0].tolist() == [360, 360, 135, 45]
    assert np.array_equal(snr, draws.snr_targets(seeds, draws.DEFAULT_SNR_BINS, ~control))
    reordered = np.random.default_rng(0).permutation(1000)  # the row order does not matter
    assert np.array_equal(
        draws.snr_targets(seeds[reordered], draws.DEFAULT_SNR_BINS, ~control[reordered]), snr[reordered]
    )
    assert draws.allocation(7, [0.4, 0.4, 0.15, 0.05]).tolist() == [3, 3, 1, 0]
    manifest = build(
        parent(400), ManifestConfig.for_tier(n_galaxies=400, brightness_mode="snr", control_frac=0.2)
    )
    targets = manifest.filter(pa.compute.invert(manifest["is_control"]))["target_arc_snr"].to_numpy()
    expected = draws.allocation(len(targets), [0.4, 0.4, 0.15, 0.05])
    assert np.histogram(targets, [0.8, 2, 8, 20, 100])[0].tolist() == expected.tolist()
    with pytest.raises(ConfigError, match="snr_definition"):
        ManifestConfig.for_tier(snr_definition="median")
    assert set(manifest["target_snr_definition"].to_pylist()) == {"peak"}
    assert (
        manifest["arc_reach_arcsec"].to_pylist() == [pytest.approx(1.0 * 1.8 + 3 * 0.15)] * manifest.num_rows
    )  # grid_small


def test_snr_mode_and_bad_configs():
    manifest = build(
        parent(400), ManifestConfig.for_tier(n_galaxies=400, brightness_mode="snr", control_frac=0.2)
    )
    injected = manifest.filter(pa.compute.invert(manifest["is_control"]))
    assert (
        pa.compute.min(injected["target_arc_snr"]).as_py() >= 0.8
        and injected["src_rmag"].null_count == injected.num_rows
    )
    dmag = build(parent(400), ManifestConfig.for_tier(n_galaxies=50))
    row = dmag.filter(pa.compute.invert(dmag["is_control"])).to_pylist()[0]
    assert row["src_rmag"] == pytest.approx(row["rmag"] + row["src_dmag"])
    for bad in (
        {"tier": "huge"},
        {"control_frac": 1.0},
        {"replicates": 0},
        {"colour_model": "green"},
        {"grid": "grid_x"},
        {"brightness_mode": "bright"},
        {"snr_bins": ((2.0, 1.0, 1.0),)},
        {"n_galaxies": 0},
    ):
        with pytest.raises(ConfigError):
            ManifestConfig.for_tier(**bad)
    with pytest.raises(
        ConfigError, match="for_tier"
    ):  # a tier's defaults are filled by its factory, never later
        ManifestConfig(tier="grid")


def test_checks_fail_on_bad_manifests():
    config = ManifestConfig.for_tier(n_galaxies=2000)
    manifest = build(parent(2000), config)
    assert not validation.unique_task_ids(pa.concat_tables([manifest, manifest.slice(0, 3)]))[0]
    flipped = manifest.set_column(
        manifest.schema.get_field_index("is_control"),
        "is_control",
        pa.array(np.ones(manifest.num_rows, bool)),
    )
    assert not validation.control_fraction(flipped, config)[0]
    one_config = manifest.set_column(
        manifest.schema.get_field_index("config_id"),
        "config_id",
        pa.array(["grid_small_0000_te0.3_dm1_rf0.08_e0_sh0"] * manifest.num_rows),
    )
    ok, details = validation.config_usage(one_config, config)
    assert not ok and details["unused"] == 47
    with_nan = manifest.set_column(
        manifest.schema.get_field_index("src_gr"), "src_gr", pa.array(np.full(manifest.num_rows, np.nan))
    )
    ok, details = validation.draws_in_range(with_nan, config)
    assert not ok and "src_gr" in details["nan_columns"]
    far = manifest.set_column(
        manifest.schema.get_field_index("src_x_arcsec"),
        "src_x_arcsec",
        pa.array(np.full(manifest.num_rows, 9.0)),
    )
    assert "src offset within beta_max" in validation.draws_in_range(far, config)[1]["failed"]
    assert not validation.splits_disjoint({"train": manifest, "val": manifest.slice(0, 10)})[0]
    assert validation.splits_disjoint(
        {"train": manifest, "val": build(parent(50, "val", 9), config, split="val")}
    )[0]


def test_split_manifests_equal_one_set_at_a_time(tmp_path):
    """One pass over a split for several sets gives each set the manifest built from its own galaxies."""
    from dhs_core.manifest.build import split_manifests
    from dhs_core.tables import connect

    galaxies = parent(3000)
    rng = np.random.default_rng(4)
    sets = {
        "topk_density": "topk_density_k100",
        "topk_n_lrg": "topk_n_lrg_k100",
        "strat_custom_density": "strat_custom_density_k75",
    }
    membership = [[s for s in sets.values() if rng.random() < 0.6] for _ in range(galaxies.num_rows)]
    psf = galaxies["brick_psfsize_r"].to_numpy().copy()
    psf[:50] = np.nan  # no PSF size: left out and counted
    psf_g = galaxies["brick_psfsize_g"].to_numpy().copy()
    psf_g[40:70] = (
        np.nan
    )  # a brick without g: every stamp on it would fail, so its galaxies are left out and counted
    table = galaxies.set_column(
        galaxies.schema.get_field_index("brick_psfsize_r"), "brick_psfsize_r", pa.array(psf)
    )
    table = table.set_column(
        table.schema.get_field_index("brick_psfsize_g"), "brick_psfsize_g", pa.array(psf_g)
    ).append_column("selection_sets", pa.array(membership, pa.list_(pa.string())))
    pq.write_table(table, tmp_path / "parent.parquet")
    config = ManifestConfig.for_tier(n_galaxies=300)
    with connect() as con:
        results = list(
            split_manifests(
                con,
                f"read_parquet('{tmp_path / 'parent.parquet'}')",
                "train",
                sets,
                PSF_EDGES,
                DEPTH_EDGES,
                config,
            )
        )
    assert [key for key, _, _ in results] == list(sets)
    for key, manifest, counts in results:
        member = np.array([sets[key] in m for m in membership])
        covered = np.isfinite(psf) & np.isfinite(psf_g)
        usable = member & covered
        assert counts == {
            "galaxies_in_set": int(member.sum()),
            "galaxies_without_coverage": int((member & ~covered).sum()),
        }
        alone = build_manifest(
            table.filter(pa.array(usable)).drop_columns(["selection_sets"]),
            sets[key],
            key,
            "train",
            PSF_EDGES,
            DEPTH_EDGES,
            config,
        )
        assert manifest.equals(alone)
