"""Several chokepoints in one daemon (issue 15): `--zones` repeated and `zones.files`, ids unique across the
files (a clash refused naming both), every strait with its own transits, and runtime zones placed against
the chokepoint they lie in."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import load_settings
from monitor.errors import EXIT_CONFIG, EXIT_OK, ZoneFileError
from monitor.zones import load_configured_zones, load_zone_files, merge_zone_features
from tests.helpers import T0, box, feature, synthetic_zones, track, write_lines, write_zones

# The second chokepoint: the synthetic one moved 45° east and 24° south (into the Strait of Malacca's
# longitudes), its ids prefixed, so nothing but the place and the ids differ.
DX, DY = 45.0, -24.0


def moved(collection: dict[str, Any], prefix: str = "b-") -> dict[str, Any]:
    out = copy.deepcopy(collection)

    def shift(coords: Any) -> Any:
        if isinstance(coords[0], (int, float)):
            return [coords[0] + DX, coords[1] + DY]
        return [shift(c) for c in coords]

    for f in out["features"]:
        props = f["properties"]
        props["id"] = prefix + props["id"]
        if "gates" in props:
            props["gates"] = [prefix + g for g in props["gates"]]
        f["geometry"]["coordinates"] = shift(f["geometry"]["coordinates"])
    return out


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    first = synthetic_zones()
    first["properties"] = {"name": "A", "attribution": ["shared source", "source of A"]}
    second = moved(synthetic_zones())
    second["properties"] = {"name": "B", "attribution": ["shared source", "source of B"]}
    return write_zones(tmp_path / "a.geojson", first), write_zones(tmp_path / "b.geojson", second)


def crossing(mmsi: int, dx: float = 0.0, dy: float = 0.0, t0: float = T0) -> list[bytes]:
    """East to west through a strait (outer gate at lon 57, inner at 56 in the first file)."""
    return track(mmsi, [(57.5 + dx, 26.1 + dy), (55.7 + dx, 26.1 + dy)], t0, interval_s=60, speed_kn=15)


def test_one_replay_gives_each_strait_its_own_transits(
    tmp_path: Path, two_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """One vessel through each strait: one transit each, with its own strait and gates; nothing else about
    the other chokepoint."""
    a, b = two_files
    feed = write_lines(tmp_path / "feed.nmea", crossing(538000001) + crossing(538000002, DX, DY, T0 + 5))
    assert main(["replay", str(feed), "--zones", str(a), "--zones", str(b)]) == EXIT_OK
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    transits = {(x["mmsi"], x["zone"]["id"], x["details"]["direction"])
                for x in alerts if x["kind"] == "transit"}
    assert transits == {(538000001, "strait", "inbound"), (538000002, "b-strait", "inbound")}
    assert not [x for x in alerts if x["kind"] in ("on_land", "wrong_way", "position_jump")]


def test_the_files_are_joined_in_order_with_their_attributions(two_files: tuple[Path, Path]) -> None:
    a, b = two_files
    joined = load_zone_files([a, b])
    assert [z.id for z in joined.zones] == [z.id for z in load_zone_files([a]).zones] + [
        z.id for z in load_zone_files([b]).zones]
    assert joined.properties["attribution"] == ["shared source", "source of A", "source of B"]
    assert joined.properties["name"] == "A; B"
    assert [f["path"] for f in joined.properties["files"]] == [str(a), str(b)]
    assert [p.path for p in joined.parts] == [str(a), str(b)]


def test_an_id_used_in_two_files_is_refused_naming_both(
    tmp_path: Path, two_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = two_files
    clash = moved(synthetic_zones(), prefix="c-")
    clash["features"][1]["properties"]["id"] = "gulf"  # (the first file's region)
    c = write_zones(tmp_path / "c.geojson", clash)
    with pytest.raises(ZoneFileError) as err:
        load_zone_files([a, c])
    assert err.value.path == str(c)
    assert err.value.problems == [(f"feature 'gulf': id already used in {a} (ids must be unique across the "
                                   "zone files loaded together)")]
    feed = write_lines(tmp_path / "f.nmea", crossing(538000001))
    assert main(["replay", str(feed), "--zones", str(a), "--zones", str(c)]) == EXIT_CONFIG
    out, err_text = capsys.readouterr()
    assert out == "" and "c.geojson" in err_text and "'gulf'" in err_text and "a.geojson" in err_text


def test_the_config_names_several_files_relative_to_itself(
    tmp_path: Path, two_files: tuple[Path, Path]
) -> None:
    """`zones.file` and `zones.files`, relative to the config file; --zones stands for both."""
    a, b = two_files
    sub = tmp_path / "etc"
    sub.mkdir()
    config = sub / "monitor.toml"
    config.write_text('[zones]\nfile = "../a.geojson"\nfiles = ["../b.geojson"]\n')
    settings = load_settings(config, env={})
    paths = settings.zones.paths()
    assert paths is not None and [p.resolve() for p in paths] == [a.resolve(), b.resolve()]
    assert len(load_configured_zones(paths).parts) == 2
    config.write_text('[zones]\nfiles = [""]\n')
    with pytest.raises(Exception, match="must not be empty"):
        load_settings(config, env={})


def test_a_runtime_zone_is_placed_against_the_chokepoint_it_lies_in(two_files: tuple[Path, Path]) -> None:
    """A hazard near the second chokepoint is accepted (it lies among that file's zones, thousands of km
    from the first's); one far from both is refused as misplaced; an id of either file is refused."""
    joined = load_zone_files(list(two_files))
    near_b = feature("hazard-b", "hazard", {"type": "Polygon", "coordinates": box(56.3 + DX, 25.6 + DY,
                                                                                  56.5 + DX, 25.8 + DY)})
    check = merge_zone_features(joined, [near_b])
    assert check.problems == () and check.zone_file is not None
    assert check.zone_file.zones[-1].id == "hazard-b" and len(check.zone_file.parts) == 2
    far = feature("hazard-far", "hazard", {"type": "Polygon", "coordinates": box(-30.0, -40.0, -29.8, -39.8)})
    assert any("lies far from" in p for p in merge_zone_features(joined, [far]).problems)
    taken = feature("b-anch", "hazard", {"type": "Polygon", "coordinates": box(56.3 + DX, 25.6 + DY,
                                                                               56.5 + DX, 25.8 + DY)})
    assert any("b-anch" in p for p in merge_zone_features(joined, [taken]).problems)


def test_the_packaged_chokepoints_load_together_by_name() -> None:
    """The three packaged zone files, named as `--zones` takes them (no such file in the working
    directory): ids unique across them, one strait each."""
    from monitor.zones import PACKAGED

    joined = load_configured_zones(list(PACKAGED))
    assert len(joined.parts) == 3
    assert len({z.id for z in joined.zones}) == len(joined.zones)
    assert len(joined.of_kind("strait")) == 3
