"""Every format of every golden report reads back to exactly the cells it was built from.

For each golden scenario, each agency's document is rendered as report.html, report.docx and
report.xlsx and read back through its reader and ``cells_from_read``. The first agency's files
also go through ``nianbao check``'s own reading (path keys, registry channels), so what check
validates is what was published.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.handfilled import read_report_document, registry_or_none
from flows.io.ingest import ingest_and_compile
from flows.io.landing import LocalLanding
from flows.io.registry import load_registry
from flows.outputs.formats.docx import read_docx, to_docx
from flows.outputs.formats.html import read_html, to_html
from flows.outputs.formats.xlsx import read_xlsx, to_xlsx
from flows.settings import load_settings
from tests.helpers import GOLDEN, RUN_DATE, SCENARIOS, lay_landing, scenario_spec
from transforms.document import cells_from_read, final_report

FORMATS = {
    "report.html": (lambda doc: to_html(doc).encode(), read_html),
    "report.xlsx": (to_xlsx, read_xlsx),
    "report.docx": (to_docx, read_docx),
}
KEY = ["section", "row", "column", "value"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_format_of_every_golden_report_reads_back_to_its_cells(
    name: str, tmp_path: Path
) -> None:
    spec = scenario_spec(name)
    year = spec["year"]
    landing = lay_landing(GOLDEN / name, tmp_path / "landing", spec.get("deliveries", {}))
    cells, _ = ingest_and_compile(landing, year, RUN_DATE)
    agencies, _, _ = load_registry(LocalLanding(landing), None)
    assert not cells.is_empty()

    for number, agency in enumerate(agencies.iter_rows(named=True)):
        own = cells.filter(agency_id=agency["agency_id"])
        doc = final_report(agency["agency_id"], agency["name"], year, own, agency["fee_decimals"])
        for file, (render, read) in FORMATS.items():
            data = render(doc)
            read_back, problems = cells_from_read(read(data, f"{agency['agency_id']}/{file}"))
            assert problems == []
            assert_frame_equal(read_back, own.select(KEY))
            if number == 0:
                _assert_check_reads(tmp_path, landing, agency["agency_id"], year, file, data, own)


def _assert_check_reads(
    root: Path, landing: Path, agency_id: str, year: int, file: str, data: bytes, own
) -> None:
    """``nianbao check``'s reading of the file where it is published gives the same cells."""
    target = root / f"out/reports/year={year}/agency_id={agency_id}/{file}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    registry = registry_or_none(load_settings(landing=str(landing)))
    frame, problems = read_report_document(target, registry)
    assert problems == [], file
    assert frame["agency_id"].unique().to_list() == [agency_id]
    assert frame["year"].unique().to_list() == [year]
    assert_frame_equal(frame.select(KEY), own.select(KEY).cast({"value": frame["value"].dtype}))
    assert frame.filter(pl.col("value").is_null()).is_empty()
