"""The injection engine's columns, declared once: the manifest columns it reads (a task row) and the schema of
the rows it returns (used by the engine, the stamps writer, an empty partition and ``docs/stamps.md``).

Task columns (manifest names, ``docs/manifest.md``; angles arcsec, position angles rad, fluxes nanomaggies):

======================= ============================================================================
task_id                 stable id (string)
is_control              true: no arc; the stamp is the cutout, bit for bit
theta_e_arcsec          SIE Einstein radius; ``lens_e1, lens_e2`` its ellipticity; ``gamma1, gamma2`` shear
src_x/y_arcsec          source position relative to the lens, in the source plane
src_kind                ``sersic`` or ``template``
src_reff_arcsec         Sérsic half-light semi-major axis / template half-light radius after rescaling
src_n, src_q            Sérsic index and axis ratio (Sérsic only); ``src_phi_rad`` position angle (both kinds)
template_index          row of the source bank (template only)
brightness_mode         ``dmag``: r flux from ``rmag + src_dmag``; ``snr``: scaled to ``target_arc_snr``
target_snr_definition   the S/N ``target_arc_snr`` is in: ``peak`` (max per-pixel S/N of the noiseless arc, the
                        original's ``arc_snr``) or ``integrated`` (matched-filter S/N), both in ``EngineConfig.snr_band``
src_gr, src_rz          source colours g - r and r - z (AB)
psfsize_g/r/z           the object's PSF FWHM per band (<= 0, NaN or null: missing)
brick_psfsize_g/r/z     the brick's median PSF FWHM, used where the object's is missing (then r, then a default)
arc_reach_arcsec        the largest distance from the lens at which the manifest's grid puts arc light; a galaxy
                        whose pixels within it are too masked is unusable, whatever its class
task_seed64             int64 seed of this task's random draws (arc Poisson noise)
======================= ============================================================================
"""

from __future__ import annotations

import pyarrow as pa

from dhs_core.conventions import BANDS
from dhs_core.pixels import PIXEL_TYPE

TASK_COLUMN_NEEDS = {  # every task column, in manifest order, and which injections cannot go without it
    "task_id": None,
    "is_control": None,
    "theta_e_arcsec": "any",
    "lens_e1": "any",
    "lens_e2": "any",
    "gamma1": "any",
    "gamma2": "any",
    "src_x_arcsec": "any",
    "src_y_arcsec": "any",
    "src_kind": "any",
    "src_reff_arcsec": "any",
    "src_n": "sersic",
    "src_q": "sersic",
    "src_phi_rad": "any",
    "template_index": "template",
    "brightness_mode": "any",
    "target_arc_snr": "snr",
    "target_snr_definition": "snr",
    "rmag": "dmag",
    "src_dmag": "dmag",
    "src_gr": "any",
    "src_rz": "any",
    **{f"psfsize_{b}": None for b in BANDS},
    **{f"brick_psfsize_{b}": None for b in BANDS},
    "arc_reach_arcsec": None,
    "task_seed64": None,
}
TASK_COLUMNS = tuple(TASK_COLUMN_NEEDS)
# by source kind (sersic, template) and brightness mode (snr, dmag), plus those every injection needs
REQUIRED = {
    need: tuple(c for c, n in TASK_COLUMN_NEEDS.items() if n == need)
    for need in ("any", "sersic", "template", "snr", "dmag")
}

SNR_COLUMNS = ("arc_snr_peak", "arc_snr_integrated", "arc_snr_sum")
METRIC_COLUMNS = (  # null for a failed task; the S/N ones also where the maskbits or a band are not on the brick
    *SNR_COLUMNS,
    "bad_pixel_frac",
    "wise_brightmask_frac",
    *(f"invvar_{s}_{b}" for b in BANDS for s in ("median", "p10")),
    *(f"injected_flux_{b}" for b in BANDS),
    "magnification",
    "lensed_hlr_arcsec",
)
STATUS_COLUMNS = ("task_id", "status", "status_reason")
# per-stamp pixels, a binary value each (dhs_core.pixels)
ARRAY_COLUMNS = ("image", "arc", "invvar", "maskbits")
FLOAT_COLUMNS = (*METRIC_COLUMNS, *(f"psf_fwhm_used_{b}" for b in BANDS), *(f"src_flux_{b}" for b in BANDS))
TEXT_COLUMNS = ("psf_fallback_bands", "physics_warnings", "snr_null_reason")


def engine_schema() -> pa.Schema:
    """The rows :func:`dhs_core.inject.engine.inject` returns, for stamps of any size: ids and status, the pixels
    (image, arc, invvar float32 planes; maskbits int32; as bytes: ``dhs_core.pixels``), ``cutout_ok``, the float64
    metrics, PSF sizes used and source fluxes, then the notes."""
    return pa.schema(
        [
            *(pa.field(name, pa.string()) for name in STATUS_COLUMNS),
            *(pa.field(name, PIXEL_TYPE) for name in ARRAY_COLUMNS),
            pa.field("cutout_ok", pa.bool_()),
            *(pa.field(name, pa.float64()) for name in FLOAT_COLUMNS),
            *(pa.field(name, pa.string()) for name in TEXT_COLUMNS),
        ]
    )


ENGINE_COLUMNS = tuple(engine_schema().names)
