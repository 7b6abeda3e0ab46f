"""The MID table and MMSI -> MID -> flag lookup (ITU-R M.585)."""

from __future__ import annotations

import csv
import importlib.resources
import io
import re

import pytest

from monitor.mid import country_of_mid, flag_of, mid_of, mid_table


def _raw_rows() -> list[dict[str, str]]:
    """The packaged CSV read independently of monitor.mid, so table checks do not trust its loader."""
    text = importlib.resources.files("monitor.data").joinpath("mid.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_table_is_complete_enough() -> None:
    """The packaged table holds the whole ITU list (about 290 allocated MIDs), not a sample."""
    assert len(_raw_rows()) >= 280
    assert len(mid_table()) == len(_raw_rows())


def test_table_has_the_documented_columns() -> None:
    """The CSV has the columns mid, alpha2, country and the explanatory note column."""
    assert list(_raw_rows()[0].keys()) == ["mid", "alpha2", "country", "note"]


def test_no_duplicate_mid() -> None:
    """Each MID appears once, so a lookup is unambiguous."""
    mids = [int(row["mid"]) for row in _raw_rows()]
    assert len(mids) == len(set(mids))


def test_every_mid_in_itu_range() -> None:
    """MIDs are three digits starting with 2..7 (ITU regions Europe .. South America)."""
    for row in _raw_rows():
        assert 201 <= int(row["mid"]) <= 775, row


def test_every_alpha2_is_two_uppercase_letters() -> None:
    """Every flag is an ISO 3166-1 alpha-2 shape; catches 'UK' and empty cells."""
    for row in _raw_rows():
        assert re.fullmatch(r"[A-Z]{2}", row["alpha2"]), row
        assert row["alpha2"] != "UK", row  # ISO uses GB; 'UK' is a common mistake
        assert row["country"].strip(), row


def test_parent_code_choices_are_explained() -> None:
    """Territories without their own ISO code that borrow a parent's code carry a note saying so."""
    by_mid = {int(row["mid"]): row for row in _raw_rows()}
    for mid in (204, 255, 303, 306, 501, 607, 608, 618, 635):
        assert by_mid[mid]["note"].strip(), mid


@pytest.mark.parametrize(
    ("mid", "alpha2"),
    [
        (201, "AL"), (211, "DE"), (218, "DE"), (209, "CY"), (210, "CY"), (212, "CY"),
        (215, "MT"), (229, "MT"), (248, "MT"), (249, "MT"), (256, "MT"),
        (232, "GB"), (233, "GB"), (234, "GB"), (235, "GB"),
        (237, "GR"), (239, "GR"), (240, "GR"), (241, "GR"),
        (273, "RU"), (311, "BS"), (338, "US"), (366, "US"), (367, "US"), (368, "US"), (369, "US"),
        (351, "PA"), (357, "PA"), (370, "PA"), (373, "PA"), (374, "PA"),
        (301, "AI"), (306, "CW"), (307, "AW"), (310, "BM"), (378, "VG"), (379, "VI"),
        (403, "SA"), (408, "BH"), (412, "CN"), (413, "CN"), (414, "CN"), (416, "TW"),
        (422, "IR"), (425, "IQ"), (440, "KR"), (441, "KR"), (445, "KP"), (447, "KW"),
        (461, "OM"), (463, "PK"), (466, "QA"), (470, "AE"), (471, "AE"), (473, "YE"), (477, "HK"),
        (501, "TF"), (538, "MH"), (540, "NC"), (546, "PF"), (548, "PH"),
        (563, "SG"), (564, "SG"), (565, "SG"), (566, "SG"),
        (607, "TF"), (608, "SH"), (618, "TF"), (635, "TF"), (636, "LR"), (637, "LR"),
        (622, "EG"), (621, "DJ"), (665, "SH"), (775, "VE"),
    ],
)
def test_well_known_mids(mid: int, alpha2: str) -> None:
    """Flags and registers that matter around Hormuz and in world shipping map to the right ISO code."""
    assert flag_of(mid * 1_000_000 + 123_456) == alpha2


@pytest.mark.parametrize("mid", [200, 217, 221, 222, 223, 260, 280, 302, 402, 600, 680, 700, 776, 799])
def test_unallocated_mid_has_no_flag(mid: int) -> None:
    """A structurally valid MMSI whose MID the ITU never allocated gets no flag, not a guess."""
    mmsi = mid * 1_000_000 + 1
    assert mid_of(mmsi) == mid
    assert flag_of(mmsi) is None
    assert country_of_mid(mid) is None


def test_country_names() -> None:
    """country_of_mid gives an English name for allocated MIDs only."""
    assert country_of_mid(440) == "South Korea"
    assert country_of_mid(422) == "Iran"
    assert country_of_mid(636) == "Liberia"
    assert country_of_mid(0) is None
    assert country_of_mid(-5) is None
    assert country_of_mid(1234) is None


@pytest.mark.parametrize(
    ("mmsi", "mid"),
    [
        (440123456, 440),  # ship station MIDxxxxxx
        (201000000, 201),
        (775999999, 775),
        (42212345, 422),  # group ship station 0MIDxxxxx
        (4221234, 422),  # coast station 00MIDxxxx
        (2320001, 232),
        (111232123, 232),  # SAR aircraft 111MIDxxx
        (992351234, 235),  # AtoN 99MIDxxxx
        (984401234, 440),  # craft associated with a parent ship 98MIDxxxx
        (844012345, 440),  # handheld 8MIDxxxxx
    ],
)
def test_mid_of_every_mmsi_form(mmsi: int, mid: int) -> None:
    """Each ITU-R M.585 MMSI form yields the MID in its documented position."""
    assert mid_of(mmsi) == mid


def test_flag_of_special_forms() -> None:
    """Flags come from the MID wherever the form puts it, e.g. a UK AtoN or a Korean coast station."""
    assert flag_of(992351234) == "GB"
    assert flag_of(4401234) == "KR"
    assert flag_of(42212345) == "IR"
    assert flag_of(111366001) == "US"
    assert flag_of(986361234) == "LR"
    assert flag_of(847012345) == "AE"


@pytest.mark.parametrize(
    "mmsi",
    [
        0,
        123,
        -440123456,
        1_999_999,  # too short even for a coast station
        8_000_000,  # 008xxxxxx: coast-station form with a MID outside 2..7
        12_345_678,  # 01xxxxxxx: no such form
        99_999_999,  # 0999xxxxx: group form with MID 999
        100_000_000,  # 1xxxxxxxx other than 111MID
        111_123_456,  # SAR aircraft with MID 123
        112_440_123,
        800_000_000,  # handheld with MID 000
        880_012_345,  # handheld with MID 800
        970_123_456,  # AIS-SART carries no MID
        972_123_456,  # MOB device
        974_123_456,  # EPIRB-AIS
        981_234_567,  # 98 form with MID 123
        999_999_999,  # 99 form with MID 999
        1_000_000_000,  # ten digits
    ],
)
def test_invalid_mmsi_has_no_mid(mmsi: int) -> None:
    """Identities without a MID, or with one outside 2xx..7xx, give None for both MID and flag."""
    assert mid_of(mmsi) is None
    assert flag_of(mmsi) is None


def test_table_agrees_with_lookup() -> None:
    """mid_table() and flag_of() describe the same allocation for every MID 200..799."""
    table = {entry.mid: entry.alpha2 for entry in mid_table()}
    for mid in range(200, 800):
        assert flag_of(mid * 1_000_000) == table.get(mid)
