"""A stamp row's pixel value (bytes, as ``dhs_core.pixels`` stores it) as an array, for tests reading rows one by one."""

import numpy as np
import pyarrow as pa

from dhs_core.pixels import pixels_array


def pixels_of(value: bytes, name: str = "image") -> np.ndarray:
    """(bands, S, S) or, for maskbits, (S, S)."""
    return pixels_array(pa.array([value], pa.large_binary()), name)[0]
