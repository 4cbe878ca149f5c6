"""What the shortcut probes look at: core pixels, azimuthal profiles, and the residual-radial-profile
preprocessing that removes a stamp's round (galaxy + counter-image) light.

Stamps are (N, bands, S, S) arrays in nanomaggies; radii in pixels from the stamp centre (S // 2, S // 2),
which is within half a pixel of the LRG by the cutout convention."""

from __future__ import annotations

import numpy as np

OUTER_ANNULUS_PX = (20.0, 32.0)  # where a stamp's sky level and noise are measured (original_pipeline §5.3)
MAD_TO_SIGMA = 1.4826


def radius_map(size: int) -> np.ndarray:
    """Distance of each pixel centre from the stamp centre (S // 2, S // 2), pixels, (S, S)."""
    y, x = np.indices((size, size))
    return np.hypot(x - size // 2, y - size // 2)


def core_pixels(images: np.ndarray, radius_px: float = 10.0) -> np.ndarray:
    """(N, bands * pixels within ``radius_px``): the core of every band, flattened."""
    inside = radius_map(images.shape[-1]) < radius_px
    return images[:, :, inside].reshape(len(images), -1)


CORE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def core_statistics(images: np.ndarray, radius_px: float = 10.0) -> np.ndarray:
    """(N, bands * 6): per band, the quantiles ``CORE_QUANTILES`` and the mean of the pixels within ``radius_px``
    (the original's core-only features: its strongest were g_q25, g_median and r_median)."""
    inside = radius_map(images.shape[-1]) < radius_px
    core = images[:, :, inside]
    stats = np.concatenate(
        [np.quantile(core, CORE_QUANTILES, axis=-1).transpose(1, 2, 0), core.mean(axis=-1)[..., None]],
        axis=-1,
    )
    return stats.reshape(len(images), -1)


def radial_profiles(images: np.ndarray, max_radius_px: int = 32) -> np.ndarray:
    """(N, bands * max_radius_px): the azimuthal mean in 1-px annuli [k, k+1) of every band."""
    ring = np.minimum(radius_map(images.shape[-1]).astype(int), max_radius_px).ravel()
    flat = images.reshape(images.shape[0] * images.shape[1], -1)
    sums = np.zeros((flat.shape[0], max_radius_px + 1))
    np.add.at(sums.T, ring, flat.T)
    counts = np.bincount(ring, minlength=max_radius_px + 1)
    return (sums[:, :max_radius_px] / counts[:max_radius_px]).reshape(images.shape[0], -1)


def outer_annulus_level(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per stamp and band (N, bands): the median of the outer annulus (20-32 px) and 1.4826 x its MAD (the sky
    level and noise, in the images' units)."""
    r = radius_map(images.shape[-1])
    outer = images[:, :, (r >= OUTER_ANNULUS_PX[0]) & (r < OUTER_ANNULUS_PX[1])]
    median = np.median(outer, axis=-1)
    return median, MAD_TO_SIGMA * np.median(np.abs(outer - median[..., None]), axis=-1)


def normalise_by_outer_annulus(
    images: np.ndarray, level: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Each band of each stamp minus the median of its outer annulus (20-32 px), over 1.4826 x that annulus's MAD.
    ``level``: those two, when the caller has them already (:func:`outer_annulus_level`)."""
    median, mad = outer_annulus_level(images) if level is None else level
    mad = np.where(mad > 0, mad, 1.0)  # a flat (e.g. zero-padded) band stays as it is
    return (images - median[..., None, None]) / mad[..., None, None]


def residual_radial_profile(images: np.ndarray) -> np.ndarray:
    """The original's fix: normalise by the outer annulus, then subtract the azimuthal median profile, leaving
    only light that is not round about the centre. The profile is the median of each 1-px annulus, placed at the
    mean radius of its pixels and interpolated linearly to each pixel's own radius (a step profile would leave
    the steep core's round light behind as a ring pattern)."""
    normalised = normalise_by_outer_annulus(images.astype(np.float64))
    size = images.shape[-1]
    radius = radius_map(size).ravel()
    ring = radius.astype(int)
    flat = normalised.reshape(-1, size * size)
    order = np.argsort(ring, kind="stable")
    annuli = np.split(order, np.flatnonzero(np.diff(ring[order])) + 1)
    medians = np.stack([np.median(flat[:, pixels], axis=1) for pixels in annuli], axis=1)
    centres = np.array([radius[pixels].mean() for pixels in annuli])
    # piecewise-linear interpolation of every profile at once: the bracketing annuli of each pixel's radius
    upper = np.clip(np.searchsorted(centres, radius), 1, len(centres) - 1)
    weight = np.clip((radius - centres[upper - 1]) / (centres[upper] - centres[upper - 1]), 0.0, 1.0)
    profile = medians[:, upper - 1] * (1 - weight) + medians[:, upper] * weight
    return (flat - profile).reshape(images.shape)


def zero_annulus(images: np.ndarray, inner_px: float = 10.0, outer_px: float = 25.0) -> np.ndarray:
    """A copy with the annulus ``inner_px <= r < outer_px`` (where the arcs are) set to 0 in every band."""
    r = radius_map(images.shape[-1])
    return np.where((r >= inner_px) & (r < outer_px), 0.0, images)


def binned(images: np.ndarray, factor: int = 2) -> np.ndarray:
    """(N, bands * (S/factor)^2): block sums of ``factor`` x ``factor`` pixels, flattened (a whole-stamp probe's input)."""
    n, bands, size, _ = images.shape
    cut = size - size % factor
    blocks = images[:, :, :cut, :cut].reshape(n, bands, cut // factor, factor, cut // factor, factor)
    return blocks.sum(axis=(3, 5)).reshape(n, -1)


def stamp_features(images: np.ndarray) -> np.ndarray:
    """(N, bands * ((S/8)^2 + 2)): what the null-injection probe compares. The outer-annulus-normalised stamp in
    8 x 8-pixel block sums (where light is), plus two numbers per band that no pixel position carries: the fraction
    of pixels exactly 0 (blanked or zero-padded pixels) and log10 of the outer annulus's noise (a noise or invvar
    difference). A mask or padding rule that differed by class shows in these even where it moves no block's mean."""
    level = outer_annulus_level(images)
    zero = (images == 0).reshape(images.shape[0], images.shape[1], -1).mean(axis=-1)
    return np.concatenate(
        [binned(normalise_by_outer_annulus(images, level), 8), zero, np.log10(np.maximum(level[1], 1e-30))],
        axis=1,
    )
