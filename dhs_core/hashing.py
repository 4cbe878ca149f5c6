"""Spark-compatible ``xxhash64``, bit for bit, vectorised over numpy.

PySpark's ``F.xxhash64(c1, c2, ...)`` starts from seed 42 and hashes each argument in turn, the running
hash becoming the seed of the next; the result is a signed 64-bit integer. How each argument is hashed
depends on its Spark type:

========================  =====================================================================
Spark type                bytes hashed
========================  =====================================================================
Byte/Short/Integer, Bool  4 bytes little-endian (``XXH64.hashInt``); booleans as 1/0
Long                      8 bytes little-endian (``XXH64.hashLong``)
Float                     the int bits of the float, -0.0 as 0.0, every NaN as the canonical NaN
Double                    the long bits of the double, -0.0 as 0.0, every NaN as the canonical NaN
String                    its UTF-8 bytes (standard XXH64 of the byte string)
null                      skipped: the running hash passes through unchanged
========================  =====================================================================

A Python ``int`` literal is typed as ``F.lit`` types it: IntegerType when it fits in int32, else
LongType. A Python list of ints is a LongType column (what a pandas/Arrow int64 column is).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

SPARK_XXHASH64_SEED = 42

_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
_MASK32 = np.uint64(0xFFFFFFFF)
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _fmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


def _hash_int32(values: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """XXH64 of 4 little-endian bytes (Spark ``hashInt``); values and seed as uint64."""
    h = seed + _P5 + np.uint64(4)
    h = h ^ ((values & _MASK32) * _P1)
    h = _rotl(h, 23) * _P2 + _P3
    return _fmix(h)


def _hash_int64(values: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """XXH64 of 8 little-endian bytes (Spark ``hashLong``); values and seed as uint64."""
    h = seed + _P5 + np.uint64(8)
    h = h ^ (_rotl(values * _P2, 31) * _P1)
    h = _rotl(h, 27) * _P1 + _P4
    return _fmix(h)


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    return _rotl(acc + lane * _P2, 31) * _P1


def _words(data: np.ndarray, starts: np.ndarray, count: int, size: int) -> np.ndarray:
    """Little-endian words of ``size`` bytes (8 or 4) at ``starts + size * i``, i < count: (rows, count).

    ``data`` is padded; each row is read through the view of ``data`` shifted by its start modulo the
    word size, so the gather is one index per word, not per byte.
    """
    dtype = {8: "<u8", 4: "<u4"}[size]
    out = np.empty((len(starts), count), dtype=np.uint64)
    for shift in range(size):
        rows = np.flatnonzero(starts % size == shift)
        if rows.size:
            usable = (len(data) - shift) // size * size
            view = data[shift : shift + usable].view(dtype)
            out[rows] = view[((starts[rows] - shift) // size)[:, None] + np.arange(count)]
    return out


def _pieces(
    data: np.ndarray, starts: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """What XXH64 reads of ``length`` bytes at each start: 8-byte words, the 4-byte word after them (or
    None) and the last bytes, all as uint64 (rows first)."""
    n_words = length // 8
    at = n_words * 8
    four = _words(data, starts + at, 1, 4)[:, 0] if length - at >= 4 else None
    at += 4 if four is not None else 0
    tail = (
        np.stack([data[starts + b] for b in range(at, length)], axis=1).astype(np.uint64)
        if at < length
        else np.zeros((len(starts), 0), np.uint64)
    )
    return _words(data, starts, n_words, 8), four, tail


def _xxh64_pieces(
    words: np.ndarray, four: np.ndarray | None, tail: np.ndarray, length: int, seed: np.ndarray
) -> np.ndarray:
    """Standard XXH64 of strings of ``length`` bytes given their pieces (``_pieces``), per-row seeds."""
    n_words = words.shape[1]
    word = 0
    if length >= 32:
        acc = [seed + _P1 + _P2, seed + _P2, seed.copy(), seed - _P1]
        for stripe in range(length // 32):
            for lane in range(4):
                acc[lane] = _round(acc[lane], words[:, 4 * stripe + lane])
        h = _rotl(acc[0], 1) + _rotl(acc[1], 7) + _rotl(acc[2], 12) + _rotl(acc[3], 18)
        for lane in range(4):
            h = (h ^ _round(np.uint64(0), acc[lane])) * _P1 + _P4
        word = 4 * (length // 32)
    else:
        h = seed + _P5
    h = h + np.uint64(length)
    for w in range(word, n_words):
        h = _rotl(h ^ _round(np.uint64(0), words[:, w]), 27) * _P1 + _P4
    if four is not None:
        h = _rotl(h ^ (four * _P1), 23) * _P2 + _P3
    for b in range(tail.shape[1]):
        h = _rotl(h ^ (tail[:, b] * _P5), 11) * _P1
    return _fmix(h)


def _hash_strings(values: Sequence, valid: np.ndarray | None, seed: np.ndarray) -> np.ndarray:
    """XXH64 of each string's UTF-8 bytes with its row's seed, vectorised over the rows of each length.

    The column is dictionary-encoded first: the bytes are read once per distinct string and gathered
    per row from that small table.
    """
    if len(values) == 1 and len(seed) > 1:
        if np.all(seed == seed[0]):  # a literal where every row has the same running hash: hash it once
            return np.full(len(seed), _hash_strings(values, None, seed[:1])[0], dtype=np.uint64)
        values = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(len(seed), np.int32)), pa.array(list(values), pa.large_string())
        )
    strings = values if isinstance(values, pa.Array) else pa.array(values, pa.large_string())
    encoded = strings if isinstance(strings, pa.DictionaryArray) else strings.dictionary_encode()
    codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    dictionary = encoded.dictionary.cast(pa.large_string())
    offsets = np.frombuffer(dictionary.buffers()[1], dtype=np.int64)[
        dictionary.offset : dictionary.offset + len(dictionary) + 1
    ]
    raw = dictionary.buffers()[2]
    data = np.concatenate(
        [
            np.frombuffer(raw, dtype=np.uint8) if raw is not None else np.zeros(0, np.uint8),
            np.zeros(8, np.uint8),
        ]
    )
    entry_length = np.diff(offsets)
    present = np.ones(len(seed), bool) if valid is None else valid
    row_length = np.where(present, entry_length[codes] if len(entry_length) else 0, -1)
    out = seed.copy()
    for length in np.unique(entry_length):
        entries = np.flatnonzero(entry_length == length)
        rows = np.flatnonzero(row_length == length)
        if rows.size == 0:
            continue
        slot = np.empty(len(entry_length), np.int64)
        slot[entries] = np.arange(len(entries))
        words, four, tail = _pieces(data, offsets[entries], int(length))
        which = slot[codes[rows]]
        out[rows] = _xxh64_pieces(
            words[which], None if four is None else four[which], tail[which], int(length), seed[rows]
        )
    return out


class _Column:
    """One argument of ``spark_xxhash64`` resolved to a Spark kind, its values and a validity mask."""

    __slots__ = ("kind", "values", "valid")

    def __init__(self, kind: str, values, valid: np.ndarray | None):
        self.kind = kind  # "int", "long", "float", "double", "string"
        self.values = values
        self.valid = valid


def _scalar_column(value) -> _Column:
    if value is None:
        return _Column("null", None, None)
    if isinstance(value, (bool, np.bool_)):
        return _Column("int", np.array([int(value)], dtype=np.int64), None)
    if isinstance(value, (int, np.integer)):
        if isinstance(value, np.integer):
            return _numpy_column(np.asarray([value]))
        kind = "int" if _INT32_MIN <= value <= _INT32_MAX else "long"
        if not -(2**63) <= value < 2**63:
            raise OverflowError(f"integer literal {value} does not fit in a Spark LongType")
        return _Column(kind, np.array([value], dtype=np.int64), None)
    if isinstance(value, (float, np.floating)):
        return _numpy_column(
            np.asarray([value], dtype=np.float32 if isinstance(value, np.float32) else np.float64)
        )
    if isinstance(value, str):
        return _Column("string", [value], None)
    raise TypeError(f"cannot hash a literal of type {type(value).__name__}: {value!r}")


def _numpy_column(arr: np.ndarray, valid: np.ndarray | None = None) -> _Column:
    kind = arr.dtype.kind
    if kind == "b":
        return _Column("int", arr.astype(np.int64), valid)
    if kind in "i" or (kind == "u" and arr.dtype.itemsize <= 2):
        return _Column("int" if arr.dtype.itemsize <= 4 else "long", arr.astype(np.int64), valid)
    if kind == "u" and arr.dtype.itemsize == 4:
        return _Column("long", arr.astype(np.int64), valid)
    if kind == "f" and arr.dtype.itemsize in (4, 8):
        return _Column("float" if arr.dtype.itemsize == 4 else "double", arr, valid)
    if kind in "US":
        return _Column("string", pa.array(arr.astype(str), pa.large_string()), valid)
    if kind == "O":
        return _object_column(arr.tolist())
    raise TypeError(f"cannot hash a column of dtype {arr.dtype} (Spark has no such type)")


def _object_column(items: list) -> _Column:
    valid = np.array([item is not None for item in items], dtype=bool)
    present = [item for item in items if item is not None]
    if not present:
        return _Column("null", None, None)
    if all(isinstance(item, str) for item in present):
        return _Column("string", items, valid)
    if all(isinstance(item, (bool, np.bool_)) for item in present):
        return _Column(
            "int", np.array([int(i) if i is not None else 0 for i in items], dtype=np.int64), valid
        )
    if all(isinstance(item, (int, np.integer)) and not isinstance(item, bool) for item in present):
        return _Column("long", np.array([i if i is not None else 0 for i in items], dtype=np.int64), valid)
    if all(isinstance(item, (float, np.floating)) for item in present):
        return _Column(
            "double", np.array([i if i is not None else 0.0 for i in items], dtype=np.float64), valid
        )
    raise TypeError("a column mixes types; give one Spark type per column")


def _arrow_column(arr: pa.Array | pa.ChunkedArray) -> _Column:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    valid = None if arr.null_count == 0 else np.asarray(arr.is_valid())
    if (
        pa.types.is_string(arr.type)
        or pa.types.is_large_string(arr.type)
        or (pa.types.is_dictionary(arr.type) and pa.types.is_string(arr.type.value_type))
    ):
        return _Column("string", arr, valid)
    if pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type) or pa.types.is_floating(arr.type):
        filled = arr.fill_null(False if pa.types.is_boolean(arr.type) else 0) if valid is not None else arr
        return _numpy_column(filled.to_numpy(zero_copy_only=False), valid)
    raise TypeError(f"cannot hash an Arrow column of type {arr.type}")


def _resolve(arg) -> _Column:
    if isinstance(arg, (pa.Array, pa.ChunkedArray)):
        return _arrow_column(arg)
    if isinstance(arg, np.ndarray):
        if arg.ndim != 1:
            raise ValueError(f"a hashed column must be 1-D, got shape {arg.shape}")
        return _numpy_column(arg)
    if isinstance(arg, (list, tuple)):
        return _object_column(list(arg))
    return _scalar_column(arg)


def _canonical_float_bits(values: np.ndarray, kind: str) -> np.ndarray:
    """Float/double bits as Spark hashes them: -0.0 -> 0.0, every NaN -> Java's canonical NaN."""
    if kind == "float":
        f = np.where(values == 0, np.float32(0.0), values.astype(np.float32))
        bits = f.view(np.uint32).astype(np.uint64)
        return np.where(np.isnan(f), np.uint64(0x7FC00000), bits)
    d = np.where(values == 0, 0.0, values.astype(np.float64))
    bits = d.view(np.uint64)
    return np.where(np.isnan(d), np.uint64(0x7FF8000000000000), bits)


def spark_xxhash64(*columns) -> np.ndarray:
    """Spark's ``xxhash64(c1, c2, ...)`` for columns and literals; returns signed int64 (one per row).

    Each argument is a column (numpy array, pyarrow array, list) or a scalar literal, typed as Spark
    types it (see the module docstring). All columns must have the same length; literals broadcast.

    >>> int(spark_xxhash64(np.array([0], dtype=np.int64), 1337)[0])  # xxhash64(row_id, lit(1337))
    -7663084792892857463
    """
    if not columns:
        raise ValueError("spark_xxhash64 needs at least one argument")
    resolved = [_resolve(c) for c in columns]
    lengths = {_length(c) for c, arg in zip(resolved, columns) if _is_column(arg)}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    seed = np.full(n, SPARK_XXHASH64_SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in resolved:
            seed = _hash_one(col, seed, n)
    return seed.view(np.int64)


def _is_column(arg) -> bool:
    return isinstance(arg, (pa.Array, pa.ChunkedArray, np.ndarray, list, tuple))


def _length(col: _Column) -> int:
    return 0 if col.values is None else len(col.values)


def _hash_one(col: _Column, seed: np.ndarray, n: int) -> np.ndarray:
    if col.kind == "null":
        return seed
    if col.kind == "string":
        values = col.values * n if len(col.values) == 1 and n != 1 else col.values
        valid = col.valid if col.valid is not None else np.ones(n, dtype=bool)
        return _hash_strings(values, valid, seed)
    if col.kind in ("float", "double"):
        raw = _canonical_float_bits(col.values, col.kind)
        hashed = _hash_int32(raw, seed) if col.kind == "float" else _hash_int64(raw, seed)
    else:
        raw = col.values.view(np.uint64)
        hashed = _hash_int32(raw, seed) if col.kind == "int" else _hash_int64(raw, seed)
    if col.valid is not None:
        hashed = np.where(col.valid, hashed, seed)
    return hashed


def pmod(h, n: int) -> np.ndarray:
    """Spark's ``pmod(h, n)``: the remainder of ``h / n`` that is never negative (for n > 0)."""
    if n <= 0:
        raise ValueError(f"pmod needs a positive modulus, got {n}")
    return np.mod(np.asarray(h, dtype=np.int64), np.int64(n))


def java_rem(h, n: int) -> np.ndarray:
    """Spark's ``h % n`` (Java remainder): it keeps the sign of ``h``, so it is negative for half the hashes.

    Only for reproducing legacy outputs; use :func:`pmod` or :func:`unit_interval` for new work.
    """
    if n == 0:
        raise ValueError("java_rem by zero")
    return np.fmod(np.asarray(h, dtype=np.int64), np.int64(n))


def unit_interval(h, resolution: int = 1_000_000) -> np.ndarray:
    """Map hashes to [0, 1): ``pmod(h, resolution) / resolution`` (float64), Spark-exact."""
    return pmod(h, resolution) / float(resolution)
