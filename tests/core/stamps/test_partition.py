"""Phase 4c partitions: parallel work units, atomic publication, bit-identical re-runs, and every bad input."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits

from dhs_core.errors import InputFileError
from dhs_core.locks import PartitionBusyError
from dhs_core.stamps.partition import Progress, StampsJob, stamps_pool, work_units, write_stamps_partition
from dhs_core.stamps.read import read_stamps
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import read_table
from tests.digests import file_digests


@pytest.fixture()
def sky(small_sky, tmp_path):
    """A copy of the small mock sky that a test may damage."""
    return shutil.copytree(small_sky, tmp_path / "sky")


def test_units_hold_whole_bricks_and_output_does_not_depend_on_workers(
    small_sky, stamp_bank, make_manifest, tmp_path
):
    manifest = make_manifest(small_sky)
    units = work_units(manifest, 8)
    bricks = [set(manifest.take(u)["brickname"].to_pylist()) for u in units]
    assert len(units) > 2 and all(
        not a & b for i, a in enumerate(bricks) for b in bricks[i + 1 :]
    )  # no brick split
    assert sorted(np.concatenate(units).tolist()) == list(range(manifest.num_rows))
    messages = []
    serial, counts = write_stamps_partition(
        manifest,
        StampsJob(str(small_sky), stamp_bank, workers=1, unit_tasks=8, rows_per_group=16),
        str(tmp_path / "a"),
        "injected_stamps",
        "p",
        messages.append,
    )
    parallel, _ = write_stamps_partition(
        manifest,
        StampsJob(str(small_sky), stamp_bank, workers=2, unit_tasks=8, rows_per_group=16),
        str(tmp_path / "b"),
        "injected_stamps",
        "p",
    )
    assert file_digests(serial) == file_digests(parallel) and len(file_digests(serial)) == len(units)
    job = StampsJob(str(small_sky), stamp_bank, workers=2, unit_tasks=8, rows_per_group=16)
    with stamps_pool(2) as pool:  # a run shares one pool over its partitions: the same bytes, twice over
        shared = [
            write_stamps_partition(manifest, job, str(tmp_path / "c"), "injected_stamps", p, pool=pool)[0]
            for p in ("p", "q")
        ]
    assert file_digests(shared[0]) == file_digests(shared[1]) == file_digests(serial)
    assert messages[-1].startswith(f"{manifest.num_rows:,} / {manifest.num_rows:,} tasks (100.0 %)")
    assert counts["stamps"] == manifest.num_rows and counts["ok"] + counts["failed"] == manifest.num_rows
    arrays, meta = read_stamps(serial)
    assert arrays["image"].shape == (manifest.num_rows, 3, 64, 64) and arrays["image"].dtype == np.float32
    assert arrays["maskbits"].shape == (manifest.num_rows, 64, 64) and arrays["maskbits"].dtype == np.int32
    assert set(manifest.column_names) <= set(meta.column_names) and "image" not in meta.column_names
    # the stamp is the cutout plus the arc, in float32
    first = (
        meta["task_id"]
        .to_pylist()
        .index(next(t for t, c in zip(meta["task_id"].to_pylist(), meta["is_control"].to_pylist()) if not c))
    )
    cutout = CoaddBrick(SurveyLayout(str(small_sky)), meta["brickname"][first].as_py()).cutout(
        meta["ra"][first].as_py(), meta["dec"][first].as_py()
    )
    assert np.array_equal(arrays["image"][first], cutout.image + arrays["arc"][first])
    assert np.array_equal(arrays["invvar"][first], cutout.invvar) and np.array_equal(
        arrays["maskbits"][first], cutout.maskbits
    )
    some, meta = read_stamps(f"{serial}/part-*.parquet", ["task_id", "arc"], "is_control AND status = 'ok'")
    assert meta.column_names == ["task_id"] and not np.any(some["arc"]) and len(meta) == counts["controls"]
    with pytest.raises(InputFileError, match="nothing"):
        read_stamps(str(tmp_path / "nothing"))
    literal = shutil.copytree(serial, tmp_path / "set[1]|train")  # a folder name is literal, never a glob
    assert len(read_stamps(str(literal), ["task_id"])[1]) == manifest.num_rows


def test_units_share_the_rows_evenly_instead_of_leaving_a_remainder():
    # 97 bricks of 20 tasks: units closed at 256 were seven of 260 and one of 120, which left a worker idle at the
    # end of every partition; now as many units, differing by at most a brick
    names = np.repeat([f"{1000 + 3 * i:04d}p050" for i in range(97)], 20)
    manifest = pa.table({"brickname": np.random.default_rng(4).permutation(names)})
    units = work_units(manifest, 256)
    sizes = [len(u) for u in units]
    assert len(units) == 8 and max(sizes) - min(sizes) <= 20 and sum(sizes) == 1940
    order = [manifest.take(u)["brickname"].to_pylist() for u in units]
    assert [name for unit in order for name in unit] == sorted(names.tolist())  # whole bricks in name order
    assert [len(u) for u in work_units(manifest, 5000)] == [1940]
    assert work_units(manifest.slice(0, 0), 256) == []


def test_bad_inputs_fail_their_rows_not_the_partition(sky, stamp_bank, make_manifest, tmp_path):
    layout = SurveyLayout(str(sky))
    manifest = make_manifest(sky)
    names = sorted(set(manifest["brickname"].to_pylist()))
    gone, no_g, with_nan, edge, no_z_invvar = names[:5]
    shutil.rmtree(layout.coadd_dir(gone))  # a brick without files
    for product in ("image", "invvar"):  # a brick without its g band
        os.remove(layout.coadd_path(no_g, product, "g"))
    os.remove(
        layout.coadd_path(no_z_invvar, "invvar", "z")
    )  # an image without its invvar: the same policy, rows fail
    nan_row = manifest["brickname"].to_pylist().index(with_nan)  # NaN pixels under one target
    brick = CoaddBrick(layout, with_nan)
    x, y = (
        int(round(float(v)))
        for v in brick.sky_to_pixel(manifest["ra"][nan_row].as_py(), manifest["dec"][nan_row].as_py())
    )
    path = layout.coadd_path(with_nan, "image", "r")
    with fits.open(path) as hdus:
        data, header = hdus[1].data.astype(np.float32), hdus[1].header
    data[y - 2 : y + 3, x - 2 : x + 3] = np.nan
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header=header)]).writeto(path, overwrite=True)
    edge_row = manifest["brickname"].to_pylist().index(edge)  # a target 10 px from its brick's edge
    ra, dec = CoaddBrick(layout, edge).pixel_to_sky(10.0, 700.0)
    columns = {
        "ra": (edge_row, float(ra)),
        "dec": (edge_row, float(dec)),
        "psfsize_g": (0, 0.0),
    }  # and a PSF size of 0
    for name, (row, value) in columns.items():
        values = manifest[name].to_numpy().copy()
        values[row] = value
        manifest = manifest.set_column(manifest.schema.get_field_index(name), name, pa.array(values))

    folder, counts = write_stamps_partition(
        manifest, StampsJob(str(sky), stamp_bank, workers=1), str(tmp_path / "data"), "injected_stamps", "p"
    )
    arrays, meta = read_stamps(folder)
    rows = {t: i for i, t in enumerate(meta["task_id"].to_pylist())}
    status, reason, brick_of = (meta[c].to_pylist() for c in ("status", "status_reason", "brickname"))
    on_gone = [i for i, b in enumerate(brick_of) if b == gone]
    assert on_gone and all(
        status[i] == "failed" and reason[i].startswith(f"no coadd files for brick {gone}") for i in on_gone
    )
    assert counts["brick_missing"] == len(on_gone) and counts["stamps"] == manifest.num_rows
    assert all(
        status[i] == "failed" and "g missing" in reason[i] for i, b in enumerate(brick_of) if b == no_g
    )
    on_no_invvar = [i for i, b in enumerate(brick_of) if b == no_z_invvar]
    assert on_no_invvar and all(
        status[i] == "failed" and "z missing invvar" in reason[i] for i in on_no_invvar
    )
    nan_stamp = rows[manifest["task_id"][nan_row].as_py()]
    assert status[nan_stamp] == "failed" and "non-finite" in reason[nan_stamp]
    at_edge = rows[manifest["task_id"][edge_row].as_py()]
    assert (
        status[at_edge] == "failed"
        and "partial" in reason[at_edge]
        and not meta["cutout_ok"][at_edge].as_py()
    )
    assert np.all(arrays["image"][at_edge][:, :, :10] == 0) and np.all(
        arrays["invvar"][at_edge][:, :, :10] == 0
    )  # zero-padded
    fallback = rows[manifest["task_id"][0].as_py()]
    assert (
        "g" in meta["psf_fallback_bands"][fallback].as_py() and meta["psf_fwhm_used_g"][fallback].as_py() > 0
    )
    ok = np.array(status) == "ok"
    assert ok.sum() > manifest.num_rows / 3 and np.all(
        np.isfinite(arrays["image"][ok])
    )  # an ok stamp never holds NaN


def test_a_corrupt_file_names_itself_and_keeps_the_old_partition(sky, stamp_bank, make_manifest, tmp_path):
    manifest = make_manifest(sky, per_sweep=5)
    job = StampsJob(str(sky), stamp_bank, workers=1)
    folder, _ = write_stamps_partition(manifest, job, str(tmp_path), "injected_stamps", "p")
    before = file_digests(folder)
    path = SurveyLayout(str(sky)).coadd_path(manifest["brickname"][0].as_py(), "invvar", "z")
    os.truncate(path, 5000)
    with pytest.raises(InputFileError, match=os.path.basename(path)):
        write_stamps_partition(manifest, job, str(tmp_path), "injected_stamps", "p")
    assert file_digests(folder) == before and os.listdir(tmp_path / ".staging" / "injected_stamps") == [
        "p.lock"
    ]


def test_a_bug_in_a_task_path_stops_the_partition_and_keeps_the_old_one(
    small_sky, stamp_bank, make_manifest, tmp_path, monkeypatch
):
    """A KeyError while rendering is a bug, not a bad row: the partition stops with the task named (it used to turn
    every row it touched into a 'failed' stamp and publish them), and the partition already there is kept."""
    from dhs_core.inject import engine

    manifest = make_manifest(small_sky, per_sweep=5)
    job = StampsJob(str(small_sky), stamp_bank, workers=1)  # in this process, where the bug is planted
    folder, _ = write_stamps_partition(manifest, job, str(tmp_path), "injected_stamps", "p")
    before = file_digests(folder)

    def buggy(*args, **kwargs):
        raise KeyError("psf_fwhm")

    monkeypatch.setattr(engine, "render_unit_sources", buggy)
    with pytest.raises(KeyError) as caught:
        write_stamps_partition(manifest, job, str(tmp_path), "injected_stamps", "p")
    assert any(note.startswith("while rendering injection task ") for note in caught.value.__notes__)
    assert file_digests(folder) == before and os.listdir(tmp_path / ".staging" / "injected_stamps") == [
        "p.lock"
    ]


def test_a_killed_run_leaves_no_partial_file_visible(small_sky, stamp_bank, make_manifest, tmp_path):
    """The writing process dies (SIGKILL) after its first work unit: readers still see the old partition, whole."""
    manifest = make_manifest(small_sky)
    job = StampsJob(str(small_sky), stamp_bank, workers=1, unit_tasks=8)
    data = tmp_path / "data"
    folder, _ = write_stamps_partition(manifest.slice(0, 10), job, str(data), "injected_stamps", "p")
    before = file_digests(folder)
    pq.write_table(manifest, tmp_path / "manifest.parquet")
    script = (
        "import os, signal, pyarrow.parquet as pq\n"
        "from dhs_core.stamps.partition import StampsJob, write_stamps_partition\n"
        f"job = StampsJob({str(small_sky)!r}, {stamp_bank!r}, workers=1, unit_tasks=8)\n"
        "kill = lambda message: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"write_stamps_partition(pq.read_table({str(tmp_path / 'manifest.parquet')!r}), job, {str(data)!r}, 'injected_stamps', 'p', kill)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == -9, run.stderr
    assert glob.glob(
        str(data / ".staging/injected_stamps/p.*/part-00000.parquet")
    )  # the dead run's first unit, staged
    assert file_digests(folder) == before and read_table(str(data), "injected_stamps", None).num_rows == 10
    write_stamps_partition(
        manifest, job, str(data), "injected_stamps", "p"
    )  # the next run cleans up after it
    assert os.listdir(data / ".staging/injected_stamps") == [
        "p.lock"
    ]  # the lock file stays; it holds no data


def test_two_runs_of_one_partition_never_delete_each_others_staging(
    small_sky, stamp_bank, make_manifest, tmp_path
):
    """A second run of a partition that another live run is writing fails at once, naming the first, and leaves the
    first's staging folder alone (it used to delete it as a leftover: 'Cannot open file .../.part-00000.parquet.tmp')."""
    manifest = make_manifest(small_sky).slice(0, 6)
    job = StampsJob(str(small_sky), stamp_bank, workers=1)
    data = str(tmp_path / "data")
    seen = {}

    def second_run(message):
        seen["staging"] = glob.glob(os.path.join(data, ".staging/injected_stamps/p.*"))
        with pytest.raises(PartitionBusyError, match="injected_stamps p .*owner dagster run first"):
            write_stamps_partition(manifest, job, data, "injected_stamps", "p", owner="dagster run second")
        assert glob.glob(os.path.join(data, ".staging/injected_stamps/p.*")) == seen["staging"]

    folder, counts = write_stamps_partition(
        manifest, job, data, "injected_stamps", "p", second_run, owner="dagster run first"
    )
    assert (
        seen["staging"] and counts["stamps"] == 6 and read_table(data, "injected_stamps", "p").num_rows == 6
    )


def test_workers_die_with_their_parent(tmp_path):
    """A parent killed with SIGKILL (or by the OOM killer) takes its pool's workers with it."""
    script = (
        "import os, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import get_context\n"
        "from dhs_core.stamps.partition import die_with_parent\n"
        "if __name__ == '__main__':\n"
        "    pool = ProcessPoolExecutor(1, mp_context=get_context('spawn'), initializer=die_with_parent, initargs=(os.getpid(), 0.1))\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    time.sleep(60)\n"
    )
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen(
        [sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True
    )
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.1)
    assert not _alive(worker), "the worker outlived its parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_progress_reports_rate_and_time_left():
    ticks = iter([0.0, 10.0, 20.0])
    progress = Progress(1000, clock=lambda: next(ticks))
    assert progress.advance(250) == "250 / 1,000 tasks (25.0 %), 25 tasks/s, ETA 30 s"
    assert progress.advance(250) == "500 / 1,000 tasks (50.0 %), 25 tasks/s, ETA 20 s"
