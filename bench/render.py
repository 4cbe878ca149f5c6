"""Injection throughput: dhs's engine against lenstronomy on the same tasks, in the same run, one core.

    python bench/render.py [--tasks 400] [--peer-tasks 40] [--repeats 3]

Tasks (20 per brick, a brick having one PSF FWHM per band): SIE + shear lenses (theta_E 0.5-2"), a galaxy-like template source at 0.03"/px rescaled and
rotated per task, 4x oversampling, a Moffat PSF per band (g, r, z), 64 x 64 stamps, brightness set by an
integrated S/N target, injected into a noisy cutout with invvar and maskbits. The peer renders each band
with lenstronomy's ImageModel (INTERPOL source, supersampling 4, PIXEL PSF) and does the same S/N
scaling and addition. Prints stamps/s for both (medians of the repeats) and their ratio.
"""

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, for both

import numpy as np
import pyarrow as pa
from lenstronomy.Data.imaging_data import ImageData
from lenstronomy.Data.psf import PSF
from lenstronomy.ImSim.image_model import ImageModel
from lenstronomy.LensModel.lens_model import LensModel
from lenstronomy.LightModel.light_model import LightModel

from _common import median_seconds, save
from dhs_core.inject.engine import EngineConfig, inject
from dhs_core.inject.psf import kernel
from dhs_core.inject.sources import Template, half_light_radius
from dhs_core.survey.coadds import Cutout


TASKS_PER_BRICK = 20


class Bank:
    def __init__(self, template):
        self._template = template

    def template(self, index):
        return self._template


def make_inputs(n, rng):
    y, x = np.mgrid[0:96, 0:96] - 47.5
    image = np.exp(-0.5 * ((x / 6) ** 2 + (y / 4) ** 2)) + 0.3 * np.exp(-0.5 * (((x - 9) / 2) ** 2 + ((y + 4) / 2) ** 2))
    image /= image.sum()
    template = Template(image, 0.03, half_light_radius(image, 0.03))
    sigma = 0.004
    cutout = Cutout(rng.normal(0, sigma, (3, 64, 64)).astype(np.float32), np.full((3, 64, 64), 1 / sigma**2, np.float32),
                    np.zeros((64, 64), np.int32), 32.2, 31.7, "grz", ("ok",) * 3, "ok")
    # tasks come grouped by brick (as the engine is called), and a brick has one PSF size per band
    brick_psf = [dict(psfsize_g=float(rng.uniform(1.1, 1.6)), psfsize_r=float(rng.uniform(1.0, 1.5)),
                      psfsize_z=float(rng.uniform(0.9, 1.4))) for _ in range(n // TASKS_PER_BRICK + 1)]
    tasks = [dict(task_id=str(i), is_control=False, theta_e=float(rng.uniform(0.5, 2.0)), lens_e1=float(rng.uniform(-0.2, 0.2)),
                  lens_e2=float(rng.uniform(-0.2, 0.2)), gamma1=float(rng.uniform(-0.05, 0.05)), gamma2=float(rng.uniform(-0.05, 0.05)),
                  src_x=float(rng.uniform(-0.3, 0.3)), src_y=float(rng.uniform(-0.3, 0.3)), src_kind="template",
                  src_reff=float(rng.uniform(0.1, 0.4)), src_n=1.0, src_q=1.0, src_pa=float(rng.uniform(0, np.pi)), template_index=0,
                  brightness_mode="snr", src_dmag=1.0, arc_snr_target=20.0, lens_rmag=19.5, src_gr=1.1, src_rz=0.8,
                  task_seed=i, **brick_psf[i // TASKS_PER_BRICK]) for i in range(n)]
    return template, cutout, tasks


def lenstronomy_inject(template, cutout, tasks):
    data = ImageData(image_data=np.zeros((64, 64)), transform_pix2angle=np.array([[0.262, 0], [0, 0.262]]),
                     ra_at_xy_0=-cutout.x * 0.262, dec_at_xy_0=-cutout.y * 0.262)
    lens_model, light_model = LensModel(["SIE", "SHEAR"]), LightModel(["INTERPOL"])
    for task in tasks:
        step = template.pixel_scale * task["src_reff"] / template.hlr_arcsec
        kwargs_lens = [dict(theta_E=task["theta_e"], e1=task["lens_e1"], e2=task["lens_e2"], center_x=0, center_y=0),
                       dict(gamma1=task["gamma1"], gamma2=task["gamma2"], ra_0=0, dec_0=0)]
        ratios = [10 ** (-0.4 * task["src_gr"]), 1.0, 10 ** (0.4 * task["src_rz"])]
        arcs = []
        for band, ratio in zip("grz", ratios):
            psf = PSF(psf_type="PIXEL", kernel_point_source=kernel(task[f"psfsize_{band}"]))
            model = ImageModel(data, psf, lens_model_class=lens_model, source_model_class=light_model,
                               kwargs_numerics=dict(supersampling_factor=4, supersampling_convolution=False))
            arcs.append(ratio * model.image(kwargs_lens=kwargs_lens, kwargs_source=[dict(
                image=template.image / step**2, amp=1.0, center_x=task["src_x"], center_y=task["src_y"], phi_G=task["src_pa"], scale=step)]))
        snr = np.sqrt(np.sum(arcs[1] ** 2 * cutout.invvar[1]))
        _ = cutout.image + np.stack(arcs) * (task["arc_snr_target"] / snr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--peer-tasks", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    template, cutout, tasks = make_inputs(args.tasks, np.random.default_rng(0))
    table = pa.Table.from_pylist(tasks)
    config = EngineConfig()
    result = {}
    inject([cutout] * len(tasks), table, Bank(template), config)  # warm the kernel caches, as a long run would
    dhs, runs = median_seconds(lambda: result.update(batch=inject([cutout] * len(tasks), table, Bank(template), config)), args.repeats)
    ok = sum(s == "ok" for s in result["batch"].column("status").to_pylist())
    peer, _ = median_seconds(lambda: lenstronomy_inject(template, cutout, tasks[: args.peer_tasks]), args.repeats)
    rate, peer_rate = args.tasks / dhs, args.peer_tasks / peer
    print(f"dhs: {args.tasks} stamps in {dhs:.2f} s (median of {', '.join(f'{t:.2f}' for t in runs)}) -> {rate:.0f} stamps/s/core ({ok} ok)")
    print(f"lenstronomy: {args.peer_tasks} stamps in {peer:.2f} s -> {peer_rate:.1f} stamps/s/core")
    print(f"ratio dhs / lenstronomy: {rate / peer_rate:.1f}x")
    print(f"figures saved to {save('render', {'dhs_stamps_per_s': rate, 'lenstronomy_stamps_per_s': peer_rate, 'ratio': rate / peer_rate})}")


if __name__ == "__main__":
    main()
