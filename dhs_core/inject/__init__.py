"""The injection engine: lens, sources, PSF, rendering, noise and metrics, as separate pieces."""
