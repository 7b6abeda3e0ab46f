"""Runtime zones (monitor.runtimezones) and the daemon object's use of them (monitor.service.Service, not
running): checked as the zone file's features are, saved atomically in the state directory, read back at
start, applied from the next fix on with every vessel's state kept, refused or set aside without
stopping the daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely
from structlog.testing import capture_logs

from monitor.config import Settings, StateSettings
from monitor.errors import ZoneFileError
from monitor.runtimezones import FILE_NAME, NotRuntime, RuntimeZones
from monitor.service import Service
from monitor.zones import ZoneFile, load_zone_file
from tests.helpers import T0, box, position_lines, synthetic_zones, write_zones


class _Notifier:
    def notify(self, state: str) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_sdnotify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.service.sdnotify.SystemdNotifier", _Notifier)


Box = tuple[float, float, float, float]


def hazard(zone_id: str = "mines", *, kind: str = "hazard", expires: str | None = None,
           square: Box = (56.5, 26.05, 56.6, 26.15), **extra: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"id": zone_id, "name": "Mined area", "kind": kind, **extra}
    if expires is not None:
        properties["expires"] = expires
    geometry = {"type": "Polygon", "coordinates": box(*square)}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


@pytest.fixture
def base(tmp_path: Path) -> ZoneFile:
    return load_zone_file(write_zones(tmp_path / "zones.geojson"))


# ---- RuntimeZones --------------------------------------------------------------------------------------

def test_add_saves_atomically_and_a_new_instance_reads_it_back(tmp_path: Path, base: ZoneFile) -> None:
    rz = RuntimeZones(tmp_path / "state" / FILE_NAME)
    in_force, stored = rz.add(base, hazard(expires="2030-01-01T00:00:00Z"), now=float(T0))
    assert stored == hazard(expires="2030-01-01T00:00:00Z")
    assert in_force.by_id("mines").kind == "hazard" and len(in_force.zones) == len(base.zones) + 1
    saved = json.loads((tmp_path / "state" / FILE_NAME).read_text())
    assert saved == {"type": "FeatureCollection", "features": [stored]}
    assert not list((tmp_path / "state").glob("*.tmp"))  # the temporary file was renamed into place
    assert RuntimeZones(tmp_path / "none" / FILE_NAME).merged(base) is base  # none: the zone file as is
    again = RuntimeZones(tmp_path / "state" / FILE_NAME)
    loaded = again.load(base)
    assert again.ids() == {"mines"} and loaded.by_id("mines").expires == 1893456000.0
    assert again.merged(base).by_id("mines").geometry.equals(shapely.box(56.5, 26.05, 56.6, 26.15))


@pytest.mark.parametrize(("feature", "problem"), [
    ([], "the body must be a GeoJSON Feature"),
    ({"type": "FeatureCollection", "features": []}, "the body must be a GeoJSON Feature"),
    ({**hazard(), "style": {}}, "unknown Feature member 'style'"),
    ({"type": "Feature", "geometry": None}, "'properties' is missing or not an object"),
    (hazard(colour="red"), "unknown property 'colour' (known: id, name, kind, expires)"),
    (hazard(kind="port"), "kind must be hazard or corridor, got 'port'"),
    (hazard(kind="strait"), "kind must be hazard or corridor, got 'strait'"),
    (hazard("port-a"), "feature 'port-a': duplicate id: a zone 'port-a' exists already"),
    (hazard("bad id"), "feature 'bad id': id must not contain whitespace"),
    (hazard(expires="soon"), "feature 'mines': 'expires' must be ISO 8601 UTC"),
    (hazard(expires="2025-06-15T15:00:00Z"),
     "feature 'mines': 'expires' 2025-06-15T15:00:00Z is already past"),
    ({**hazard(), "geometry": {"type": "LineString", "coordinates": [[56.5, 26.1], [56.6, 26.1]]}},
     "feature 'mines': hazard must be a Polygon or MultiPolygon, got LineString"),
    ({**hazard(), "geometry": {"type": "Polygon", "coordinates": [[[56.5, 26], [56.6, 26.1], [56.6, 26],
                                                                  [56.5, 26.1], [56.5, 26]]]}},
     "feature 'mines': invalid Polygon: Self-intersection"),
    (hazard(square=(26.05, 56.5, 26.15, 56.6)), "feature 'mines': looks like lat/lon swapped"),
])
def test_add_refuses_naming_the_problem_and_changes_nothing(tmp_path: Path, base: ZoneFile, feature: Any,
                                                            problem: str) -> None:
    rz = RuntimeZones(tmp_path / FILE_NAME)
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(").replace(")", r"\)")):
        rz.add(base, feature, now=float(T0))
    assert rz.features == [] and not (tmp_path / FILE_NAME).exists()


def test_ids_are_unique_across_runtime_zones_too(tmp_path: Path, base: ZoneFile) -> None:
    rz = RuntimeZones(tmp_path / FILE_NAME)
    in_force, _ = rz.add(base, hazard(), now=float(T0))
    with pytest.raises(ValueError, match="duplicate id: a zone 'mines' exists already"):
        rz.add(in_force, hazard(kind="corridor"), now=float(T0))
    # GeoJSON's own Feature "id" is the zone id when properties lack one, as in a zone file.
    feature = hazard("x")
    del feature["properties"]["id"]
    _, stored = rz.add(in_force, {**feature, "id": "wreck"}, now=float(T0))
    assert stored["properties"]["id"] == "wreck" and rz.ids() == {"mines", "wreck"}


def test_remove_saves_and_gives_the_zones_without_it(tmp_path: Path, base: ZoneFile) -> None:
    rz = RuntimeZones(tmp_path / FILE_NAME)
    in_force, _ = rz.add(base, hazard(), now=float(T0))
    in_force, _ = rz.add(in_force, hazard("evac", kind="corridor", square=(56.0, 25.7, 57.0, 25.75)), now=T0)
    with pytest.raises(KeyError):
        rz.remove(in_force, "port-a")  # a zone file's zone is not a runtime zone
    after = rz.remove(in_force, "mines")
    assert [z.id for z in after.zones] == [*(z.id for z in base.zones), "evac"]
    saved = json.loads((tmp_path / FILE_NAME).read_text())["features"]
    assert [f["properties"]["id"] for f in saved] == ["evac"]


def test_a_write_that_fails_changes_nothing(tmp_path: Path, base: ZoneFile) -> None:
    """The state directory's place is taken by a file: OSError, nothing kept in memory or on disk."""
    (tmp_path / "state").write_text("not a directory")
    rz = RuntimeZones(tmp_path / "state" / FILE_NAME)
    with pytest.raises(FileExistsError):
        rz.add(base, hazard(), now=float(T0))
    assert rz.features == []


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path, base: ZoneFile) -> None:
    (tmp_path / FILE_NAME).mkdir()  # os.replace of a file onto a directory fails
    rz = RuntimeZones(tmp_path / FILE_NAME)
    with pytest.raises(IsADirectoryError):
        rz.add(base, hazard(), now=float(T0))
    assert rz.features == [] and not (tmp_path / (FILE_NAME + ".tmp")).exists()


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"type": "Feature"}', b"[]"])
def test_an_unreadable_file_is_moved_aside_and_the_start_goes_on(tmp_path: Path, base: ZoneFile,
                                                                 content: bytes) -> None:
    (tmp_path / FILE_NAME).write_bytes(content)
    rz = RuntimeZones(tmp_path / FILE_NAME)
    with capture_logs() as logs:
        assert rz.load(base) is base
    assert [e["event"] for e in logs] == ["runtime_zones_unreadable"]
    aside = list(tmp_path.glob(FILE_NAME + ".unreadable-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content and not (tmp_path / FILE_NAME).exists()


def test_no_file_or_no_possible_state_directory_is_no_runtime_zones_and_no_event(tmp_path: Path,
                                                                                 base: ZoneFile) -> None:
    (tmp_path / "file").write_text("")
    with capture_logs() as logs:
        assert RuntimeZones(tmp_path / FILE_NAME).load(base) is base
        assert RuntimeZones(tmp_path / "file" / FILE_NAME).load(base) is base
    assert logs == []


def test_a_directory_in_the_files_place_is_moved_aside(tmp_path: Path, base: ZoneFile) -> None:
    (tmp_path / FILE_NAME).mkdir()
    with capture_logs() as logs:
        assert RuntimeZones(tmp_path / FILE_NAME).load(base) is base
    assert logs[0]["event"] == "runtime_zones_unreadable" and logs[0]["moved_aside"] is not None
    assert not (tmp_path / FILE_NAME).exists()


def test_a_file_that_cannot_be_moved_aside_is_reported(tmp_path: Path, base: ZoneFile,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / FILE_NAME).write_text("{")
    monkeypatch.setattr("monitor.runtimezones.os.replace", _fail)
    with capture_logs() as logs:
        assert RuntimeZones(tmp_path / FILE_NAME).load(base) is base
    assert logs[0]["event"] == "runtime_zones_unreadable" and logs[0]["moved_aside"] is None


def _fail(*args: Any) -> None:
    raise OSError("read-only file system")


def test_a_zone_the_edited_zone_file_now_has_is_left_out_at_start(tmp_path: Path, base: ZoneFile) -> None:
    """The zone file gained a zone of a runtime zone's id: at start that runtime zone is left out (an
    error event carries it), the others kept; a reload to such a file is refused instead."""
    rz = RuntimeZones(tmp_path / FILE_NAME)
    in_force, _ = rz.add(base, hazard(), now=float(T0))
    rz.add(in_force, hazard("evac", kind="corridor", square=(56.0, 25.7, 57.0, 25.75)), now=float(T0))
    collection = synthetic_zones()
    collection["features"].append(hazard())
    edited = load_zone_file(write_zones(tmp_path / "edited.geojson", collection))
    with pytest.raises(ZoneFileError, match="duplicate id: a zone 'mines' exists already"):
        rz.merged(edited)
    again = RuntimeZones(tmp_path / FILE_NAME)
    with capture_logs() as logs:
        loaded = again.load(edited)
    assert again.ids() == {"evac"} and loaded.by_id("evac").kind == "corridor"
    refused = [(e["event"], e["feature"]["properties"]["id"]) for e in logs]
    assert refused == [("runtime_zone_refused", "mines")]


# ---- Service ------------------------------------------------------------------------------------------

@pytest.fixture
def service(tmp_path: Path) -> Service:
    settings = Settings(state=StateSettings(directory=tmp_path / "state"))
    return Service(settings, load_zone_file(write_zones(tmp_path / "z.geojson")), config_path=None)


def test_a_zone_posted_applies_from_the_next_fix_on_and_vessels_keep_their_state(service: Service) -> None:
    """A vessel inside the strait and lane, then a hazard posted around where it is heading: no alert for
    the posting itself, no repeated zone entries for the vessel, and hazard_enter at its first fix inside
    (critical: MID 440 is watched)."""
    lines = [ln for k in range(3) for ln in position_lines(440000001, 56.705 - 0.01 * k, 26.1, T0 + 60 * k)]
    before = service.pipeline.process_lines(lines)
    assert {a.zone["id"] for a in before if a.kind == "zone_enter" and a.zone} == {"strait", "lane-in"}
    stored = service.add_zone(hazard())
    assert stored["properties"]["runtime"] is True and service.pipeline.geofence.index_of["mines"] >= 0
    after = service.pipeline.process_lines(
        [ln for k in range(3, 12) for ln in position_lines(440000001, 56.705 - 0.01 * k, 26.1, T0 + 60 * k)])
    hazard_poly = shapely.box(56.5, 26.05, 56.6, 26.15)
    first = next(k for k in range(3, 12) if hazard_poly.contains(shapely.Point(56.705 - 0.01 * k, 26.1)))
    assert [(a.kind, a.severity, a.time) for a in after if a.zone and a.zone["id"] == "mines"] == [
        ("zone_enter", "warning", T0 + 60 * first), ("hazard_enter", "critical", T0 + 60 * first)]
    assert not [a for a in after if a.zone and a.zone["id"] in ("strait", "lane-in")]


def test_get_zones_marks_runtime_zones_and_delete_takes_them_out(service: Service) -> None:
    service.add_zone(hazard())
    features = service.zones_geojson()["features"]
    assert [f["properties"].get("runtime") for f in features if f["properties"]["id"] == "mines"] == [True]
    assert not [f for f in features if f["properties"]["id"] == "strait" and "runtime" in f["properties"]]
    with pytest.raises(NotRuntime, match="zone 'strait' is the zone file's"):
        service.delete_zone("strait")
    with pytest.raises(KeyError):
        service.delete_zone("nope")
    service.delete_zone("mines")
    assert "mines" not in service.pipeline.geofence.index_of
    assert not [f for f in service.zones_geojson()["features"] if f["properties"]["id"] == "mines"]


def test_a_new_daemon_object_starts_with_the_saved_runtime_zones(service: Service, tmp_path: Path) -> None:
    service.add_zone(hazard())
    again = Service(service.settings, service.zonefile, config_path=None)
    assert again.pipeline.geofence.zonefile.by_id("mines").kind == "hazard"
    assert again.runtime_zones.ids() == {"mines"}


def test_a_reload_keeps_runtime_zones_and_refuses_a_zone_file_that_takes_their_id(
    service: Service, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.toml"
    zones = tmp_path / "z.geojson"
    config.write_text(f'[zones]\nfile = "{zones.name}"\n[state]\ndirectory = "{tmp_path / "state"}"\n')
    service.config_path = str(config)
    service.add_zone(hazard())
    assert service.reload()
    assert "mines" in service.pipeline.geofence.index_of
    collection = synthetic_zones()
    collection["features"].append(hazard())
    zones.write_text(json.dumps(collection))
    with capture_logs() as logs:
        assert not service.reload()
    assert logs[0]["event"] == "reload_refused" and "'mines' exists already" in logs[0]["problem"]
