"""The demo agency's report is one an office would publish: six parts, no placeholder left."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flows.demo.landing import AGENCY, DEMO_YEAR, NARRATIVE, build_demo_landing
from flows.io.ingest import ingest_and_compile
from flows.outputs.formats.markdown import to_markdown
from transforms.document import PART_HEADINGS, parse_narrative, report_document


def test_demo_narrative_fills_every_part_the_data_cannot_know(tmp_path: Path) -> None:
    landing = build_demo_landing(tmp_path / "landing")
    narrative = parse_narrative(NARRATIVE, "narrative/2024.md")
    cells, _ = ingest_and_compile(landing, DEMO_YEAR, dt.date(DEMO_YEAR + 1, 3, 1))

    document = report_document(
        {"agency_name": "重庆市綦江区城市管理局"},
        DEMO_YEAR,
        "final",
        "2024年1月1日至2024年12月31日",
        cells.filter(agency_id=AGENCY),
        None,
        narrative,
        2,
    )

    assert narrative.warnings == ()
    assert document.placeholders == ()
    text = to_markdown(document)
    assert all(heading in text for heading in PART_HEADINGS)
    assert "待填写" not in text
    assert "本报告电子版可在" in text  # the opening says where the report is and whom to ask
