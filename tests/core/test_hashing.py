import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash

from dhs_core.hashing import java_rem, pmod, spark_xxhash64, unit_interval


def _signed(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


@pytest.fixture(scope="module")
def golden(reference_data):
    table = pq.read_table(reference_data / "catalogs/spark_xxhash64_golden.parquet")
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    return table, meta


def test_golden_file_bit_exact(golden):
    """Every column of the 20,000 PySpark rows, with the expressions stored in the file's metadata."""
    table, meta = golden
    assert meta["split_seed"] == "1337" and meta["n_cfg"] == "48" and meta["control_frac"] == "0.5"
    row_id, brick, split = table["row_id"], table["brickname"], table["region_split"]
    split_hash = spark_xxhash64(brick, 1337)
    np.testing.assert_array_equal(split_hash, table["split_hash"].to_numpy())
    split_u = unit_interval(split_hash)
    np.testing.assert_array_equal(split_u, table["split_u"].to_numpy())
    from_hash = np.where(split_u < 0.8, "train", np.where(split_u < 0.9, "val", "test"))
    assert from_hash.tolist() == table["region_split_from_hash"].to_pylist()
    np.testing.assert_array_equal(spark_xxhash64(row_id, 1337), table["wbin_hash"].to_numpy())
    np.testing.assert_array_equal(pmod(spark_xxhash64(row_id, 6338), 48), table["cfg_idx"].to_numpy())
    ctrl = spark_xxhash64(row_id, brick, split, "train", 8340)
    np.testing.assert_array_equal(ctrl, table["ctrl_hash"].to_numpy())
    is_control_spark = java_rem(ctrl, 1_000_000) / 1e6 < 0.5
    is_control_pmod = unit_interval(ctrl) < 0.5
    np.testing.assert_array_equal(is_control_spark, table["is_control_spark"].to_numpy())
    np.testing.assert_array_equal(is_control_pmod, table["is_control_pmod"].to_numpy())
    # the signed-% bug: a 0.5 control fraction comes out near 0.75; pmod gives 0.5
    assert is_control_spark.mean() == pytest.approx(0.75, abs=0.01)
    assert is_control_pmod.mean() == pytest.approx(0.5, abs=0.01)


def test_columns_agree_with_the_reference_xxh64_implementation():
    """The vectorised numpy hash equals the C xxhash library on the same little-endian bytes."""
    rng = np.random.default_rng(1)
    longs = rng.integers(-(2**63), 2**63 - 1, 2000, dtype=np.int64)
    ints = rng.integers(-(2**31), 2**31 - 1, 2000, dtype=np.int64).astype(np.int32)
    doubles = rng.normal(size=2000)
    got_long = spark_xxhash64(longs)
    got_int = spark_xxhash64(ints)
    got_double = spark_xxhash64(doubles)
    for i in range(0, 2000, 7):
        assert got_long[i] == _signed(xxhash.xxh64_intdigest(longs[i].tobytes(), 42))
        assert got_int[i] == _signed(xxhash.xxh64_intdigest(ints[i].tobytes(), 42))
        assert got_double[i] == _signed(xxhash.xxh64_intdigest(doubles[i].tobytes(), 42))
    # chaining: the second argument is hashed with the first's result as its seed
    chained = spark_xxhash64(longs[:5], "abc")
    for i in range(5):
        seed = xxhash.xxh64_intdigest(longs[i].tobytes(), 42)
        assert chained[i] == _signed(xxhash.xxh64_intdigest(b"abc", seed))


def test_literal_typing_follows_spark():
    col = np.arange(10, dtype=np.int64)
    as_int = spark_xxhash64(col, 1337)  # F.lit(1337) is an IntegerType: 4 bytes
    as_long = spark_xxhash64(col, np.int64(1337))
    assert not np.array_equal(as_int, as_long)
    np.testing.assert_array_equal(spark_xxhash64(col, 2**40), spark_xxhash64(col, np.int64(2**40)))
    np.testing.assert_array_equal(spark_xxhash64(col, np.int32(1337)), as_int)
    np.testing.assert_array_equal(spark_xxhash64(col, True), spark_xxhash64(col, 1))
    with pytest.raises(OverflowError):
        spark_xxhash64(col, 2**64)


def test_nulls_are_skipped_and_floats_canonicalised():
    col = pa.array([1, None, 3], type=pa.int64())
    hashed = spark_xxhash64(col, "x")
    assert hashed[1] == spark_xxhash64("x")[0]
    assert hashed[0] == spark_xxhash64(np.int64(1), "x")[0]
    strings = spark_xxhash64(["a", None, "c"], 5)
    assert strings[1] == spark_xxhash64(5)[0]
    assert spark_xxhash64(None, 5)[0] == spark_xxhash64(5)[0]
    zeros = spark_xxhash64(np.array([0.0, -0.0]))
    assert zeros[0] == zeros[1]
    nans = spark_xxhash64(
        np.array([np.nan, -np.nan, np.float64(np.frombuffer(b"\x01\x00\x00\x00\x00\x00\xf8\x7f", "<f8")[0])])
    )
    assert len(set(nans.tolist())) == 1
    f32 = spark_xxhash64(np.array([-0.0, 0.0, 1.5], dtype=np.float32))
    assert f32[0] == f32[1] and f32[2] == _signed(xxhash.xxh64_intdigest(np.float32(1.5).tobytes(), 42))


def test_input_kinds_agree():
    values = [3, -7, 2**40]
    expected = spark_xxhash64(np.array(values, dtype=np.int64))
    np.testing.assert_array_equal(spark_xxhash64(values), expected)
    np.testing.assert_array_equal(spark_xxhash64(pa.array(values)), expected)
    np.testing.assert_array_equal(spark_xxhash64(pa.chunked_array([values[:1], values[1:]])), expected)
    names = ["0001m040", "3599p010"]
    np.testing.assert_array_equal(spark_xxhash64(np.array(names)), spark_xxhash64(pa.array(names)))
    np.testing.assert_array_equal(
        spark_xxhash64(np.array([1, 2], dtype=np.int16)), spark_xxhash64(np.array([1, 2], dtype=np.int32))
    )


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="different lengths"):
        spark_xxhash64(np.arange(3), np.arange(4))
    with pytest.raises(ValueError):
        spark_xxhash64()
    with pytest.raises(TypeError, match="uint64"):
        spark_xxhash64(np.arange(3, dtype=np.uint64))
    with pytest.raises(TypeError, match="mixes types"):
        spark_xxhash64([1, "a"])


def test_modulus_helpers():
    h = np.array([-7, 7, -(2**63), 2**63 - 1], dtype=np.int64)
    assert pmod(h, 5).tolist() == [3, 2, 2, 2]
    assert java_rem(h, 5).tolist() == [-2, 2, -3, 2]
    u = unit_interval(h, 1_000_000)
    assert np.all((u >= 0) & (u < 1))
    with pytest.raises(ValueError):
        pmod(h, 0)


def test_vectorised_strings_agree_with_the_c_library():
    """Strings are hashed in numpy, by length (stripes, words, tail): every length 0-100, multi-byte UTF-8,
    repeated values, nulls and literals after a column, against the C xxhash library."""
    rng = np.random.default_rng(5)
    alphabet = list("abcXYZ019_-é€😀")
    strings = ["".join(rng.choice(alphabet, length)) for length in range(101) for _ in range(3)]
    strings += strings[:40]  # repeats share a dictionary entry
    seeds = rng.integers(-(2**63), 2**63 - 1, len(strings), dtype=np.int64)
    got = spark_xxhash64(seeds, pa.array(strings))
    for i, s in enumerate(strings):
        first = xxhash.xxh64_intdigest(seeds[i].tobytes(), 42)
        assert got[i] == _signed(xxhash.xxh64_intdigest(s.encode("utf-8"), first)), (i, s)
    with_nulls = spark_xxhash64(seeds[:3], pa.array(["ab", None, "€"]), "lit")
    for i, s in enumerate(["ab", None, "€"]):
        h = xxhash.xxh64_intdigest(seeds[i].tobytes(), 42)
        h = h if s is None else xxhash.xxh64_intdigest(s.encode(), h)
        assert with_nulls[i] == _signed(xxhash.xxh64_intdigest(b"lit", h))
