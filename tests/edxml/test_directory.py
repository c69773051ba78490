"""Tests of the agency directory (gateway/edxml/directory.py) over the sample list in tests/fixtures."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from gateway.edxml.directory import Agency, Directory, fold
from gateway.errors import NotFoundError, SchemaValidationError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "directory" / "agencies.json"


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.from_json(FIXTURE)


def test_fixture_loads_cleanly(directory: Directory) -> None:
    raw = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert len(directory) == len(raw) == len({r["code"] for r in raw})
    assert directory.warnings == ()
    centres = [a for a in directory if a.code.endswith(".W00")]
    assert sorted(a.code for a in centres) == ["00.22.W00", "02.44.W00"]
    assert all(not a.is_agency for a in centres)


def test_get_by_new_code_and_fields(directory: Directory) -> None:
    a = directory.get("H44.24.46")
    assert a is not None
    assert a.name == "Ủy ban nhân dân xã Thạch Khoán"
    assert a.old_code == "000.46.24.H44"
    assert a.id == "31" and a.pid == "25"  # numbers in JSON become strings
    assert a.mail == "thachkhoan@thanhson.example.vn"
    assert a.version == "3" and a.modify_date == "2025-03-15 08:30:00"
    assert a.codes == ("H44.24.46", "000.46.24.H44")
    assert a.organ_id is not None and a.organ_id.level == 3
    assert directory.get("000.46.24.H44") is None  # get() is by current code only


def test_resolve_accepts_old_and_new_codes(directory: Directory) -> None:
    by_new = directory.resolve("G12")
    by_old = directory.resolve("000.00.00.G12")
    assert by_new is not None and by_new is by_old and by_new.name == "Bộ Tài chính"
    assert directory.resolve(" 000.00.00.g12 ") is by_new  # whitespace and case of a standard code
    assert directory.new_code_for("000.00.24.H44") == "H44.24"
    assert directory.old_code_for("H44.24") == "000.00.24.H44"
    assert directory.new_code_for("000.00.99.H44") is None
    assert directory.same_body("G22", "000.00.00.G22")
    assert not directory.same_body("G22", "G12")
    assert "000.00.00.H44" in directory and "H44" in directory and "H99" not in directory


def test_require_raises_not_found_naming_the_code(directory: Directory) -> None:
    assert directory.require("000.00.00.H26").code == "H26"
    with pytest.raises(NotFoundError, match=r"'000\.00\.00\.H99'"):
        directory.require("000.00.00.H99")


def test_deleted_agencies_are_hidden_unless_asked(directory: Directory) -> None:
    assert directory.resolve("H44.24.48") is None
    assert directory.resolve("000.48.24.H44") is None
    gone = directory.resolve("000.48.24.H44", include_deleted=True)
    assert gone is not None and gone.deleted
    assert "H44.24.48" not in [a.code for a in directory.children("H44.24")]
    assert "H44.24.48" in [a.code for a in directory.children("H44.24", include_deleted=True)]
    assert directory.search("Tân Lập") == []
    assert [a.code for a in directory.search("Tân Lập", include_deleted=True)] == ["H44.24.48"]


def test_parent_and_children_follow_pid(directory: Directory) -> None:
    parent = directory.parent("000.46.24.H44")
    assert parent is not None and parent.code == "H44.24"
    assert [a.code for a in directory.children("000.00.24.H44")] == ["H44.24.01", "H44.24.46", "H44.24.47"]
    assert [a.code for a in directory.children("H44")] == ["H44.01", "H44.03", "H44.05", "H44.20", "H44.24"]
    assert [a.code for a in directory.ancestors("H44.24.46")] == ["H44.24", "H44"]
    assert directory.parent("H44") is None
    assert directory.parent("unknown.code") is None
    assert directory.children("H99") == ()
    below = [a.code for a in directory.descendants("H44")]
    assert below[:5] == ["H44.01", "H44.03", "H44.05", "H44.20", "H44.24"]  # breadth first
    assert {"H44.20.05", "H44.24.46", "2600105678"} <= set(below)
    assert "H44.24.48" not in below


def test_three_levels_in_the_sample(directory: Directory) -> None:
    levels = {a.organ_id.level for a in directory if a.organ_id and a.organ_id.level}
    assert levels == {1, 2, 3}


@pytest.mark.parametrize(
    ("code", "centre"),
    [
        ("H44", "02.44.W00"),  # own centerCode
        ("000.46.24.H44", "02.44.W00"),  # commune: walk pid up to the province
        ("H44.20.05", "02.44.W00"),
        ("K44", "02.44.W00"),
        ("2600105678", "02.44.W00"),  # enterprise under the provincial finance department
        ("G12.01.05", "00.22.W00"),  # ministry branch served by the national axis
        ("000.00.00.G22", "00.22.W00"),
        ("H26", "00.22.W00"),
        ("02.44.W00", "02.44.W00"),  # a centre serves itself
        ("H99", None),
    ],
)
def test_center_of(directory: Directory, code: str, centre: str | None) -> None:
    assert directory.center_of(code) == centre


def test_served_by(directory: Directory) -> None:
    provincial = {a.code for a in directory.served_by("02.44.W00")}
    assert "H44.24.46" in provincial and "K44" in provincial
    assert "G12" not in provincial and "02.44.W00" not in provincial
    assert "H44.24.48" not in provincial  # deleted
    national = {a.code for a in directory.served_by("00.22.W00")}
    assert national == {"G22", "G12", "G12.01", "G12.02", "G12.01.05", "H26"}


def test_search_is_accent_and_case_insensitive(directory: Directory) -> None:
    assert [a.code for a in directory.search("dich qua")] == ["H44.24.47"]
    assert [a.code for a in directory.search("ĐỊCH QUẢ")] == ["H44.24.47"]
    assert [a.code for a in directory.search("thach   khoan")] == ["H44.24.46"]
    nfd = unicodedata.normalize("NFD", "Thạch Khoán")
    assert [a.code for a in directory.search(nfd)] == ["H44.24.46"]
    names = [a.name for a in directory.search("uy ban nhan dan tinh")]
    assert names[0] == "Ủy ban nhân dân tỉnh Phú Thọ"  # exact prefix first
    assert "Văn phòng Ủy ban nhân dân tỉnh Phú Thọ" in names
    assert directory.search("   ") == []
    assert directory.search("không có cơ quan này") == []


def test_search_by_code_and_limit(directory: Directory) -> None:
    assert directory.search("000.00.00.g22")[0].code == "G22"
    assert directory.search("G12")[0].code == "G12"
    assert len(directory.search("uy ban", limit=2)) == 2


def test_fold() -> None:
    assert fold("Ủy ban nhân dân xã Địch Quả") == "uy ban nhan dan xa dich qua"
    assert fold(unicodedata.normalize("NFD", "Đà Nẵng")) == "da nang"
    assert fold("  Hà   Nội ") == "ha noi"


def test_names_are_stored_nfc(tmp_path: Path) -> None:
    d = Directory.from_records([{"code": "H44", "name": unicodedata.normalize("NFD", "Phú Thọ")}])
    a = d.get("H44")
    assert a is not None and a.name == unicodedata.normalize("NFC", "Phú Thọ")


def test_three_axis_list_shapes_merge() -> None:
    agencies_list = [
        {
            "id": 1,
            "pid": 0,
            "code": "H44",
            "name": "UBND tỉnh Phú Thọ",
            "mail": "a@x.vn",
            "oldCode": "000.00.00.H44",
        },
        {"id": 2, "pid": 1, "code": "H44.05", "name": "Sở Tài chính", "mail": None, "oldCode": None},
    ]
    qd20 = [{"code": "H44.05", "code102": "000.00.05.H44"}]
    sync = [
        {
            "id": 1,
            "pid": None,
            "code": "H44",
            "name": "UBND tỉnh Phú Thọ",
            "centerCode": "02.44.W00",
            "version": 7,
            "deleted": "false",
            "modifyDate": "2025-01-01",
            "isAgency": 1,
        },
    ]
    d = Directory.from_records([*agencies_list, *qd20, *sync])
    assert d.warnings == ()
    assert d.resolve("000.00.05.H44") is d.get("H44.05")  # mapping learned from the QĐ20 list
    h44 = d.get("H44")
    assert h44 is not None and h44.center_code == "02.44.W00" and h44.version == "7"
    assert h44.mail == "a@x.vn"  # kept from the first list
    assert h44.pid is None  # 0 / null mean "no parent"
    assert d.center_of("000.00.05.H44") == "02.44.W00"


def test_axis_answer_envelope_and_text_input() -> None:
    answer = {"status": "OK", "ErrorCode": "0", "data": [{"code": "G22", "name": "Văn phòng Chính phủ"}]}
    d = Directory.from_json(json.dumps(answer, ensure_ascii=False))
    assert d.require("G22").name == "Văn phòng Chính phủ"
    both = Directory.from_json(
        json.dumps(
            {
                "agencies": [{"code": "G12", "name": "Bộ Tài chính"}],
                "qd20": [{"code": "G12", "code102": "000.00.00.G12"}],
            }
        ).encode()
    )
    assert both.resolve("000.00.00.G12") is both.get("G12")


def test_parent_by_code_hierarchy_when_no_pid() -> None:
    d = Directory.from_records(
        [
            {"code": "000.00.00.H44", "name": "UBND tỉnh"},
            {"code": "000.00.24.H44", "name": "UBND huyện"},
            {"code": "000.46.24.H44", "name": "UBND xã"},
            {"code": "001.00.30.H44", "name": "đơn vị cấp 4, cha cấp 2 không có trong danh bạ"},
        ]
    )
    assert d.parent("000.46.24.H44") is d.get("000.00.24.H44")
    assert d.parent("001.00.30.H44") is d.get("000.00.00.H44")  # skips the missing level
    assert [a.code for a in d.children("000.00.00.H44")] == ["000.00.24.H44", "001.00.30.H44"]


def test_pid_may_hold_a_parent_code() -> None:
    d = Directory.from_records(
        [{"code": "G12", "name": "Bộ"}, {"code": "G12.01", "name": "Cục", "pid": "G12"}]
    )
    assert d.parent("G12.01") is d.get("G12")


def test_cyclic_pid_chain_terminates() -> None:
    d = Directory.from_records(
        [{"id": 1, "pid": 2, "code": "G01", "name": "A"}, {"id": 2, "pid": 1, "code": "G02", "name": "B"}]
    )
    assert [a.code for a in d.ancestors("G01")] == ["G02"]
    assert d.center_of("G01") is None
    assert [a.code for a in d.descendants("G01")] == ["G02"]


def test_bad_records_are_skipped_with_warnings() -> None:
    records = [
        {"code": "G22", "name": "Văn phòng Chính phủ"},
        {"name": "no code"},
        {"code": "x" * 40, "name": "too long"},
        {"code": "có dấu", "name": "not an id"},
        "not an object",
        {"code": "G12", "name": "Bộ Tài chính", "oldCode": "??", "deleted": "maybe"},
    ]
    d = Directory.from_records(records, source="agencies.json")  # type: ignore[arg-type]
    assert sorted(a.code for a in d) == ["G12", "G22"]
    g12 = d.get("G12")
    assert g12 is not None and g12.old_code is None and g12.deleted is False
    text = "\n".join(d.warnings)
    for fragment in (
        "[1]: missing 'code'",
        "[2]: code",
        "[3]: code 'có dấu'",
        "[4]: record is str",
        "[5]: old code '??'",
        "[5]: deleted is 'maybe'",
    ):
        assert fragment in text
    assert all(w.startswith("agencies.json: ") for w in d.warnings)


def test_strict_loading_raises_with_every_issue() -> None:
    with pytest.raises(SchemaValidationError) as info:
        Directory.from_records([{"name": "a"}, {"code": "có dấu"}], source="list.json", strict=True)
    err = info.value
    assert len(err.issues) == 2 and [i.path for i in err.issues] == ["[0]", "[1]"]
    assert "list.json" in str(err)


def test_conflicting_old_code_mapping_is_reported() -> None:
    d = Directory.from_records(
        [
            {"code": "G12", "name": "a", "oldCode": "000.00.00.G12"},
            {"code": "G13", "name": "b", "oldCode": "000.00.00.G12"},
        ]
    )
    assert d.new_code_for("000.00.00.G12") == "G12"
    assert any("maps to both G12 and G13" in w for w in d.warnings)


def test_bad_json_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"code": "G22",\n "name": }]', encoding="utf-8")
    with pytest.raises(SchemaValidationError) as info:
        Directory.from_json(broken)
    assert str(broken) in str(info.value) and "line 2" in str(info.value)
    with pytest.raises(SchemaValidationError, match="JSON array"):
        Directory.from_json('{"status": "FAIL"}')
    with pytest.raises(NotFoundError, match=r"missing\.json"):
        Directory.from_json(tmp_path / "missing.json")


def test_exports_round_trip(directory: Directory) -> None:
    listed = directory.as_agencies_list()
    assert {"id", "pid", "code", "name", "mail", "oldCode"} == set(listed[0])
    assert "H44.24.48" not in {r["code"] for r in listed}
    qd20 = directory.as_agencies_list_qd20()
    assert {"code": "G22", "code102": "000.00.00.G22"} in qd20
    sync = directory.as_synchronize_unit()
    assert "oldCode" not in sync[0]  # exact axis shape; old codes travel in the other lists
    again = Directory.from_records([*sync, *listed])
    active = [a for a in directory if not a.deleted]
    assert [a for a in again if not a.deleted] == active
    assert [a.code for a in again if a.deleted] == ["H44.24.48"]
    assert again.center_of("000.46.24.H44") == "02.44.W00"


def test_with_agencies_adds_and_replaces(directory: Directory) -> None:
    bigger = directory.with_agencies(
        [Agency(code="H44.24.49", name="Ủy ban nhân dân xã Mới", pid="25", old_code="000.49.24.H44")]
    )
    assert len(bigger) == len(directory) + 1
    assert bigger.center_of("000.49.24.H44") == "02.44.W00"
    assert directory.get("H44.24.49") is None  # the original is unchanged
