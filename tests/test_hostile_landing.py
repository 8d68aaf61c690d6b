"""Hostile and broken landing files (issue 8): nothing escapes the zone, nothing is lost silently,
nothing crashes. Each test builds its own small input."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from flows.io import landing as landing_module
from flows.io.landing import (
    LandingReadError,
    LocalLanding,
    ParsedFileCache,
    S3Landing,
    UnreadableFile,
    group_files,
    read_agencies_table,
    read_source,
    read_table,
    read_wechat,
)
from flows.io.store import LocalStore, S3Store
from tests.helpers import REGISTRY_HEADER, RUN_DATE
from transforms.normalize import normalize_source
from transforms.sources import SOURCES

FEES = SOURCES["fees"]
REQUESTS = SOURCES["requests"]
FEE_HEADER = "票据号,收费项目,缴款日期,金额（元）"
REGISTRY = REGISTRY_HEADER + "ag-a,甲局,,,政府网站,否,2\n"
CHANNELS = {"ag-a": ["政府网站"]}
BEIJING_NOON_2024 = 1717214400  # 2024-06-01 12:00 Asia/Shanghai


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _fees_csv(*rows: str, line_end: str = "\n") -> bytes:
    return line_end.join([FEE_HEADER, *rows]).encode() + line_end.encode()


def _hostile_zone(tmp_path: Path) -> Path:
    """A zone with a good fee file, links out of it, a link inside it, a fifo and a broken link."""
    root = tmp_path / "landing"
    outside = tmp_path / "outside"
    _write(outside / "secret.csv", _fees_csv("S1,复印费,2024-03-01,900000.00"))
    _write(outside / "folder" / "more.csv", _fees_csv("S2,复印费,2024-03-01,800000.00"))
    _write(root / "agencies.csv", REGISTRY)
    _write(root / "ag-a/fees/good.csv", _fees_csv("F1,复印费,2024-03-01,10000.00"))
    fees = root / "ag-a/fees"
    (fees / "secret.csv").symlink_to(outside / "secret.csv")
    (fees / "folder").symlink_to(outside / "folder", target_is_directory=True)
    (fees / "again.csv").symlink_to(fees / "good.csv")  # inside the zone: read like the file
    (fees / "escape.csv").symlink_to("../../../outside/secret.csv")
    (fees / "gone.csv").symlink_to(fees / "never-delivered.csv")
    os.mkfifo(fees / "pipe.csv")
    return root


def _reasons(problems: list[dict]) -> dict[str, str]:
    return {p["file"]: p["reason"] for p in problems}


# Item 4: symbolic links and entries that are not regular files.


def test_links_out_of_the_zone_fifos_and_broken_links_are_listed_as_skipped(tmp_path) -> None:
    zone = LocalLanding(_hostile_zone(tmp_path))

    by_source, problems = group_files(zone.files())

    assert [f.path for f in by_source["fees"]] == ["ag-a/fees/again.csv", "ag-a/fees/good.csv"]
    assert _reasons(problems) == {
        "ag-a/fees/escape.csv": "symbolic link to a place outside the landing zone: not read",
        "ag-a/fees/folder": "symbolic link to a place outside the landing zone: not read",
        "ag-a/fees/gone.csv": "symbolic link to nothing (broken): not read",
        "ag-a/fees/pipe.csv": "a named pipe (fifo), not a regular file: not read",
        "ag-a/fees/secret.csv": "symbolic link to a place outside the landing zone: not read",
    }
    assert {p["source"] for p in problems} == {"landing"}
    assert {p["agency_id"] for p in problems} == {"ag-a"}


def test_a_link_to_a_folder_inside_the_zone_is_not_followed(tmp_path) -> None:
    root = tmp_path / "landing"
    _write(root / "ag-a/fees/2024/a.csv", _fees_csv("F1,复印费,2024-03-01,1.00"))
    (root / "ag-a/fees/alias").symlink_to(root / "ag-a/fees/2024", target_is_directory=True)

    by_source, problems = group_files(LocalLanding(root).files())

    assert [f.path for f in by_source["fees"]] == ["ag-a/fees/2024/a.csv"]
    assert _reasons(problems) == {"ag-a/fees/alias": "symbolic link to a folder: not read"}


def test_read_bytes_refuses_what_resolves_outside_the_zone(tmp_path) -> None:
    zone = LocalLanding(_hostile_zone(tmp_path))

    for path in ("ag-a/fees/secret.csv", "ag-a/fees/folder/more.csv", "../outside/secret.csv"):
        with pytest.raises(LandingReadError, match="outside the landing zone"):
            zone.read_bytes(path)
    assert zone.read_bytes("ag-a/fees/again.csv") == zone.read_bytes("ag-a/fees/good.csv")


def test_read_source_never_reads_a_link_out_of_the_zone_even_if_asked(tmp_path) -> None:
    root = _hostile_zone(tmp_path)
    zone = LocalLanding(root)
    leaked = next(f for f in zone.files() if f.path == "ag-a/fees/secret.csv")

    read = read_source(zone, FEES, [leaked], CHANNELS)

    assert read.raw.is_empty() and read.inputs == []
    assert read.rejected["reason"].to_list() == [
        "cannot be read from the landing zone: "
        "ag-a/fees/secret.csv: resolves to a place outside the landing zone"
    ]


def test_a_registry_linked_out_of_the_zone_is_refused(tmp_path) -> None:
    root = tmp_path / "landing"
    _write(tmp_path / "elsewhere.csv", REGISTRY)
    root.mkdir()
    (root / "agencies.csv").symlink_to(tmp_path / "elsewhere.csv")

    with pytest.raises(ValueError, match=r"agencies\.csv cannot be read.*outside the landing zone"):
        read_agencies_table(LocalLanding(root))


# Item 6: line ends, and rows that cannot be split.


def test_a_fees_csv_with_lone_cr_line_ends_counts_every_row() -> None:
    data = _fees_csv(
        "F1,复印费,2024-03-01,10000.00",
        "F2,复印费,2024-03-02,20000.00",
        "F3,邮寄费,2024-03-03,3000.00",
        line_end="\r",
    )

    frame = read_table(data, ".csv", FEES.headers, FEES.required_headers)

    assert frame["票据号"].to_list() == ["F1", "F2", "F3"]
    assert frame["金额（元）"].to_list() == ["10000.00", "20000.00", "3000.00"]
    assert frame["row"].to_list() == [2, 3, 4]


def test_mixed_crlf_and_lone_cr_rows_are_all_split() -> None:
    data = (FEE_HEADER + "\r\nF1,复印费,2024-03-01,1.00\rF2,复印费,2024-03-02,2.00\n").encode()

    frame = read_table(data, ".csv", FEES.headers, FEES.required_headers)

    assert frame["金额（元）"].to_list() == ["1.00", "2.00"]


def test_a_row_with_more_values_than_the_header_is_quarantined_not_truncated(tmp_path) -> None:
    root = tmp_path / "landing"
    # An unquoted thousands separator splits 1,234.00 into two values.
    _write(
        root / "ag-a/fees/f.csv",
        _fees_csv(
            "F1,复印费,2024-03-01,5.00",
            "F2,复印费,2024-03-02,1,234.00",
            "F3,复印费,2024-03-03,6.00,",
        ),
    )
    zone = LocalLanding(root)

    read = read_source(zone, FEES, group_files(zone.files())[0]["fees"], CHANNELS)

    # A trailing separator (an empty extra value) is harmless; a real extra value is not.
    assert read.raw["票据号"].to_list() == ["F1", "F3"]
    assert read.rejected.select("file", "row", "value").to_dicts() == [
        {"file": "ag-a/fees/f.csv", "row": 3, "value": None}
    ]
    assert read.rejected["reason"][0].startswith("the row has more values than the header")
    assert read.rows_read == 3  # the quarantined row was read, and is counted as read


# Item 11: a workbook that asks for more cells than any landing file may have.


def _xlsx(cells: dict[tuple[int, int], str]) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer)
    sheet = workbook.add_worksheet()
    for (row, column), value in cells.items():
        sheet.write_string(row, column, value)
    workbook.close()
    return buffer.getvalue()


@pytest.mark.slow
def test_an_xlsx_with_a_cell_at_xfd1048576_is_rejected_before_it_is_loaded(tmp_path) -> None:
    hostile = _xlsx({(0, 0): "票据号", (1048575, 16383): "x"})
    assert len(hostile) < 8000
    path = _write(tmp_path / "hostile.xlsx", hostile)
    # In a child process: before the fix the reader aborts the whole process (exit 134).
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from flows.io.landing import UnreadableFile, read_table\n"
        "try:\n"
        "    read_table(Path(sys.argv[1]).read_bytes(), '.xlsx', ['票据号'], ['票据号'])\n"
        "except UnreadableFile as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        check=False,
    )

    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == (
        "a sheet reaches row 1,048,576 and column 16,384: "
        "more than the 10,000,000 cells a landing XLSX may span: not read"
    )


def test_an_xlsx_that_unpacks_beyond_the_bound_is_rejected(monkeypatch) -> None:
    workbook = _xlsx({(0, 0): "票据号", (1, 0): "F1"})
    assert read_table(workbook, ".xlsx", ["票据号"], ["票据号"])["票据号"].to_list() == ["F1"]
    monkeypatch.setattr(landing_module, "MAX_XLSX_UNPACKED_BYTES", 4096)

    with pytest.raises(UnreadableFile, match=r"unpacks to .* more than the 0 MiB"):
        read_table(workbook, ".xlsx", ["票据号"], ["票据号"])


def test_cells_without_references_are_bounded_by_their_number(monkeypatch) -> None:
    buffer = io.BytesIO()
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>票据号</t></is></c></row>'
        '<row r="900000">' + "<c/>" * 20 + "</row></sheetData></worksheet>"
    )
    template = io.BytesIO(_xlsx({(0, 0): "票据号"}))
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            part = source.read(info)
            target.writestr(info, sheet if info.filename.endswith("sheet1.xml") else part)
    monkeypatch.setattr(landing_module, "MAX_XLSX_CELLS", 1_000_000)

    with pytest.raises(UnreadableFile, match="reaches row 900,000 and column 21"):
        read_table(buffer.getvalue(), ".xlsx", ["票据号"], ["票据号"])


# Item 13: a landing file that cannot be read.


def test_an_unreadable_landing_file_is_rejected_by_name_and_the_others_are_read(
    tmp_path, monkeypatch
) -> None:
    root = tmp_path / "landing"
    _write(root / "ag-a/fees/bad.csv", _fees_csv("F1,复印费,2024-03-01,1.00"))
    _write(root / "ag-a/fees/good.csv", _fees_csv("F2,复印费,2024-03-01,2.00"))
    zone = LocalLanding(root)
    read_bytes = LocalLanding.read_bytes

    def failing(self, path: str) -> bytes:
        if path.endswith("bad.csv"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(root / path))
        return read_bytes(self, path)

    monkeypatch.setattr(LocalLanding, "read_bytes", failing)

    read = read_source(zone, FEES, group_files(zone.files())[0]["fees"], CHANNELS)

    assert read.raw["票据号"].to_list() == ["F2"]
    assert read.rejected.select("file", "row", "reason").to_dicts() == [
        {
            "file": "ag-a/fees/bad.csv",
            "row": None,
            "reason": "cannot be read from the landing zone: Input/output error",
        }
    ]
    assert [i.path for i in read.inputs] == ["ag-a/fees/good.csv"]


class _RefusingClient:
    """An S3 client that refuses one object, as a bucket policy would."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict:  # boto3's argument names
        from botocore.exceptions import ClientError

        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "AccessDenied"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}


def test_an_s3_object_refused_is_a_rejected_file() -> None:
    client = _RefusingClient({"landing/ag-a/fees/good.csv": _fees_csv("F2,复印费,2024-03-01,2.00")})
    zone = S3Landing(S3Store("s3://bucket/landing", client))
    when = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    files = [landing_module.LandingFile(f"ag-a/fees/{n}.csv", when, 10) for n in ("bad", "good")]

    read = read_source(zone, FEES, files, CHANNELS)

    assert read.raw["票据号"].to_list() == ["F2"]
    assert _reasons(read.rejected.to_dicts()) == {
        "ag-a/fees/bad.csv": "cannot be read from the landing zone: "
        "the object store refused to give it (AccessDenied)"
    }


# Item 14: a damaged parse cache.


@pytest.mark.parametrize("damage", [b"", b"PAR1 not a parquet file", "other columns"])
def test_a_damaged_parse_cache_entry_is_parsed_again(tmp_path, damage) -> None:
    root = tmp_path / "landing"
    _write(root / "ag-a/fees/f.csv", _fees_csv("F1,复印费,2024-03-01,1.00"))
    zone, store = LocalLanding(root), LocalStore(tmp_path / "warehouse")
    cache = ParsedFileCache(store, min_bytes=0)  # a file this small is cached too
    files = group_files(zone.files())[0]["fees"]
    first = read_source(zone, FEES, files, CHANNELS, cache)
    [entry] = list((tmp_path / "warehouse/parsed").rglob("*.parquet"))
    if damage == "other columns":
        pl.DataFrame({"row": [2], "x": ["y"]}).write_parquet(entry)
    else:
        entry.write_bytes(damage)

    again = read_source(zone, FEES, files, CHANNELS, cache)

    assert again.rejected.is_empty()
    assert again.raw.equals(first.raw)
    assert (
        pl.read_parquet(entry).columns
        == read_table(
            (root / "ag-a/fees/f.csv").read_bytes(), ".csv", FEES.headers, FEES.required_headers
        ).columns
    )


def test_only_files_worth_it_are_kept_in_the_parse_cache(tmp_path) -> None:
    root = tmp_path / "landing"
    _write(root / "ag-a/fees/small.csv", _fees_csv("F1,复印费,2024-03-01,1.00"))
    _write(root / "ag-a/fees/large.csv", _fees_csv("F2,复印费,2024-03-01,2.00"))
    small = root / "ag-a/fees/small.csv"
    small.write_bytes(small.read_bytes().rstrip())  # one byte smaller: no last line end
    threshold = (root / "ag-a/fees/large.csv").stat().st_size
    zone = LocalLanding(root)
    files = group_files(zone.files())[0]["fees"]
    cache = ParsedFileCache(LocalStore(tmp_path / "warehouse"), min_bytes=threshold)

    first = read_source(zone, FEES, files, CHANNELS, cache)
    again = read_source(zone, FEES, files, CHANNELS, cache)

    [entry] = list((tmp_path / "warehouse/parsed").rglob("*.parquet"))
    assert pl.read_parquet(entry)["票据号"].to_list() == ["F2"]  # the large file's rows only
    assert sorted(again.raw["票据号"]) == sorted(first.raw["票据号"]) == ["F1", "F2"]


# Item 19: personal data in reasons and quoted values.

_PEOPLE = (
    ("R2", "李四", "110101199001015678", "13900139000"),
    ("R3", "王五", "110101199001019999", "13700137000"),
)
_REQUEST_HEADER = "申请编号,收到日期,申请人类型,办结日期,办理结果,姓名,身份证号,电话"


def _requests_csv(first_key: str, closing: str = "") -> bytes:
    rows = ["R1,2024-01-02,自然人,2024-02-01,予以公开,张三,110101199001011234,13800138000"]
    rows += [f"{k},2024-01-03,自然人,2024-02-01,予以公开,{n},{i},{p}" for k, n, i, p in _PEOPLE]
    rows[1] = rows[1].replace("R2", first_key, 1)
    rows[-1] += closing
    return "\n".join([_REQUEST_HEADER, *rows, ""]).encode()


def _no_personal_data(frame: pl.DataFrame) -> None:
    text = json.dumps(frame.to_dicts(), ensure_ascii=False, default=str)
    for _, name, id_number, phone in _PEOPLE:
        assert name not in text and id_number not in text and phone not in text


def test_an_unclosed_quote_rejects_the_file_without_quoting_it(tmp_path) -> None:
    root = tmp_path / "landing"
    _write(root / "ag-a/requests/r.csv", _requests_csv('"R2'))
    zone = LocalLanding(root)

    read = read_source(zone, REQUESTS, group_files(zone.files())[0]["requests"], CHANNELS)

    assert read.raw.is_empty()
    assert read.rejected["reason"].to_list() == [
        "cannot be read as CSV: a quote is opened and never closed (or a stray quote)"
    ]
    _no_personal_data(read.rejected)


def test_a_quote_closed_rows_later_quarantines_that_row_without_its_text(tmp_path) -> None:
    root = tmp_path / "landing"
    _write(root / "ag-a/requests/r.csv", _requests_csv('"R2', closing='"'))
    zone = LocalLanding(root)

    read = read_source(zone, REQUESTS, group_files(zone.files())[0]["requests"], CHANNELS)
    records, quarantine = normalize_source(read.raw.lazy(), REQUESTS, RUN_DATE)
    quarantine = pl.concat([read.rejected, quarantine.collect()])

    assert records.collect()["request_id"].to_list() == ["R1"]
    assert quarantine.select("row", "value", "reason").to_dicts() == [
        {
            "row": 3,
            "value": None,
            "reason": "a quoted value runs across rows (a quote not closed where it should be): not read",
        }
    ]
    _no_personal_data(quarantine)
    _no_personal_data(read.raw)


def test_quoted_values_in_the_quarantine_are_capped() -> None:
    long_amount = "x" * 500
    raw = pl.DataFrame(
        {
            "row": [2],
            "票据号": ["F1"],
            "收费项目": ["复印费"],
            "缴款日期": ["2024-03-01"],
            "金额（元）": [long_amount + "元"],
        }
    ).with_columns(
        agency_id=pl.lit("ag-a"),
        file=pl.lit("f"),
        row=pl.col("row").cast(pl.UInt32),
        delivered_at=pl.lit(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
        delivery=pl.lit(0, pl.UInt32),
    )

    _, quarantine = normalize_source(raw.lazy(), FEES, RUN_DATE)
    [problem] = quarantine.collect().to_dicts()

    assert problem["value"] == "x" * 64 + "…"
    assert problem["reason"] == f"not an amount in 元 with at most two decimals: '{'x' * 64}…'"


# Item 9 (WeChat part): a null item.


def test_a_null_wechat_item_is_quarantined_and_later_rows_keep_their_numbers() -> None:
    article = {"create_time": BEIJING_NOON_2024, "news_item": [{"title": "t"}]}
    body = {
        "item": [
            {"article_id": "A", "content": article},
            None,
            {"article_id": "C", "content": article},
        ]
    }

    frame = read_wechat(json.dumps(body).encode(), "号")

    assert frame.select("row", "article_key", "row_problem").to_dicts() == [
        {"row": 1, "article_key": "A:0", "row_problem": None},
        {"row": 2, "article_key": None, "row_problem": "item is null: no article in it"},
        {"row": 3, "article_key": "C:0", "row_problem": None},
    ]


def test_wechat_json_errors_do_not_quote_the_body() -> None:
    with pytest.raises(UnreadableFile) as caught:
        read_wechat(b'{"item": [{"article_id": "\xe6\x9d\x8e\xe5\x9b\x9b 13900139000"', "号")

    assert "13900139000" not in str(caught.value)
    assert str(caught.value).startswith("not a freepublish/batchget response (invalid JSON")


# End to end: one compile over a hostile zone.


def _tree(root: Path, skip: set[str]) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in skip]
        for name in names:
            path = os.path.join(folder, name)
            found[path] = (
                os.readlink(path)
                if os.path.islink(path)
                else ("fifo" if not os.path.isfile(path) else Path(path).read_bytes())
            )
    return found


def test_compile_of_a_hostile_zone_counts_only_regular_files_inside_it(
    compile_landing, tmp_path, monkeypatch
) -> None:
    root = _hostile_zone(tmp_path)
    (root / "ag-a/fees/again.csv").unlink()
    _write(
        root / "ag-a/fees/old-mac.csv",
        _fees_csv(
            "M1,复印费,2024-04-01,20000.00",
            "M2,复印费,2024-04-02,3000.00",
            "M3,邮寄费,2024-04-03,500.00",
            line_end="\r",
        ),
    )
    _write(root / "ag-a/fees/eio.csv", _fees_csv("E1,复印费,2024-03-01,70000.00"))
    read_bytes = LocalLanding.read_bytes

    def failing(self, path: str) -> bytes:
        if path == "ag-a/fees/eio.csv":
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(root / path))
        return read_bytes(self, path)

    monkeypatch.setattr(LocalLanding, "read_bytes", failing)
    out, warehouse = tmp_path / "published", tmp_path / "warehouse"
    before = _tree(tmp_path, {str(out), str(warehouse)})

    result = compile_landing(root, 2024)

    fees = result.cells.filter(section="proactive", row="fees", agency_id="ag-a")
    assert fees["value"].cast(pl.String).to_list() == ["3.3500"]
    assert result.ok and any("agency_id=ag-a" in p for p in result.published)
    problems = result.quarantine.filter(pl.col("row").is_null())
    assert _reasons(problems.to_dicts()) == {
        "ag-a/fees/eio.csv": "cannot be read from the landing zone: Input/output error",
        "ag-a/fees/escape.csv": "symbolic link to a place outside the landing zone: not read",
        "ag-a/fees/folder": "symbolic link to a place outside the landing zone: not read",
        "ag-a/fees/gone.csv": "symbolic link to nothing (broken): not read",
        "ag-a/fees/pipe.csv": "a named pipe (fifo), not a regular file: not read",
        "ag-a/fees/secret.csv": "symbolic link to a place outside the landing zone: not read",
    }
    manifest = json.loads(Path(result.manifest_uri).read_text(encoding="utf-8"))
    assert sorted(i["path"] for i in manifest["inputs"]) == [
        "ag-a/fees/good.csv",
        "ag-a/fees/old-mac.csv",
        "agencies.csv",
    ]
    secret = (tmp_path / "outside/secret.csv").read_bytes()
    assert hashlib.sha256(secret).hexdigest() not in json.dumps(manifest)
    assert _tree(tmp_path, {str(out), str(warehouse)}) == before


def test_a_registry_row_with_more_values_than_the_header_stops_the_run(tmp_path) -> None:
    root = tmp_path / "landing"
    # An unquoted list of channels would shift 规章制定权 and 收费小数位 into the wrong columns.
    _write(root / "agencies.csv", REGISTRY + "ag-b,乙局,,,政府网站,政务微博,否,2\n")

    with pytest.raises(ValueError, match=r"agencies\.csv row 3: the row has more values"):
        read_agencies_table(LocalLanding(root))
