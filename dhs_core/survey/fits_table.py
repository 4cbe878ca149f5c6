"""Read columns of a FITS binary table into Arrow: case-insensitive names, native byte order.

Shared by the sweep and bricks-table readers. Only the requested columns are converted; the file is
memory-mapped (plain FITS) so a column read touches only the bytes it needs to copy.
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from astropy.io import fits

from dhs_core.errors import InputFileError, MissingColumnError


def _check_not_truncated(path: str, hdul: fits.HDUList, hdu_index: int) -> None:
    """A truncated plain FITS file is an error, not a short table (astropy would only warn)."""
    if path.endswith(".gz"):
        return  # gzip checks its own length and CRC when the data are read
    hdu = hdul[hdu_index]
    info = hdul.fileinfo(hdu_index)
    needed = info["datLoc"] + hdu.header.get("NAXIS1", 0) * hdu.header.get("NAXIS2", 0)
    size = os.path.getsize(path)
    if size < needed:
        raise InputFileError(path, f"truncated: {size} bytes on disk, the header promises {needed}")


def _gzip_complete(path: str) -> bool:
    """Whether a gzip file decompresses to its end marker with a good CRC (read in 16 MB blocks)."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 24):
                pass
        return True
    except (OSError, EOFError, zlib.error):
        return False


def read_fits_columns(path: str, columns: Sequence[str] | None, hdu_index: int = 1) -> pa.Table:
    """Read ``columns`` (case-insensitive; ``None`` = all) of a FITS binary table as an Arrow table.

    Output names are lower case; fixed-width string columns are decoded and stripped; multi-element
    columns become fixed-size lists. A missing file, a corrupt or truncated file and missing columns
    are :class:`InputFileError` / :class:`MissingColumnError` naming the file.
    """
    path = str(path)
    if not os.path.exists(path):
        raise InputFileError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", fits.verify.VerifyWarning)
            warnings.filterwarnings(
                "ignore", message="File may have been truncated"
            )  # checked below, as an error
            hdul = fits.open(path, memmap=not path.endswith(".gz"), lazy_load_hdus=False)
    except Exception as exc:  # astropy raises OSError, ValueError, VerifyWarning... for bad files
        raise InputFileError(path, f"not a readable FITS file ({type(exc).__name__}: {exc})") from exc
    with hdul:
        if len(hdul) <= hdu_index or not isinstance(hdul[hdu_index], fits.BinTableHDU):
            if path.endswith(".gz") and not _gzip_complete(path):
                raise InputFileError(
                    path,
                    "truncated or corrupt gzip file: the compressed stream ends before its end "
                    f"marker (only {len(hdul)} HDU(s) readable); fetch it again",
                )
            raise InputFileError(
                path, f"HDU {hdu_index} is not a binary table (the file has {len(hdul)} HDU(s))"
            )
        _check_not_truncated(path, hdul, hdu_index)
        hdu = hdul[hdu_index]
        by_lower = {name.lower(): name for name in hdu.columns.names}
        wanted = [c.lower() for c in (columns if columns is not None else hdu.columns.names)]
        missing = [c for c in wanted if c not in by_lower]
        if missing:
            raise MissingColumnError(path, missing)
        try:
            data = hdu.data
            raw = np.asarray(data)  # the file's own records: no per-column conversion by astropy
            arrays = [_column(data, raw, hdu.columns[by_lower[name]]) for name in wanted]
        except (OSError, ValueError, EOFError) as exc:
            raise InputFileError(path, f"cannot read table data ({type(exc).__name__}: {exc})") from exc
    return pa.table(dict(zip(wanted, arrays)))


def _column(data: fits.FITS_rec, raw: np.ndarray, column: fits.Column) -> pa.Array:
    """One column as Arrow; plain columns straight from the records, scaled ones through astropy."""
    values = raw[column.name]
    if values.dtype.kind == "S" and values.ndim == 1:
        return _fixed_width_strings(values)
    scaled = column.bscale not in (None, 1) or column.bzero not in (None, 0) or column.format.startswith("L")
    return _to_arrow(data.field(column.name) if scaled or values.dtype.kind not in "iuf" else values)


def _fixed_width_strings(values: np.ndarray) -> pa.Array:
    """FITS ``nA`` strings to Arrow, vectorised: padding (spaces, NULs) trimmed on both sides."""
    width = values.dtype.itemsize
    buffer = pa.py_buffer(np.ascontiguousarray(values).tobytes())
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(values), [None, buffer])
    strings = pc.cast(pc.cast(fixed, pa.binary()), pa.string())
    return pc.utf8_trim(strings, characters=" \x00")


def _to_arrow(values: np.ndarray) -> pa.Array:
    if values.dtype.kind in "SU":
        decoded = np.char.strip(values.astype(str)) if values.dtype.kind == "S" else np.char.strip(values)
        return pa.array(decoded.tolist(), type=pa.string())
    native = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))
    if native.ndim == 1:
        return pa.array(native)
    width = int(np.prod(native.shape[1:]))
    return pa.FixedSizeListArray.from_arrays(pa.array(native.reshape(-1)), width)
