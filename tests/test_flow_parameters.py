"""A flow run records its parameters as Prefect's own encoder would, without importing FastAPI
for the plain values nianbao's flows take."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path, PurePosixPath

from fastapi.encoders import jsonable_encoder
from prefect import Flow

from flows.compile import compile_reports
from flows.nightly import nightly_year_to_date
from flows.runtime import NianbaoFlow


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


PARAMETERS = {
    "year": 2024,
    "agencies": ["cq-a", "cq-b"],
    "landing": None,
    "out": "s3://bucket/published",
    "warehouse": Path("/tmp/warehouse"),
    "run_date": dt.date(2025, 1, 5),
    "started": dt.datetime(2025, 1, 5, 1, 2, 3, tzinfo=dt.UTC),
    "allow_empty": False,
    "ratio": 1.5,
    "nested": {"paths": (PurePosixPath("a/b"),), "when": [dt.date(2024, 12, 31)]},
}


def test_plain_parameters_are_recorded_as_fastapis_encoder_records_them() -> None:
    assert compile_reports.serialize_parameters(PARAMETERS) == {
        key: jsonable_encoder(value) for key, value in PARAMETERS.items()
    }


def test_other_parameters_are_left_to_prefect_in_their_place() -> None:
    given = {"year": 2024, "thing": Opaque(), "run_date": dt.date(2025, 1, 5)}
    recorded = nightly_year_to_date.serialize_parameters(given)
    assert list(recorded) == ["year", "thing", "run_date"]
    assert recorded["year"] == 2024 and recorded["run_date"] == "2025-01-05"
    assert recorded["thing"] == Flow.serialize_parameters(nightly_year_to_date, given)["thing"]


def test_both_flows_record_plain_parameters_without_importing_fastapi() -> None:
    assert isinstance(compile_reports, NianbaoFlow)
    assert isinstance(nightly_year_to_date, NianbaoFlow)
    script = (
        "import sys, datetime as dt\n"
        "from flows.compile import compile_reports\n"
        "compile_reports.serialize_parameters({'year': 2024, 'run_date': dt.date(2025, 1, 5),"
        " 'agencies': ['a']})\n"
        "print('fastapi' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
