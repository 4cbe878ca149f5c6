"""Stamps streamed to training code: row group by row group, shuffled within a bounded buffer, sharded across
data-loader workers and machines, as numpy arrays. No framework dependency (a PyTorch ``IterableDataset`` is a
few lines around :func:`iter_batches`, ``docs/stamps.md``).

Memory is bounded by the buffer, not the dataset: at most ``shuffle_buffer + batch_size + READ_ROWS`` rows are held
(a 64 x 64 x 3 float32 image is 49 kB, so 10,000 rows are about 0.5 GB of images), and row groups are decoded
``READ_ROWS`` rows at a time.

Order: the shard's row groups (every ``count``-th of the sorted files' row groups, from ``index``) are visited in an
order drawn from ``seed``; rows leave the buffer at random positions drawn from the same generator. The same
arguments give the same batches on any machine; shards are disjoint and together cover every row once.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.asset_names import INJECTED_STAMPS
from dhs_core.conventions import DATASET_NAME
from dhs_core.errors import ConfigError, MissingColumnError
from dhs_core.inject.columns import ARRAY_COLUMNS
from dhs_core.pixels import pixels_array
from dhs_core.stamps.read import stamp_files
from dhs_core.tables import parquet_file

SPLIT_COLUMN = "region_split"  # the split every stamp row carries (its galaxy's region's)
STATUS_COLUMN = "status"  # ok, or why the stamp failed
READ_ROWS = 512  # rows decoded at a time (about 25 MB of 64 x 64 x 3 images)


def stamps_location(dataset_or_path: str, split: str | None, data_root: str | None = None) -> str:
    """The stamp files of ``dataset_or_path``: itself if it is a path or a glob, else the partitions of the dataset of
    that name (of ``split``, or all of its splits) in ``data_root`` (default ``DHS_DATA_ROOT`` or ``./data``)."""
    text = str(dataset_or_path)
    if not DATASET_NAME.match(text) or os.path.exists(text):
        return text
    root = data_root or os.environ.get("DHS_DATA_ROOT", "data")
    return os.path.join(glob.escape(root), INJECTED_STAMPS, f"{text}|{split or '*'}", "part-*.parquet")


def row_groups(path_or_glob: str, split: str | None = None) -> list[tuple[str, int, bool]]:
    """``(file, row group, whether its rows need filtering by split)`` of every row group of the stamps there,
    files sorted (see ``stamp_files``). With a ``split``, the Parquet statistics of ``region_split`` drop the groups
    that cannot hold it (so shards balance over that split's rows) and spare the filter where every row is of it."""
    groups = []
    for path in stamp_files(path_or_glob):
        meta = parquet_file(path).metadata
        column = meta.schema.to_arrow_schema().get_field_index(SPLIT_COLUMN) if split is not None else -1
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(column).statistics if column >= 0 else None
            known = stats is not None and stats.has_min_max
            if known and not (stats.min <= split <= stats.max):
                continue
            groups.append((path, i, split is not None and not (known and stats.min == stats.max)))
    return groups


def shard_row_groups(groups: Sequence, shard: tuple[int, int]) -> list:
    """The row groups of shard ``(index, count)``: every ``count``-th from ``index``. A shard count larger than the
    number of row groups would leave shards empty: an error naming both."""
    index, count = shard
    if not (isinstance(count, int) and isinstance(index, int) and count >= 1 and 0 <= index < count):
        raise ConfigError("shard", shard, "(index, count) with count >= 1 and 0 <= index < count")
    if count > len(groups):
        raise ConfigError(
            "shard count", count, f"at most the number of row groups ({len(groups)}): a shard would be empty"
        )
    return list(groups[index::count])


def iter_batches(
    dataset_or_path: str,
    split: str | None = None,
    *,
    batch_size: int = 256,
    columns: Sequence[str] = ("image", "is_control"),
    shuffle_buffer: int = 0,
    seed: int = 0,
    shard: tuple[int, int] = (0, 1),
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    data_root: str | None = None,
    status: str | None = "ok",
) -> Iterator[dict[str, np.ndarray]]:
    """Batches of ``batch_size`` rows (the last may be shorter) of the stamps of ``dataset_or_path`` — a dataset's
    name (its stamps in ``data_root``, default ``DHS_DATA_ROOT`` or ``./data``), a partition folder, the asset folder
    or a glob —, only rows of ``split`` if given, as ``{column: numpy array}``: pixel columns
    ``(B, bands, S, S)`` (maskbits ``(B, S, S)``), the others 1-D. ``shuffle_buffer`` rows (0: file order) are
    shuffled through, from ``seed``; ``shard = (index, count)`` takes every ``count``-th row group (one per data-loader
    worker or machine); ``transform`` (e.g. a ``dhs_core.stamps.normalise`` recipe) maps each batch's ``image``.
    ``status``: only rows of that status (default ``ok``: a failed stamp's pixels are not a training input; None:
    every row)."""
    if batch_size < 1 or shuffle_buffer < 0:
        raise ConfigError(
            "iter_batches", (batch_size, shuffle_buffer), "batch_size >= 1 and shuffle_buffer >= 0"
        )
    groups = shard_row_groups(row_groups(stamps_location(dataset_or_path, split, data_root), split), shard)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups)) if shuffle_buffer else np.arange(len(groups))
    read = list(
        dict.fromkeys(
            [*columns, *([SPLIT_COLUMN] if split is not None else []), *([STATUS_COLUMN] if status else [])]
        )
    )
    buffer = _Buffer(rng if shuffle_buffer else None, shuffle_buffer + batch_size + READ_ROWS)
    for g in order:
        path, group, needs_filter = groups[g]
        for rows in _read_group(path, group, read, split if needs_filter else None, status):
            buffer.append(rows)
            while buffer.size >= shuffle_buffer + batch_size:
                yield _finish(buffer.take(batch_size), columns, transform)
    for batch in buffer.drain(batch_size):
        yield _finish(batch, columns, transform)


class _Buffer:
    """Rows waiting to leave, in arrays allocated once for ``capacity`` rows (grown if ever needed): appending copies the new
    rows, taking a batch copies the batch and moves as many rows from the tail into the holes, so no step costs more
    than the rows it handles. ``rng``: rows leave at random positions (None: in order)."""

    def __init__(self, rng, capacity: int):
        self.rng, self.size, self.columns, self.capacity = rng, 0, None, capacity

    def append(self, rows: dict[str, np.ndarray]) -> None:
        n = _length(rows)
        if self.columns is None or self.size + n > _length(self.columns):
            capacity = max(self.capacity, 2 * (self.size + n))
            grown = {k: np.empty((capacity, *v.shape[1:]), v.dtype) for k, v in rows.items()}
            if self.columns is not None:
                for k, v in grown.items():
                    v[: self.size] = self.columns[k][: self.size]
            self.columns = grown
        for k, v in rows.items():
            self.columns[k][self.size : self.size + n] = v
        self.size += n

    def take(self, n: int) -> dict[str, np.ndarray]:
        if self.rng is None:  # in order: the first n rows, the rest moved up (no shuffle, so a small buffer)
            batch = {k: v[:n].copy() for k, v in self.columns.items()}
            for v in self.columns.values():
                v[: self.size - n] = v[n : self.size]
        else:
            picked = self.rng.choice(self.size, n, replace=False)
            batch = {k: v[picked] for k, v in self.columns.items()}
            keep = self.size - n
            holes = picked[picked < keep]  # picked rows inside what stays, filled from the unpicked tail
            tail = np.setdiff1d(np.arange(keep, self.size), picked, assume_unique=True)
            for v in self.columns.values():
                v[holes] = v[tail]
        self.size -= n
        return batch

    def drain(self, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
        """The rows left, in batches (shuffled with ``rng``)."""
        if self.columns is None or not self.size:
            return
        order = self.rng.permutation(self.size) if self.rng is not None else np.arange(self.size)
        for start in range(0, self.size, batch_size):
            rows = order[start : start + batch_size]
            yield {k: v[rows] for k, v in self.columns.items()}


def _read_group(
    path: str, group: int, columns: list[str], split: str | None, status: str | None
) -> Iterator[dict[str, np.ndarray]]:
    """The rows of one row group, ``READ_ROWS`` at a time (pyarrow decodes page by page: a few MB in flight, not
    the whole group), only those of ``split`` and of ``status`` if given."""
    file = parquet_file(path)
    missing = [c for c in columns if c not in file.schema_arrow.names]
    if missing:
        raise MissingColumnError(path, missing)
    for piece in file.iter_batches(batch_size=READ_ROWS, row_groups=[group], columns=columns):
        for column, wanted in ((SPLIT_COLUMN, split), (STATUS_COLUMN, status)):
            if wanted is not None:
                keep = pc.equal(piece.column(column), pa.scalar(wanted))
                if not pc.all(keep).as_py():  # filtering copies the pixels: only where a row goes
                    piece = piece.filter(keep)
        yield {
            name: pixels_array(pa.chunked_array([piece.column(name)]), name)
            if name in ARRAY_COLUMNS
            else piece.column(name).to_numpy(zero_copy_only=False)
            for name in columns
        }


def _length(columns: dict[str, np.ndarray]) -> int:
    return len(next(iter(columns.values())))


def _finish(batch: dict, columns: Sequence[str], transform) -> dict:
    out = {name: batch[name] for name in columns}
    if transform is not None and "image" in out:
        out["image"] = transform(out["image"])
    return out
