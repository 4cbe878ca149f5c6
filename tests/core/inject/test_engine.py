import numpy as np
import pyarrow as pa
import pytest

from dhs_core.conventions import MaskBits
from dhs_core.errors import InputFileError, TemplateIndexError
from dhs_core.inject.engine import EngineConfig, inject
from dhs_core.inject.sources import Template, half_light_radius
from dhs_core.survey.coadds import Cutout
from tests.pixels import pixels_of

SIGMA = 0.003


def _cutout(seed=0, maskbits_status="ok", band_status=("ok", "ok", "ok"), x=32.2, y=31.7):
    rng = np.random.default_rng(seed)
    image = rng.normal(0, SIGMA, (3, 64, 64)).astype(np.float32)
    image[0, 0, 0] = -0.0  # a negative zero that must survive a null injection bit for bit
    invvar = np.full((3, 64, 64), 1 / SIGMA**2, np.float32)
    return Cutout(image, invvar, np.zeros((64, 64), np.int32), x, y, "grz", band_status, maskbits_status)


TASK = dict(
    task_id="t",
    is_control=False,
    theta_e_arcsec=1.3,
    lens_e1=0.1,
    lens_e2=0.0,
    gamma1=0.02,
    gamma2=0.0,
    src_x_arcsec=0.2,
    src_y_arcsec=0.1,
    src_kind="sersic",
    src_reff_arcsec=0.2,
    src_n=1.0,
    src_q=0.7,
    src_phi_rad=0.4,
    template_index=-1,
    brightness_mode="snr",
    target_snr_definition="integrated",
    src_dmag=1.0,
    target_arc_snr=20.0,
    rmag=19.5,
    src_gr=1.1,
    src_rz=0.8,
    psfsize_g=1.4,
    psfsize_r=1.3,
    psfsize_z=1.2,
    task_seed64=12345,
)


def _run(tasks, cutouts=None, bank=None, config=EngineConfig()):
    table = pa.Table.from_pylist(tasks)
    return inject(cutouts or [_cutout(i) for i in range(len(tasks))], table, bank, config).to_pylist()


def test_snr_target_is_met_and_the_arc_is_added():
    (row,) = _run([TASK])
    assert row["status"] == "ok"
    assert row["arc_snr_integrated"] == pytest.approx(20.0, rel=1e-6)
    stamp = pixels_of(row["image"])
    arc = pixels_of(row["arc"], "arc")
    np.testing.assert_allclose(stamp - _cutout(0).image, arc, atol=1e-6)
    assert row["injected_flux_r"] == pytest.approx(arc[1].sum(), rel=1e-5)
    # colours: g - r = 1.1, r - z = 0.8 on the source fluxes
    assert -2.5 * np.log10(row["src_flux_g"] / row["src_flux_r"]) == pytest.approx(1.1)
    assert -2.5 * np.log10(row["src_flux_r"] / row["src_flux_z"]) == pytest.approx(0.8)
    assert row["magnification"] > 2 and row["lensed_hlr_arcsec"] == pytest.approx(1.3, rel=0.35)


def test_peak_and_integrated_targets_are_met_exactly():
    """The seed's bins are in peak S/N (the original's arc_snr): a target in either definition is met to 1e-6."""
    cutout = _cutout(0)
    cutout.maskbits[30:34, 20:28] = int(MaskBits.SATUR_R)  # masked pixels count in neither definition
    peak, integrated = _run(
        [{**TASK, "target_snr_definition": "peak", "target_arc_snr": 3.0}, {**TASK, "target_arc_snr": 3.0}],
        cutouts=[cutout, cutout],
    )
    assert peak["arc_snr_peak"] == pytest.approx(3.0, rel=1e-6) and integrated[
        "arc_snr_integrated"
    ] == pytest.approx(3.0, rel=1e-6)
    assert (
        peak["arc_snr_integrated"] > 3 * 3.0 > integrated["arc_snr_peak"]
    )  # the two differ by far on an extended arc
    arc = pixels_of(peak["arc"], "arc")[1]
    good = cutout.maskbits == 0
    assert np.max(arc[good] * np.sqrt(cutout.invvar[1][good])) == pytest.approx(
        3.0, rel=1e-6
    )  # the definition, by hand
    (bad,) = _run([{**TASK, "target_snr_definition": "median"}])
    assert bad["status"] == "failed" and "unknown target_snr_definition 'median'" in bad["status_reason"]


def test_dmag_mode_uses_the_lens_magnitude():
    (row,) = _run([{**TASK, "brightness_mode": "dmag"}])
    assert row["src_flux_r"] == pytest.approx(10 ** (-0.4 * (19.5 + 1.0 - 22.5)))
    assert row["injected_flux_r"] == pytest.approx(row["src_flux_r"] * row["magnification"], rel=0.02)


def test_null_injections_return_the_cutout_bit_for_bit():
    control, zero_flux = _run(
        [{**TASK, "is_control": True}, {**TASK, "brightness_mode": "dmag", "src_dmag": float("inf")}],
        cutouts=[_cutout(0), _cutout(0)],
    )
    original = _cutout(0).image
    for row in (control, zero_flux):
        stamp = pixels_of(row["image"])
        assert stamp.tobytes() == original.tobytes()
        assert not np.any(pixels_of(row["arc"], "arc"))


def test_poisson_noise_is_frozen_per_task():
    config = EngineConfig(poisson_noise=True)
    a, b, c = _run([TASK, TASK, {**TASK, "task_seed64": 999}], cutouts=[_cutout(0)] * 3, config=config)
    assert a["image"] == b["image"] and a["image"] != c["image"]
    assert a["arc"] == c["arc"]  # the noiseless model is kept
    (plain,) = _run([TASK], cutouts=[_cutout(0)])
    noise = pixels_of(a["image"]) - pixels_of(plain["image"])
    arc = pixels_of(a["arc"], "arc")
    assert np.all(noise[arc == 0] == 0)  # no noise where there is no arc (bug 30's clamp)
    assert np.std(noise[arc > 0.001]) == pytest.approx(np.sqrt(np.mean(arc[arc > 0.001]) / 150), rel=0.3)


def test_a_bad_task_never_stops_the_batch():
    rows = _run(
        [TASK, {**TASK, "src_kind": "bogus"}, {**TASK, "src_kind": "template", "template_index": 0}, TASK]
    )
    assert [r["status"] for r in rows] == ["ok", "failed", "failed", "ok"]
    assert "bogus" in rows[1]["status_reason"] and "no source bank" in rows[2]["status_reason"]
    bad = [
        {**TASK, "src_kind": "template", "template_index": 9},
        {**TASK, "src_n": 12.0},
        {**TASK, "lens_e1": 1.2},
        {**TASK, "theta_e_arcsec": float("nan")},
        {**TASK, "brightness_mode": "loud"},
    ]
    rows = _run([TASK, *bad, TASK], bank=_TwoBanks())
    assert [r["status"] for r in rows] == ["ok"] + ["failed"] * len(bad) + ["ok"]
    for row, word in zip(
        rows[1:], ("template 9 not in the bank", "Sérsic", "ellipticity", "theta_e_arcsec", "loud")
    ):
        assert word in row["status_reason"]
        assert (
            row["arc_snr_integrated"] is None
            and row["magnification"] is None
            and not np.any(pixels_of(row["arc"], "arc"))
        )
    alone = _run([TASK], bank=_TwoBanks())
    assert rows[0]["arc"] == alone[0]["arc"]  # the bad tasks beside it changed nothing


def test_a_bad_template_fails_its_row_and_a_bug_stops_the_call(monkeypatch):
    """A template with a negative half-light radius is a bad input: its row fails at planning, the others are as
    without it. A KeyError while rendering is a bug in dhs: it stops the call, naming the task, instead of failing rows."""
    good, broken = _template(), Template(_template().image, 0.03, -0.1)
    bank = type("Bank", (), {"template": lambda self, i: (good, broken)[i]})()
    tasks = [
        {
            **TASK,
            "task_id": str(i),
            "src_kind": "template",
            "template_index": int(i == 1),
            "brightness_mode": "dmag",
        }
        for i in range(3)
    ]
    rows = _run(tasks, cutouts=[_cutout(0)] * 3, bank=bank)
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"] and "hlr_arcsec -0.1" in rows[1][
        "status_reason"
    ]
    assert rows[0]["arc"] == rows[2]["arc"] == _run(tasks[:1], cutouts=[_cutout(0)], bank=bank)[0]["arc"]

    from dhs_core.inject import engine

    render = engine.render_unit_sources

    def buggy(grid, x, y, lens, sources, *rest):
        if lens is not None and np.any(np.asarray(lens.theta_e) == 1.7):
            raise KeyError("psf_fwhm")
        return render(grid, x, y, lens, sources, *rest)

    monkeypatch.setattr(engine, "render_unit_sources", buggy)
    with pytest.raises(KeyError) as caught:
        _run([TASK, {**TASK, "task_id": "the-buggy-one", "theta_e_arcsec": 1.7}, TASK])
    assert "while rendering injection task the-buggy-one" in "".join(getattr(caught.value, "__notes__", []))


def test_a_null_in_a_required_column_fails_the_row():
    rows = _run(
        [{**TASK, "src_reff_arcsec": None}, {**TASK, "brightness_mode": "dmag", "src_dmag": None}, TASK]
    )
    assert [r["status"] for r in rows] == ["failed", "failed", "ok"]
    assert (
        "null in required column(s) src_reff" in rows[0]["status_reason"]
        and "src_dmag" in rows[1]["status_reason"]
    )


def test_missing_maskbits_give_null_snr_with_a_reason():
    rows = _run(
        [{**TASK, "brightness_mode": "dmag"}, TASK], cutouts=[_cutout(0, maskbits_status="missing")] * 2
    )
    assert rows[0]["arc_snr_integrated"] is None and "maskbits missing" in rows[0]["snr_null_reason"]
    assert rows[0]["status"] == "failed"
    assert rows[1]["status"] == "failed" and "S/N target needs maskbits" in rows[1]["status_reason"]


def test_bad_pixels_and_psf_fallbacks_are_reported():
    cutout = _cutout(0)
    cutout.maskbits[10:20, :] = int(MaskBits.SATUR_R)
    cutout.image[2, 5, 5] = np.nan
    (row,) = _run([{**TASK, "psfsize_g": 0.0}], cutouts=[cutout])
    assert row["bad_pixel_frac"] == pytest.approx(10 / 64)
    assert row["psf_fallback_bands"] == "g:r" and row["psf_fwhm_used_g"] == 1.3
    assert row["status"] == "failed" and "non-finite" in row["status_reason"]
    (row,) = _run(
        [{**TASK, "psfsize_g": None, "brick_psfsize_g": 1.6}]
    )  # the brick's median before r, and named
    assert (
        row["psf_fallback_bands"] == "g:brick"
        and row["psf_fwhm_used_g"] == 1.6
        and row["psf_fwhm_used_r"] == 1.3
    )


def test_core_mask_zeroes_the_arc_near_the_lens():
    (row,) = _run([{**TASK, "theta_e_arcsec": 0.6}], config=EngineConfig(core_mask_radius_px=5))
    arc = pixels_of(row["arc"], "arc")
    yy, xx = np.mgrid[0:64, 0:64]
    assert not np.any(arc[:, np.hypot(xx - 32.2, yy - 31.7) < 5]) and arc.sum() > 0


class _Bank:
    def __init__(self, template):
        self._template = template

    def template(self, index):
        return self._template


def test_template_sources_render_through_the_engine():
    y, x = np.mgrid[0:61, 0:61] - 30
    image = np.exp(-0.5 * ((x / 4) ** 2 + (y / 2.5) ** 2))
    image /= image.sum()
    template = Template(image, 0.03, half_light_radius(image, 0.03))
    task = {
        **TASK,
        "src_kind": "template",
        "template_index": 0,
        "src_reff_arcsec": 0.15,
        "brightness_mode": "dmag",
    }
    (row,) = _run([task], bank=_Bank(template))
    assert row["status"] == "ok"
    assert row["injected_flux_r"] == pytest.approx(row["src_flux_r"] * row["magnification"], rel=0.02)


def test_metric_definitions():
    from dhs_core.inject import metrics as m

    # a thin ring of radius 10 px about (32.3, 31.7): half its light within 10 px
    yy, xx = np.mgrid[0:64, 0:64]
    ring = np.exp(-0.5 * ((np.hypot(xx - 32.3, yy - 31.7) - 10) / 0.3) ** 2)
    assert half_light_radius(ring, 0.262, center=(32.3, 31.7)) == pytest.approx(10 * 0.262, rel=0.01)
    arc = np.zeros((64, 64))
    arc[30, 30], arc[31, 31] = 3.0, 4.0
    invvar = np.full((64, 64), 4.0)
    good = np.ones((64, 64), bool)
    good[31, 31] = False
    snr = m.snr_metrics(arc, invvar, good)
    assert snr["arc_snr_peak"] == pytest.approx(6.0)  # 3 * sqrt(4), the masked pixel ignored
    assert snr["arc_snr_integrated"] == pytest.approx(6.0)
    assert snr["arc_snr_sum"] == pytest.approx(3.0 / np.sqrt((64 * 64 - 1) / 4.0))  # diluted by sky pixels


def _template(bands=1):
    y, x = np.mgrid[0:61, 0:61] - 30
    image = np.exp(-0.5 * ((x / 4) ** 2 + (y / 2.5) ** 2))
    image /= image.sum()
    planes = np.stack([image, np.roll(image, 3, axis=1), image.T]) if bands == 3 else image
    return Template(planes, 0.03, half_light_radius(image, 0.03))


class _TwoBanks:
    """Template 0 single-plane, template 1 with g, r, z planes."""

    def __init__(self):
        self._templates = [_template(1), _template(3)]

    def template(self, index):
        if not 0 <= index < len(self._templates):
            raise TemplateIndexError(f"template {index} not in the bank (2 templates)")
        return self._templates[index]


def _mixed_tasks(n):
    rng = np.random.default_rng(5)
    tasks = []
    for i in range(n):
        kind = ("sersic", "template", "template")[i % 3]
        tasks.append(
            {
                **TASK,
                "task_id": f"t{i}",
                "src_kind": kind,
                "template_index": (i // 3) % 2 if kind == "template" else -1,
                "theta_e_arcsec": float(rng.uniform(0.5, 2.0)),
                "lens_e1": float(rng.uniform(-0.2, 0.2)),
                "src_x_arcsec": float(rng.uniform(-0.3, 0.3)),
                "src_reff_arcsec": float(rng.uniform(0.1, 0.3)),
                "is_control": i % 7 == 6,
                "psfsize_g": (1.4, 1.5)[i % 2],
                "task_seed64": i,
                "brightness_mode": ("snr", "dmag")[i % 2],
            }
        )
    return tasks


def test_output_does_not_depend_on_batching_or_neighbours():
    """Sérsic, single- and three-plane templates and controls in one call: each row is bit-identical
    whatever the batch size and whichever tasks share its batch (a re-run gives the same bytes)."""
    tasks = _mixed_tasks(17)
    cutouts = [_cutout(i, x=31.6 + 0.05 * i) for i in range(17)]
    rows = {
        size: _run(tasks, cutouts, bank=_TwoBanks(), config=EngineConfig(batch_size=size))
        for size in (1, 4, 64)
    }
    assert all(r["status"] == "ok" for r in rows[64])
    for size in (1, 4):
        for a, b in zip(rows[size], rows[64]):
            assert a == b or all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)  # NaN == NaN
    reversed_rows = _run(tasks[::-1], cutouts[::-1], bank=_TwoBanks(), config=EngineConfig(batch_size=5))[
        ::-1
    ]
    for a, b in zip(reversed_rows, rows[64]):
        assert a["image"] == b["image"] and a["arc"] == b["arc"] and a["status"] == b["status"]
    # a three-plane template's arc has its own colour per band, not one morphology scaled
    three = next(
        r
        for r, t in zip(rows[64], tasks)
        if t["src_kind"] == "template" and t["template_index"] == 1 and not t["is_control"]
    )
    arc = pixels_of(three["arc"], "arc")
    assert not np.allclose(
        arc[0] / arc[0].sum(), arc[1] / arc[1].sum(), atol=1e-3 * (arc[1] / arc[1].sum()).max()
    )


def test_an_snr_target_on_a_mostly_masked_arc_fails_instead_of_making_an_absurd_source():
    """Pins the demo's find: a bright-star mask over the arc left a few good pixels, and scaling the S/N on them
    made r = -2 mag sources. Now: failed with the reason; dmag tasks (no scaling) still inject."""
    masked = _cutout(0)
    yy, xx = np.mgrid[0:64, 0:64]
    masked.maskbits[np.hypot(xx - 32.2, yy - 31.7) < 12] = int(MaskBits.BRIGHT)  # the arc's ring, masked
    snr_row, dmag_row = _run([TASK, {**TASK, "brightness_mode": "dmag"}], cutouts=[masked, masked])
    assert snr_row["status"] == "failed" and "falls on good pixels" in snr_row["status_reason"]
    assert not np.any(pixels_of(snr_row["arc"], "arc")) and snr_row["src_flux_r"] == 0
    assert dmag_row["status"] == "ok" and dmag_row["src_flux_r"] == pytest.approx(
        10 ** (-0.4 * (19.5 + 1.0 - 22.5))
    )
    (clear,) = _run([TASK])
    assert clear["status"] == "ok"


def test_an_unmeetable_target_says_why():
    """Item 10: zero invvar gave "0 % of the arc's r flux falls on good pixels"; now the message says what is missing."""
    dead = _cutout(0)
    dead.invvar[1] = 0.0
    masked = _cutout(1)
    masked.maskbits[:] = int(MaskBits.MEDIUM)
    no_invvar, all_masked = _run([TASK, TASK], cutouts=[dead, masked])
    assert "no good r pixel in the stamp (invvar <= 0 everywhere)" in no_invvar["status_reason"]
    assert (
        "no good r pixel in the stamp (every pixel with invvar > 0 has a bad maskbit)"
        in all_masked["status_reason"]
    )


def test_a_bank_template_with_a_bad_radius_is_named(tmp_path):
    """Item 10: a template of radius 0 gave "hlr_arcsec=[0.15] is not allowed: expected > 0", blaming the task's radius.
    A broken bank is not a bad row: the call stops, naming the bank file, the template and the task."""
    import h5py

    from dhs_core.bank import build_generated_bank, open_bank

    path = build_generated_bank(tmp_path / "bank.h5", 4, seed=1)
    with h5py.File(path, "r+") as fh:
        fh["meta/hlr_arcsec"][2] = 0.0
    with (
        open_bank(path) as bank,
        pytest.raises(InputFileError, match="bank.h5: template 2 has hlr_arcsec 0.0: expected") as caught,
    ):
        _run([{**TASK, "src_kind": "template", "template_index": 2}], bank=bank)
    assert caught.value.__notes__ == ["while planning injection task t"]


def test_a_galaxy_masked_near_the_lens_is_unusable_whatever_its_class():
    """The validity rule looks at the cutout before the class: more than 20 % bad pixels within the arc reach fail the
    control and the injection alike; the same mask outside the reach leaves both ok."""
    near, far = _cutout(0), _cutout(0)
    near.maskbits[28:36, 24:40] = int(MaskBits.SATUR_R)  # a saturated block over the lens
    far.maskbits[0:8, 0:16] = int(MaskBits.SATUR_R)  # the same block in a corner
    reach = {**TASK, "arc_reach_arcsec": 2.0}  # 7.6 px
    rows = _run(
        [{**reach, "is_control": True}, reach, {**reach, "is_control": True}, reach],
        cutouts=[near, near, far, far],
    )
    assert [r["status"] for r in rows] == ["failed", "failed", "ok", "ok"]
    assert rows[0]["status_reason"] == rows[1]["status_reason"]
    assert (
        rows[0]["status_reason"].startswith("masked near the lens: ")
        and '2.0" are masked or without data (> 20 %)' in rows[0]["status_reason"]
    )
    loose = _run(
        [{**reach, "is_control": True}], cutouts=[near], config=EngineConfig(max_masked_near_lens=1.0)
    )
    assert loose[0]["status"] == "ok"


def test_an_injection_lost_to_masks_takes_the_most_similar_control_with_it():
    """An arc that falls on masked pixels fails only injections; the ok control with the nearest bad-pixel fraction
    is failed with it (once), so masks do not separate the ok classes."""
    import pyarrow.compute as pc

    from dhs_core.stamps.build import CLASS_MATCH, match_controls

    masked = _cutout(0)
    yy, xx = np.mgrid[0:64, 0:64]
    masked.maskbits[np.hypot(xx - 32.2, yy - 31.7) < 12] = int(MaskBits.SATUR_R)  # the arc's whole ring
    clean, similar = _cutout(1), _cutout(2)
    similar.maskbits[np.hypot(xx - 10, yy - 10) < 12] = int(
        MaskBits.SATUR_R
    )  # as many bad pixels, away from the lens
    tasks = [
        TASK,
        {**TASK, "task_id": "c-clean", "is_control": True},
        {**TASK, "task_id": "c-similar", "is_control": True},
    ]
    stamps = inject([masked, clean, similar], pa.Table.from_pylist(tasks), None, EngineConfig())
    stamps = pa.Table.from_batches([stamps])
    assert (
        stamps["status"].to_pylist() == ["failed", "ok", "ok"]
        and "falls on good pixels" in stamps["status_reason"][0].as_py()
    )
    matched = match_controls(stamps, np.array([False, True, True]))
    assert matched["status"].to_pylist() == ["failed", "ok", "failed"]
    assert matched["status_reason"][2].as_py() == f"{CLASS_MATCH} t (its arc fell on masked pixels)"
    assert matched["bad_pixel_frac"][2].as_py() is None and matched["image"].equals(
        stamps["image"]
    )  # still its cutout
    controls = stamps.filter(pc.field("task_id") != "t")
    assert match_controls(controls, np.array([True, True])) is controls  # nothing lost, nothing matched


def test_tasks_sharing_one_cutout_get_the_rows_of_tasks_with_copies_of_it():
    """The engine computes what depends on the cutout alone once per distinct cutout (the tasks of one galaxy share
    theirs): the same rows as when every task holds its own copy, masks, invvar quantiles and the masked-near-lens
    rule included."""
    shared = _cutout(3)
    shared.invvar[:, 26:38, 26:38] = (
        0  # no data at the lens: the masked-near-lens fraction and quantiles move
    )
    shared.maskbits[40:50, 10:30] = 2**1  # BRIGHT
    tasks = [
        {**TASK, "task_id": f"t{i}", "arc_reach_arcsec": reach, "is_control": i % 3 == 0}
        for i, reach in enumerate([1.0, 2.5, 4.0, 6.0, 2.5, 9.0])
    ]
    other = _cutout(4)
    cutouts = [shared, shared, other, shared, other, shared]
    copies = [
        Cutout(
            c.image.copy(),
            c.invvar.copy(),
            c.maskbits.copy(),
            c.x,
            c.y,
            c.bands,
            c.band_status,
            c.maskbits_status,
        )
        for c in cutouts
    ]
    together, apart = _run(tasks, cutouts), _run(tasks, copies)
    same = lambda a, b: a == b or (a != a and b != b)  # noqa: E731 - NaN is NaN
    assert all(same(x[k], y[k]) for x, y in zip(together, apart, strict=True) for k in x)
    reasons = [r["status_reason"] for r in together]
    assert any("masked near the lens" in r for r in reasons) and any(r == "" for r in reasons)
