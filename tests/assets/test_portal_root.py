"""A survey root that is a portal URL: the catalogue assets fetch what they read into the cache, the sweep partitions are
planned from the fetched bricks table, a footprint keeps only its bricks, and a tile the portal lacks is a recorded gap."""

import shutil

import pytest
from dagster import AssetKey, build_sensor_context, materialize

from dhs_assets.catalog.partitions import discover_sweep_files, sweep_partitions
from dhs_assets.catalog.sensors import sweep_file_sensor
from dhs_assets.definitions import ASSETS, CHECKS
from dhs_assets.resources import SurveyRoot, build_resources, default_survey_root
from dhs_core.errors import ConfigError
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.cutout_sources import LocalCoadds, PortalCoadds, ServiceCutouts
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.plan import SkyBox, sweep_files
from dhs_core.survey.portal import coverage_gaps
from dhs_core.survey.serve import SurveyServer
from dhs_core.tables import read_table


def _materialize(instance, survey_root, data, keys, partition=None):
    resources = build_resources(data, survey_root)
    return materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey(k) for k in keys],
        partition_key=partition,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


def _sweep_rows(result) -> int:
    return result.asset_materializations_for_node("sweep_lrgs")[0].metadata["dagster/row_count"].value


def test_a_portal_root_with_a_footprint_fetches_plans_and_records_gaps(default_sky, tmp_path, instance):
    served = tmp_path / "served"
    shutil.copytree(default_sky, served)
    bricks = read_bricks_table(SurveyLayout(str(served)).bricks_table_paths())
    first = bricks.slice(0, 1).to_pylist()[0]
    box = SkyBox(
        first["ra"] - 0.04, first["ra"] + 0.04, first["dec"] - 0.04, first["dec"] + 0.04
    )  # one brick of a cluster
    inside = [b["brickname"] for b in bricks.to_pylist() if box.contains(b["ra"], b["dec"])]
    planned = sorted(
        name.rsplit("/", 1)[1].removesuffix(".fits")
        for name in sweep_files(bricks.filter([b in inside for b in bricks["brickname"].to_pylist()]))
    )
    gone = sorted(discover_sweep_files(SurveyLayout(str(served))))[
        -1
    ]  # a tile outside the footprint the portal lacks
    assert gone not in planned
    (served / "sweep" / "10.1" / f"{gone}.fits").unlink()
    cache, data = tmp_path / "cache", tmp_path / "data"
    with SurveyServer(str(served)) as server:
        portal = SurveyRoot(path=str(cache), url=server.url, footprint=str(box))
        skipped = sweep_file_sensor(
            build_sensor_context(instance=instance, resources={"survey_root": portal})
        )
        assert "materialize survey_bricks first" in skipped.skip_reason.skip_message

        result = _materialize(instance, portal, data, ["survey_bricks"])
        assert result.success
        metadata = result.asset_materializations_for_node("survey_bricks")[0].metadata
        assert read_table(str(data), "survey_bricks")["brickname"].to_pylist() == sorted(inside)
        assert metadata["bricks_outside_footprint"].value == bricks.num_rows - len(inside)
        assert (
            metadata["bricks_table_ok"].value == 1 and (cache / "survey-bricks-dr10-south.fits.gz").exists()
        )

        sensed = sweep_file_sensor(build_sensor_context(instance=instance, resources={"survey_root": portal}))
        assert sorted(r.partition_key for r in sensed.run_requests) == planned
        instance.add_dynamic_partitions(sweep_partitions.name, planned)
        local_root = SurveyRoot(path=str(served))
        assert _materialize(instance, local_root, tmp_path / "local", ["survey_bricks"]).success
        outside_total = 0
        for key in planned:
            fetched = _materialize(instance, portal, data, ["sweep_lrgs"], key)
            assert fetched.success and all(e.passed for e in fetched.get_asset_check_evaluations())
            assert (cache / "sweep" / "10.1" / f"{key}.fits").read_bytes() == (
                served / "sweep" / "10.1" / f"{key}.fits"
            ).read_bytes()
            local = _materialize(instance, local_root, tmp_path / "local", ["sweep_lrgs"], key)
            outside = (
                fetched.asset_materializations_for_node("sweep_lrgs")[0].metadata["outside_footprint"].value
            )
            assert _sweep_rows(fetched) + outside == _sweep_rows(
                local
            )  # the footprint's galaxies, the rest counted
            outside_total += outside
            assert set(read_table(str(data), "sweep_lrgs", key)["brickname"].to_pylist()) <= set(inside)

        assert (
            len(inside) == 1 and outside_total > 0
        )  # the tile's other bricks' galaxies were there, and left out

        # the same portal without a footprint plans every tile; the one it lacks fails by name and becomes a gap
        everything = SurveyRoot(path=str(tmp_path / "cache_all"), url=server.url)
        assert _materialize(instance, everything, tmp_path / "data_all", ["survey_bricks"]).success
        assert gone in everything.sweep_files()
        instance.add_dynamic_partitions(sweep_partitions.name, [gone])
        failed = _materialize(instance, everything, tmp_path / "data_all", ["sweep_lrgs"], gone)
        assert not failed.success
        message = next(
            e.event_specific_data.error.to_string()
            for e in failed.all_events
            if e.event_type_value == "STEP_FAILURE"
        )
        assert f"sweep/10.1/{gone}.fits: not in the survey (HTTP 404): recorded in coverage_gaps" in message
        assert coverage_gaps(str(tmp_path / "cache_all"))["file"].to_pylist() == [f"sweep/10.1/{gone}.fits"]
        assert gone not in everything.sweep_files()
        known = {"survey_root": everything}
        removed = sweep_file_sensor(build_sensor_context(instance=instance, resources=known))
        assert gone in removed.dynamic_partitions_requests[-1].partition_keys
        assert type(removed.dynamic_partitions_requests[-1]).__name__ == "DeleteDynamicPartitionsRequest"


def test_survey_root_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DHS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("DHS_SURVEY_ROOT", "https://portal.example/dr10/south/")
    monkeypatch.setenv("DHS_SURVEY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DHS_SURVEY_FOOTPRINT", "150,160,0,5")
    root = default_survey_root()
    assert (root.url, root.path, root.sky_box) == (
        "https://portal.example/dr10/south",
        str(tmp_path / "cache"),
        SkyBox(150, 160, 0, 5),
    )
    monkeypatch.delenv("DHS_SURVEY_CACHE")
    assert default_survey_root().path == str(tmp_path / "data" / "survey_cache")
    monkeypatch.setenv("DHS_SURVEY_ROOT", "s3://bucket/dr10/south")
    with pytest.raises(ConfigError, match="s3://bucket/dr10/south.*DHS_SURVEY_CACHE"):
        default_survey_root()
    monkeypatch.setenv("DHS_SURVEY_ROOT", str(tmp_path / "sky"))
    monkeypatch.setenv("DHS_SURVEY_FOOTPRINT", "150,160,5")
    with pytest.raises(ConfigError, match="footprint.*ra_min,ra_max,dec_min,dec_max"):
        _ = default_survey_root().sky_box


def test_the_cutout_source_is_chosen_by_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("DHS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("DHS_SURVEY_ROOT", str(tmp_path / "sky"))
    assert default_survey_root().cutout_source() == LocalCoadds(SurveyLayout(str(tmp_path / "sky")))
    monkeypatch.setenv("DHS_SURVEY_ROOT", "https://portal.example/dr10/south")
    monkeypatch.setenv("DHS_KEEP_COADDS", "0")
    portal = default_survey_root().cutout_source()
    assert (
        isinstance(portal, PortalCoadds)
        and not portal.keep
        and portal.url == "https://portal.example/dr10/south"
    )
    monkeypatch.setenv("DHS_CUTOUTS", "service")
    monkeypatch.setenv("DHS_CUTOUT_SERVICE_URL", "http://127.0.0.1:9/viewer")
    service = default_survey_root().cutout_source()
    assert isinstance(service, ServiceCutouts) and (service.url, service.name) == (
        "http://127.0.0.1:9/viewer",
        "service",
    )
    monkeypatch.setenv("DHS_CUTOUTS", "tape")
    with pytest.raises(ConfigError, match="cutouts.*tape.*bricks or service"):
        default_survey_root().cutout_source()
