"""Injection throughput: dhs's engine against lenstronomy on the same tasks, in the same run, one core.

    python bench/render.py [--tasks 400] [--peer-tasks 40] [--repeats 15]

Tasks (20 per brick, a brick having one PSF FWHM per band; one cutout per task with its own noise and
sub-pixel LRG position): SIE + shear lenses (theta_E 0.5-2"), a galaxy-like template source at 0.03"/px
rescaled and rotated per task, 4x oversampling, a Moffat PSF per band (g, r, z), 64 x 64 stamps,
brightness set by an integrated S/N target, added to the cutout with invvar and maskbits. The peer
renders each band with lenstronomy's ImageModel (INTERPOL source, supersampling 4, PIXEL PSF; one model
per PSF reused across tasks, the lens moved to each LRG) and does the same S/N scaling and addition.
The two alternate run by run; prints the medians of stamps/s and of the per-run ratios, and how far the
two arcs differ on the same tasks.
"""

import argparse
import os
import statistics

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, for both

import numpy as np
import pyarrow as pa
from _common import median_seconds, save
from lenstronomy.Data.imaging_data import ImageData
from lenstronomy.Data.psf import PSF
from lenstronomy.ImSim.image_model import ImageModel
from lenstronomy.LensModel.lens_model import LensModel
from lenstronomy.LightModel.light_model import LightModel

from dhs_core.inject.engine import EngineConfig, inject
from dhs_core.inject.psf import kernel
from dhs_core.inject.sources import Template, half_light_radius
from dhs_core.pixels import pixels_array
from dhs_core.survey.coadds import Cutout

TASKS_PER_BRICK = 20


class Bank:
    def __init__(self, template):
        self._template = template

    def template(self, index):
        return self._template


def make_inputs(n, rng):
    y, x = np.mgrid[0:96, 0:96] - 47.5
    image = np.exp(-0.5 * ((x / 6) ** 2 + (y / 4) ** 2)) + 0.3 * np.exp(
        -0.5 * (((x - 9) / 2) ** 2 + ((y + 4) / 2) ** 2)
    )
    image /= image.sum()
    template = Template(image, 0.03, half_light_radius(image, 0.03))
    sigma = 0.004
    # one cutout per task (its own noise and sub-pixel LRG position), as a run over a manifest has
    cutouts = [
        Cutout(
            rng.normal(0, sigma, (3, 64, 64)).astype(np.float32),
            np.full((3, 64, 64), 1 / sigma**2, np.float32),
            np.zeros((64, 64), np.int32),
            float(rng.uniform(31.5, 32.5)),
            float(rng.uniform(31.5, 32.5)),
            "grz",
            ("ok",) * 3,
            "ok",
        )
        for _ in range(n)
    ]
    # tasks come grouped by brick (as the engine is called), and a brick has one PSF size per band
    brick_psf = [
        dict(
            psfsize_g=float(rng.uniform(1.1, 1.6)),
            psfsize_r=float(rng.uniform(1.0, 1.5)),
            psfsize_z=float(rng.uniform(0.9, 1.4)),
        )
        for _ in range(n // TASKS_PER_BRICK + 1)
    ]
    tasks = [
        dict(
            task_id=str(i),
            is_control=False,
            theta_e_arcsec=float(rng.uniform(0.5, 2.0)),
            lens_e1=float(rng.uniform(-0.2, 0.2)),
            lens_e2=float(rng.uniform(-0.2, 0.2)),
            gamma1=float(rng.uniform(-0.05, 0.05)),
            gamma2=float(rng.uniform(-0.05, 0.05)),
            src_x_arcsec=float(rng.uniform(-0.3, 0.3)),
            src_y_arcsec=float(rng.uniform(-0.3, 0.3)),
            src_kind="template",
            src_reff_arcsec=float(rng.uniform(0.1, 0.4)),
            src_n=1.0,
            src_q=1.0,
            src_phi_rad=float(rng.uniform(0, np.pi)),
            template_index=0,
            brightness_mode="snr",
            src_dmag=1.0,
            target_arc_snr=20.0,
            rmag=19.5,
            src_gr=1.1,
            src_rz=0.8,
            task_seed64=i,
            **brick_psf[i // TASKS_PER_BRICK],
        )
        for i in range(n)
    ]
    return template, cutouts, tasks


def lenstronomy_inject(template, cutouts, tasks):
    # one pixel grid and one ImageModel per PSF, reused across tasks (as a careful user would): the lens
    # and source centres move to each LRG's sub-pixel position instead of the grid
    data = ImageData(
        image_data=np.zeros((64, 64)),
        transform_pix2angle=np.array([[0.262, 0], [0, 0.262]]),
        ra_at_xy_0=0.0,
        dec_at_xy_0=0.0,
    )
    lens_model, light_model = LensModel(["SIE", "SHEAR"]), LightModel(["INTERPOL"])
    models, out = {}, []
    for cutout, task in zip(cutouts, tasks):
        lx, ly = cutout.x * 0.262, cutout.y * 0.262
        step = template.pixel_scale * task["src_reff_arcsec"] / template.hlr_arcsec
        kwargs_lens = [
            dict(
                theta_E=task["theta_e_arcsec"],
                e1=task["lens_e1"],
                e2=task["lens_e2"],
                center_x=lx,
                center_y=ly,
            ),
            dict(gamma1=task["gamma1"], gamma2=task["gamma2"], ra_0=lx, dec_0=ly),
        ]
        kwargs_source = [
            dict(
                image=template.image / step**2,
                amp=1.0,
                center_x=lx + task["src_x_arcsec"],
                center_y=ly + task["src_y_arcsec"],
                phi_G=task["src_phi_rad"],
                scale=step,
            )
        ]
        ratios = [10 ** (-0.4 * task["src_gr"]), 1.0, 10 ** (0.4 * task["src_rz"])]
        arcs = []
        for band, ratio in zip("grz", ratios):
            fwhm = task[f"psfsize_{band}"]
            if fwhm not in models:
                models[fwhm] = ImageModel(
                    data,
                    PSF(psf_type="PIXEL", kernel_point_source=kernel(fwhm)),
                    lens_model_class=lens_model,
                    source_model_class=light_model,
                    kwargs_numerics=dict(supersampling_factor=4, supersampling_convolution=False),
                )
            arcs.append(ratio * models[fwhm].image(kwargs_lens=kwargs_lens, kwargs_source=kwargs_source))
        snr = np.sqrt(np.sum(arcs[1] ** 2 * cutout.invvar[1]))
        arc = np.stack(arcs) * (task["target_arc_snr"] / snr)
        _ = cutout.image + arc
        out.append(arc)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--peer-tasks", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    template, cutouts, tasks = make_inputs(args.tasks, np.random.default_rng(0))
    table = pa.Table.from_pylist(tasks)
    config = EngineConfig()
    result = {}
    inject(cutouts, table, Bank(template), config)  # warm the kernel caches, as a long run would
    # the two alternate, one repeat each at a time, so that a slow spell of the machine hits both
    rates, peer_rates = [], []
    for _ in range(args.repeats):
        seconds, _ = median_seconds(
            lambda: result.update(batch=inject(cutouts, table, Bank(template), config)), 1
        )
        rates.append(args.tasks / seconds)
        seconds, _ = median_seconds(
            lambda: lenstronomy_inject(template, cutouts, tasks[: args.peer_tasks]), 1
        )
        peer_rates.append(args.peer_tasks / seconds)
    ratios = [a / b for a, b in zip(rates, peer_rates)]
    rate, peer_rate, ratio = (statistics.median(v) for v in (rates, peer_rates, ratios))
    ok = sum(s == "ok" for s in result["batch"].column("status").to_pylist())
    # same tasks, same answer: the arcs of the two agree (relative to each arc's peak)
    ours = pixels_array(result["batch"].column("arc"), "arc")
    theirs = lenstronomy_inject(template, cutouts, tasks[:5])
    agreement = max(np.abs(ours[i] - theirs[i]).max() / theirs[i].max() for i in range(5))
    print(f"agreement on 5 tasks: max |dhs - lenstronomy| = {agreement:.1e} of the peak")
    print(
        f"dhs: {rate:.0f} stamps/s/core, median of {', '.join(f'{r:.0f}' for r in rates)} ({args.tasks} stamps per run, {ok} ok)"
    )
    print(
        f"lenstronomy: {peer_rate:.1f} stamps/s/core, median of {', '.join(f'{r:.1f}' for r in peer_rates)} ({args.peer_tasks} per run)"
    )
    print(
        f"ratio dhs / lenstronomy: {ratio:.1f}x, median of the runs' ratios {', '.join(f'{r:.1f}' for r in ratios)}"
    )
    print(
        f"figures saved to {save('render', {'dhs_stamps_per_s': rate, 'lenstronomy_stamps_per_s': peer_rate, 'ratio': ratio, 'ratios': ratios, 'max_relative_difference': agreement})}"
    )


if __name__ == "__main__":
    main()
