"""Streaming stamps to training code: every row once, bounded memory, deterministic shuffles and shards."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dhs_core.errors import ConfigError, MissingColumnError
from dhs_core.pixels import pixel_column
from dhs_core.stamps import iter_batches, read_stamps
from dhs_core.stamps import iterate as iterate_module
from dhs_core.stamps.normalise import normalisation, raw, residual_profile, sky_annulus

SIZE = 8  # small stamps: the reader takes any size


def _write_stamps(folder, files=3, groups=5, rows=40):
    """``files`` partitions of ``groups`` row groups of ``rows`` stamps; split by file (train, val, test)."""
    splits = ("train", "val", "test")
    for f in range(files):
        n = groups * rows
        ids = [f"f{f}-{i:04d}" for i in range(n)]
        image = np.arange(n * 3 * SIZE * SIZE, dtype=np.float32).reshape(n, -1) + 1e6 * f
        table = pa.table(
            {
                "task_id": ids,
                "region_split": [splits[f % 3]] * n,
                "is_control": np.arange(n) % 2 == 0,
                "status": ["ok"] * n,
                "image": pixel_column(image.reshape(n, 3, SIZE, SIZE), "image"),
            }
        )
        part = folder / f"set|{splits[f % 3]}"
        part.mkdir(parents=True)
        pq.write_table(table, part / "part-00000.parquet", row_group_size=rows)
    return folder


@pytest.fixture()
def stamps(tmp_path):
    return _write_stamps(tmp_path / "injected_stamps")


def _ids(batches):
    return [t for b in batches for t in b["task_id"].tolist()]


def test_in_order_the_batches_are_the_files_rows(stamps):
    batches = list(iter_batches(stamps, batch_size=64, columns=("task_id", "image", "is_control")))
    arrays, meta = read_stamps(str(stamps), ["task_id", "image", "is_control"])
    assert [len(b["task_id"]) for b in batches] == [64] * 9 + [600 - 9 * 64]
    assert _ids(batches) == meta["task_id"].to_pylist()
    np.testing.assert_array_equal(np.concatenate([b["image"] for b in batches]), arrays["image"])
    assert batches[0]["image"].shape == (64, 3, SIZE, SIZE) and batches[0]["image"].dtype == np.float32


def test_a_shuffle_gives_every_row_once_and_the_same_order_for_the_same_seed(stamps):
    def run(seed):
        return _ids(iter_batches(stamps, batch_size=32, columns=("task_id",), shuffle_buffer=100, seed=seed))

    first, again, other = run(1), run(1), run(2)
    ordered = _ids(iter_batches(stamps, batch_size=32, columns=("task_id",)))
    assert sorted(first) == sorted(ordered) and len(set(first)) == 600
    assert first == again and first != other and first != ordered
    # rows of one row group end up spread over the epoch, not kept together
    positions = [first.index(t) for t in ordered[:40]]
    assert max(positions) - min(positions) > 100


def test_the_buffer_holds_at_most_the_shuffle_buffer_a_batch_and_a_row_group(stamps, monkeypatch):
    sizes = []
    append = iterate_module._Buffer.append

    def recording(self, rows):
        append(self, rows)
        sizes.append(self.size)

    monkeypatch.setattr(iterate_module._Buffer, "append", recording)
    rows = sum(
        len(b["task_id"])
        for b in iter_batches(stamps, batch_size=16, columns=("task_id",), shuffle_buffer=50)
    )
    assert rows == 600 and max(sizes) <= 50 + 16 + 40


def test_shards_are_disjoint_cover_every_row_and_balance_over_a_split(stamps):
    shards = [_ids(iter_batches(stamps, batch_size=50, columns=("task_id",), shard=(k, 3))) for k in range(3)]
    assert sorted(sum(shards, [])) == sorted(_ids(iter_batches(stamps, columns=("task_id",))))
    assert not set(shards[0]) & set(shards[1])
    train = [_ids(iter_batches(stamps, "train", columns=("task_id",), shard=(k, 5))) for k in range(5)]
    assert [len(s) for s in train] == [40] * 5 and all(t.startswith("f0-") for s in train for t in s)


def test_a_split_keeps_only_its_rows(stamps):
    rows = list(iter_batches(stamps, "val", batch_size=1000, columns=("task_id", "is_control")))
    assert (
        len(rows) == 1
        and len(rows[0]["task_id"]) == 200
        and all(t.startswith("f1-") for t in rows[0]["task_id"])
    )


def test_bad_arguments_and_inputs_are_clear_errors(stamps):
    with pytest.raises(ConfigError, match="shard count.*at most the number of row groups \\(15\\)"):
        next(iter_batches(stamps, shard=(0, 16)))
    with pytest.raises(ConfigError, match="shard"):
        next(iter_batches(stamps, shard=(3, 3)))
    with pytest.raises(ConfigError, match="batch_size"):
        next(iter_batches(stamps, batch_size=0))
    with pytest.raises(MissingColumnError, match="arc"):
        next(iter_batches(stamps, columns=("image", "arc")))


def test_failed_stamps_are_left_out_unless_asked_for(tmp_path):
    folder = _write_stamps(tmp_path / "injected_stamps", files=1)
    path = folder / "set|train" / "part-00000.parquet"
    table = pq.read_table(path)
    failed = ["ok" if i % 7 else "failed: brick edge" for i in range(table.num_rows)]
    pq.write_table(
        table.set_column(table.schema.get_field_index("status"), "status", pa.array(failed)),
        path,
        row_group_size=40,
    )
    ok = _ids(iter_batches(folder, columns=("task_id",)))
    assert len(ok) == failed.count("ok") and all(int(t.split("-")[1]) % 7 for t in ok)
    assert len(_ids(iter_batches(folder, columns=("task_id",), status=None))) == table.num_rows
    with pytest.raises(MissingColumnError, match="status"):
        next(iter_batches(_without_status(tmp_path, table)))


def _without_status(tmp_path, table):
    folder = tmp_path / "bare" / "set|train"
    folder.mkdir(parents=True)
    pq.write_table(table.drop_columns(["status"]), folder / "part-00000.parquet")
    return folder


def test_a_transform_normalises_each_batch(stamps):
    (plain,) = iter_batches(stamps, "test", batch_size=200, columns=("image",))
    (batch,) = iter_batches(stamps, "test", batch_size=200, columns=("image",), transform=lambda x: 2 * x)
    np.testing.assert_array_equal(batch["image"], 2 * plain["image"])
    with pytest.raises(ConfigError, match="annulus with pixels in a 8-pixel stamp"):
        next(iter_batches(stamps, columns=("image",), transform=normalisation("sky_annulus")))


def test_the_normalisations():
    rng = np.random.default_rng(0)
    size = 64
    sky = 0.05 + rng.normal(0, 0.01, (200, 3, size, size))
    normal = sky_annulus(sky)
    r = np.hypot(*np.meshgrid(np.arange(size) - size // 2, np.arange(size) - size // 2))
    ring = normal[..., (r >= 20) & (r < 32)]
    assert abs(np.median(ring)) < 0.02 and np.median(np.abs(ring)) == pytest.approx(1.0, abs=0.02)
    spike = sky.copy()
    spike[:, :, size // 2, size // 2] = 100.0  # far above the sky: clipped to +10 MAD
    assert sky_annulus(spike)[:, :, size // 2, size // 2].max() == 10.0
    flat = np.full((1, 3, size, size), 2.0)  # zero MAD (e.g. zero-padded): only shifted
    assert np.all(sky_annulus(flat) == 0)
    blob = np.exp(-(r**2) / (2 * 3.0**2))[None, None] * np.ones((1, 3, 1, 1)) + sky[:1]
    core = (
        r < 6
    )  # a round galaxy: tens of sigma above the sky, left at the noise once its profile is subtracted
    assert (
        np.abs(sky_annulus(blob)[..., core]).mean() > 8
        and np.abs(residual_profile(blob)[..., core]).mean() < 2
    )
    assert raw(sky).dtype == np.float32 and np.array_equal(raw(sky), sky.astype(np.float32))
    with pytest.raises(ConfigError, match="one of"):
        normalisation("zscale")
