"""Phase 4c from a portal: the galaxies' bricks fetched into a cache by the cutout cache, stamps identical to a local
run, and a brick the portal does not have failing its rows as "not in the survey (404)", listed among the coverage
gaps."""

import shutil

import pyarrow.compute as pc
import pytest

from dhs_core.fetch import FetchPolicy
from dhs_core.stamps.cutouts import write_cutouts_partition
from dhs_core.stamps.partition import StampsJob, write_stamps_partition
from dhs_core.stamps.read import read_stamps, stamp_files
from dhs_core.survey.coadds import NOT_IN_SURVEY
from dhs_core.survey.cutout_sources import PortalCoadds
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.plan import coadd_files, manifest_bricks
from dhs_core.survey.portal import coverage_gaps
from dhs_core.survey.serve import SurveyServer


def test_stamps_from_a_portal_equal_a_local_run_and_name_the_gaps(
    small_sky, stamp_bank, make_manifest, tmp_path
):
    manifest = make_manifest(small_sky, per_sweep=8)
    bricks = manifest_bricks(manifest["brickname"])
    local, _ = write_stamps_partition(
        manifest, StampsJob(str(small_sky), stamp_bank, workers=1), str(tmp_path / "local"), "s", "p"
    )
    portal = shutil.copytree(small_sky, tmp_path / "portal")
    gone = bricks[-1]
    shutil.rmtree(SurveyLayout(str(portal)).coadd_dir(gone))  # the portal has no such brick
    cache = tmp_path / "cache"
    galaxies = manifest.group_by(["row_id", "brickname"]).aggregate([("ra", "min"), ("dec", "min")])
    galaxies = galaxies.rename_columns(["row_id", "brickname", "ra", "dec"])
    with SurveyServer(portal) as server:
        source = PortalCoadds(SurveyLayout(str(cache)), server.url, FetchPolicy(backoff_base_s=0.01))
        cutouts, _ = write_cutouts_partition(source, galaxies, str(tmp_path / "data"), "c", "p")
        fetched = [p for method, p, _ in server.requests if method == "GET"]
        assert {p.lstrip("/") for p in fetched} == set(coadd_files(bricks))  # each file asked once
        write_cutouts_partition(source, galaxies, str(tmp_path / "data"), "c", "p")
        again = [r for r in server.requests if r[0] == "GET"][len(fetched) :]
        assert len(again) == 7  # the bricks were kept: only the gap is asked again
    folder, counts = write_stamps_partition(
        manifest,
        StampsJob(str(cache), stamp_bank, workers=1, cutout_cache=tuple(stamp_files(cutouts))),
        str(tmp_path / "remote"),
        "s",
        "p",
    )
    _, meta = read_stamps(folder, ["brickname", "status", "status_reason"])
    on_gone = meta.filter(pc.equal(meta["brickname"], gone))
    assert on_gone.num_rows == counts["not_in_survey"] > 0
    assert set(on_gone["status_reason"].to_pylist()) == {f"{NOT_IN_SURVEY} {gone}"} and set(
        on_gone["status"].to_pylist()
    ) == {"failed"}
    if len(bricks) > 1:  # the bricks the portal has give the local run's stamps, bit for bit
        kept = f"brickname IN ({', '.join(repr(b) for b in bricks if b != gone)})"
        arrays_local, here = read_stamps(local, ["image"], kept)
        arrays_remote, _ = read_stamps(folder, ["image"], kept)
        assert arrays_local["image"].tobytes() == arrays_remote["image"].tobytes() and here.num_rows > 0
    gaps = coverage_gaps(str(cache))
    assert set(gaps["file"].to_pylist()) == set(coadd_files([gone]))
    assert set(gaps["brick"].to_pylist()) == {gone}
    assert set(gaps["http_status"].to_pylist()) == {404}


def test_a_bricks_summary_without_boxes_brings_the_release_geometry(small_sky, tmp_path):
    """DR10's region summary has no ra1/ra2/dec1/dec2: the geometry file one level up is fetched beside it and joined."""
    from astropy.io import fits

    from dhs_core.errors import InputFileError
    from dhs_core.survey.bricks import read_bricks_table
    from dhs_core.survey.portal import fetch_bricks_table

    source = SurveyLayout(str(small_sky)).bricks_table_paths()[0]
    expected = read_bricks_table(source)
    portal = tmp_path / "portal"
    (portal / "dr10" / "south").mkdir(parents=True)
    with fits.open(source) as hdul:
        columns = hdul[1].columns
        geometry = [
            c for c in columns if c.name.lower() in ("brickname", "ra", "dec", "ra1", "ra2", "dec1", "dec2")
        ]
        summary = [c for c in columns if c.name.lower() not in ("ra1", "ra2", "dec1", "dec2")]
        fits.BinTableHDU.from_columns(geometry).writeto(portal / "dr10" / "survey-bricks.fits.gz")
        fits.BinTableHDU.from_columns(summary).writeto(
            portal / "dr10" / "south" / "survey-bricks-dr10-south.fits.gz"
        )
    cache = tmp_path / "cache"
    with SurveyServer(portal) as server:
        rows = fetch_bricks_table(f"{server.url}/dr10/south", str(cache), FetchPolicy(backoff_base_s=0.01))
        assert rows["path"].to_pylist() == ["survey-bricks-dr10-south.fits.gz", "survey-bricks.fits.gz"]
        joined = read_bricks_table(SurveyLayout(str(cache)).bricks_table_paths())
        assert joined.select(expected.column_names).equals(
            expected
        )  # the same columns and values, in another order
        (portal / "dr10" / "survey-bricks.fits.gz").unlink()
        with pytest.raises(InputFileError, match=r"/dr10/survey-bricks.fits.gz: missing \(HTTP 404\)"):
            fetch_bricks_table(
                f"{server.url}/dr10/south", str(tmp_path / "cache2"), FetchPolicy(backoff_base_s=0.01)
            )
