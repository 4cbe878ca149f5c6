import numpy as np
import pyarrow as pa
import pytest

from dhs_core.survey.bricks import brick_area_deg2, brickname_from_center


def brick_grid(ra_start, dec_start, n_ra, n_dec, size=0.25, **conditions):
    """A DR10-like grid of bricks: ``size`` deg of Dec, ``size / cos(dec)`` of RA, with conditions."""
    rows = []
    for j in range(n_dec):
        dec1 = dec_start + j * size
        width = size / np.cos(np.radians(dec1 + size / 2))
        for i in range(n_ra):
            ra1 = (ra_start + i * width) % 360
            rows.append(
                (ra1, (ra1 + width) % 360, dec1, dec1 + size, (ra1 + width / 2) % 360, dec1 + size / 2)
            )
    ra1, ra2, dec1, dec2, ra, dec = map(np.array, zip(*rows))
    n = len(ra)
    table = {
        "brickname": brickname_from_center(ra, dec),
        "ra": ra,
        "dec": dec,
        "ra1": ra1,
        "ra2": ra2,
        "dec1": dec1,
        "dec2": dec2,
        "area_deg2": brick_area_deg2(ra1, ra2, dec1, dec2),
        "ebv": np.full(n, 0.03),
        "psfsize_r": np.full(n, 1.2),
        "psfdepth_mag5_r": np.full(n, 24.2),
        "psfsize_g": np.full(n, 1.3),
        "psfsize_z": np.full(n, 1.1),
        "psfdepth_mag5_g": np.full(n, 24.6),
        "psfdepth_mag5_z": np.full(n, 23.4),
    }
    table.update({k: np.full(n, v) for k, v in conditions.items()})
    return pa.table(table)


def counts_for(bricks, n_gal=1000, v3=30):
    n = bricks.num_rows
    return pa.table(
        {
            "brickname": bricks["brickname"],
            "n_gal": np.full(n, n_gal),
            "n_lrg_v1_pure_massive": np.full(n, 1),
            "n_lrg_v2_baseline_dr10": np.full(n, 2),
            "n_lrg_v3_color_relaxed": np.full(n, v3),
            "n_lrg_v4_mag_relaxed": np.full(n, 2 * v3),
            "n_lrg_v5_very_relaxed": np.full(n, 4 * v3),
        }
    )


@pytest.fixture()
def grid():
    return brick_grid
