"""The source bank on disk: one HDF5 file (h5py) of unit-flux template images and their metadata.

Layout: dataset ``images`` (N, H, W) or (N, B, H, W) float32, every plane summing to 1, chunked one
template per chunk so a template reads alone; group ``meta`` with one dataset per metadata column (one
row per template); file attributes ``pixel_scale`` (arcsec), ``bands``, ``stamp_size``, ``builder``,
``builder_version``, ``synthetic`` and ``parameters`` (JSON). Written to a temporary name and renamed.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import threading
from collections import OrderedDict
from functools import cached_property

import h5py
import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS
from dhs_core.errors import ConfigError, InputFileError, TemplateIndexError
from dhs_core.inject.sources import Template
from dhs_core.tables import write_file

BUILDER_VERSION = "dhs-bank-1"
# bytes of templates kept in memory per open bank, with their interpolation coefficients (~0.6 MB for 128^2 pixels)
RECENT_TEMPLATE_BYTES = 256 * 2**20
# effective wavelengths (micron) of the filters a bank may hold and of the survey's bands (DECam g, r, z)
EFFECTIVE_WAVELENGTH = {
    "F435W": 0.4297,
    "F606W": 0.5887,
    "F775W": 0.7647,
    "F814W": 0.8045,
    "F850LP": 0.9033,
    "g": 0.4730,
    "r": 0.6420,
    "z": 0.9260,
}


def band_weights(bank_bands: list[str], survey_bands=BANDS) -> np.ndarray:
    """(survey band, bank band) weights: each survey band's plane is the bank's planes interpolated
    linearly in effective wavelength, clamped at the ends (g from F606W, z from F814W, r 76 % F606W +
    24 % F814W for an AEGIS bank). Rows sum to 1, so unit-flux planes stay unit flux."""
    unknown = [b for b in (*bank_bands, *survey_bands) if b not in EFFECTIVE_WAVELENGTH]
    if unknown:
        raise ConfigError(
            "bank bands",
            unknown,
            f"filters with a known effective wavelength ({sorted(EFFECTIVE_WAVELENGTH)})",
        )
    source = np.array([EFFECTIVE_WAVELENGTH[b] for b in bank_bands])
    weights = np.zeros((len(survey_bands), len(bank_bands)))
    order = np.argsort(source)
    for i, band in enumerate(survey_bands):
        wavelength = np.clip(EFFECTIVE_WAVELENGTH[band], source.min(), source.max())
        upper = min(int(np.searchsorted(source[order], wavelength)), len(order) - 1)
        lower = max(upper - 1, 0)
        span = source[order[upper]] - source[order[lower]]
        t = (wavelength - source[order[lower]]) / span if span > 0 else 0.0
        weights[i, order[lower]] += 1 - t
        weights[i, order[upper]] += t
    return weights


def write_bank(
    path,
    images: np.ndarray,
    meta: pa.Table,
    pixel_scale: float,
    bands: list[str],
    builder: str,
    parameters: dict,
    synthetic: bool,
) -> pathlib.Path:
    """Write a bank atomically; ``images`` (N, H, W) or (N, B, H, W); ``meta`` one row per template."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim not in (3, 4) or len(images) != meta.num_rows or len(images) == 0:
        raise ConfigError(
            "bank images", images.shape, f"(N, H, W) or (N, B, H, W) with N = {meta.num_rows} > 0"
        )
    path = pathlib.Path(path)
    # HDF5 is built in memory and written by plain file I/O: a full disk is then an ordinary OSError, where HDF5
    # writing to disk itself ended in a segfault after hundreds of lines of errors
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_dataset(
            "images",
            data=images,
            chunks=(1, *images.shape[1:]),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        group = f.create_group("meta")
        for name in meta.column_names:
            column = meta[name].to_numpy(zero_copy_only=False)
            group.create_dataset(
                name, data=column.astype(h5py.string_dtype()) if column.dtype == object else column
            )
        f.attrs.update(
            pixel_scale=float(pixel_scale),
            bands=",".join(bands),
            stamp_size=int(images.shape[-1]),
            builder=builder,
            builder_version=BUILDER_VERSION,
            synthetic=bool(synthetic),
            parameters=json.dumps(parameters, sort_keys=True),
        )
    try:
        write_file(buffer.getbuffer(), str(path))
    except OSError as exc:
        raise InputFileError(
            str(path),
            f"cannot write the source bank ({exc.strerror or exc}); "
            "nothing was replaced (an older bank there is kept)",
        ) from exc
    return path


class Bank:
    """An open bank: ``images`` (the lazy h5py dataset, (N, H, W) or (N, B, H, W)), ``pixel_scale``
    (arcsec), ``bands``, ``meta`` (a pyarrow Table) and ``template(index)`` for the engine."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        if not self.path.exists():
            raise InputFileError(str(self.path), "source bank not found")
        try:
            self._file = h5py.File(self.path, "r")
            self.images = self._file["images"]
            self.pixel_scale = float(self._file.attrs["pixel_scale"])
            self.bands = str(self._file.attrs["bands"]).split(",")
            self.attrs = dict(self._file.attrs)
        except (OSError, KeyError) as exc:
            raise InputFileError(str(self.path), f"not a dhs source bank ({exc})") from exc
        self._hlr = self._file["meta/hlr_arcsec"][()]
        self._to_survey = band_weights(self.bands) if self.images.ndim == 4 else None
        self._recent: OrderedDict[int, Template] = OrderedDict()

    def __len__(self) -> int:
        return len(self.images)

    @cached_property
    def meta(self) -> pa.Table:
        group = self._file["meta"]
        return pa.table(
            {
                name: [v.decode() if isinstance(v, bytes) else v for v in group[name][()]]
                if group[name].dtype == object
                else group[name][()]
                for name in group
            }
        )

    def template(self, index: int) -> Template:
        """Template ``index`` (unit flux per plane) with its measured half-light radius; a multi-band bank's
        planes are mapped to the survey's g, r, z (``band_weights``)."""
        if not 0 <= index < len(self.images):
            raise TemplateIndexError(
                f"template {index} not in the bank {self.path} ({len(self.images)} templates)"
            )
        if index in self._recent:  # kept: a run draws each template many times, and a template caches its
            self._recent.move_to_end(index)  # light radius and levels of detail
            return self._recent[index]
        image = self.images[index]
        if self._to_survey is not None:
            image = np.einsum("sb,bhw->shw", self._to_survey, image).astype(np.float32)
        hlr = float(self._hlr[index])
        if not (
            np.isfinite(hlr) and hlr > 0
        ):  # a template's own radius, named as such: it scales every source drawn from it
            raise InputFileError(
                self.path,
                f"template {index} has hlr_arcsec {hlr}: expected a finite value > 0 arcsec "
                "(rebuild the bank; its bank_templates_valid check would fail)",
            )
        template = self._recent[index] = Template(image, self.pixel_scale, hlr)
        while len(self._recent) > 1 and sum(t.nbytes for t in self._recent.values()) > RECENT_TEMPLATE_BYTES:
            self._recent.popitem(last=False)
        return template

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_bank(path) -> Bank:
    """Open a bank lazily: images are read one template at a time (one chunk each)."""
    return Bank(path)


_SHARED: dict[str, tuple[tuple, Bank]] = {}
_SHARED_LOCK = threading.Lock()


def shared_bank(path) -> Bank:
    """The bank at ``path`` opened once in this process and kept open, so that the work units a worker runs share
    its templates and their coefficients instead of reading and preparing them again; opened anew when the file
    changes (a rebuilt bank: another inode, size or modification time). Not to be closed by the caller."""
    key = str(pathlib.Path(path).resolve())
    try:
        stat = os.stat(key)
    except OSError:
        return Bank(path)  # raises, naming the path
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _SHARED_LOCK:
        known = _SHARED.get(key)
        if known is not None and known[0] == version:
            return known[1]
        if known is not None:
            known[1].close()
        bank = Bank(path)
        _SHARED[key] = (version, bank)
        return bank
