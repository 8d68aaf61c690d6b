"""The suites: committed as reviewed JSON, loadable by Great Expectations, and the Polars record
engine means what Great Expectations means."""

from __future__ import annotations

import datetime as dt
import os

import polars as pl
import pytest

from expectations.build import SUITES_DIR, all_suites, load_suite, suite_json, suite_path
from expectations.polars_engine import validate_records
from tests.factories import records
from tests.helpers import RUN_DATE


def test_committed_suites_are_what_the_builder_writes() -> None:
    for name, suite in all_suites().items():
        committed = suite_path(name).read_text(encoding="utf-8")
        assert committed == suite_json(suite), (
            f"{name}.json is stale: run python -m expectations.build"
        )


def test_the_file_context_loads_every_suite_with_every_expectation(tmp_path) -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import shutil

    import great_expectations as gx

    import expectations.custom  # noqa: F401  (without it the rule expectations vanish silently)

    project = tmp_path / "expectations"
    shutil.copytree(SUITES_DIR.parent, project / "gx")
    context = gx.get_context(mode="file", project_root_dir=project)
    for name in all_suites():
        loaded = context.suites.get(name)
        assert len(loaded.expectations) == len(load_suite(name)["expectations"]), name


def _requests(**changes) -> pl.LazyFrame:
    base = {
        "request_id": "R1",
        "received_on": dt.date(2024, 3, 1),
        "applicant_type": "natural_person",
        "concluded_on": dt.date(2024, 3, 9),
        "result": "disclosed",
        "reasons": None,
    }
    other = base | {"request_id": "R2"}
    return records("requests", [base | changes, other])


def _failed(frame: pl.LazyFrame, source: str = "requests") -> set[str]:
    results = validate_records(
        frame, load_suite(f"records.{source}"), {"run_date": f"{RUN_DATE}T00:00:00"}
    )
    return {
        f"{r['type']}:{r['kwargs'].get('column') or r['kwargs'].get('column_A') or ''}"
        for r in results
        if not r["success"]
    }


def test_clean_records_pass_their_suite() -> None:
    assert _failed(_requests()) == set()


@pytest.mark.parametrize(
    ("changes", "expectation"),
    [
        pytest.param(
            {"request_id": "R2"}, "expect_compound_columns_to_be_unique:", id="duplicate-key"
        ),
        pytest.param(
            {"received_on": None},
            "expect_column_values_to_not_be_null:received_on",
            id="missing-date",
        ),
        pytest.param(
            {"received_on": dt.date(2027, 1, 1), "concluded_on": None, "result": None},
            "expect_column_values_to_be_between:received_on",
            id="after-run-date",
        ),
        pytest.param(
            {"received_on": dt.date(1989, 1, 1)},
            "expect_column_values_to_be_between:received_on",
            id="before-1990",
        ),
        pytest.param(
            {"concluded_on": dt.date(2024, 2, 1)},
            "expect_column_pair_values_a_to_be_greater_than_b:concluded_on",
            id="concluded-before-received",
        ),
    ],
)
def test_each_record_expectation_catches_its_error(changes: dict, expectation: str) -> None:
    assert expectation in _failed(_requests(**changes))


def test_fee_amounts_out_of_bounds_fail() -> None:
    fees = records(
        "fees", [{"receipt_no": "F1", "paid_on": dt.date(2024, 1, 1), "amount_fen": 10**12}]
    )
    assert "expect_column_values_to_be_between:amount_fen" in _failed(fees, "fees")


def test_unknown_category_fails() -> None:
    bad = pl.DataFrame({"agency_id": ["a"], "request_id": ["R"], "result": ["lost"]}).lazy()
    suite = {
        "expectations": [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "result", "value_set": ["disclosed"]},
            }
        ]
    }
    assert validate_records(bad, suite)[0]["unexpected_count"] == 1


def test_polars_engine_agrees_with_great_expectations() -> None:
    """Same suite, same records: the same expectations fail, with the same unexpected counts."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    frame = pl.concat(
        [
            _requests(request_id="R2").collect(),  # duplicate key
            _requests(concluded_on=dt.date(2024, 1, 1)).collect(),  # concluded before received
            _requests(
                request_id="R9", received_on=dt.date(2027, 5, 1), concluded_on=None, result=None
            ).collect(),
        ]
    )
    suite = load_suite("records.requests")
    ours = validate_records(frame.lazy(), suite, {"run_date": f"{RUN_DATE}T00:00:00"})

    context = gx.get_context(mode="ephemeral")
    gx_suite = gx.ExpectationSuite(**suite)
    batch = (
        context.data_sources.add_pandas("p")
        .add_dataframe_asset("a")
        .add_batch_definition_whole_dataframe("b")
        .get_batch(
            batch_parameters={
                "dataframe": frame.with_columns(pl.col(pl.Enum).cast(pl.String)).to_pandas()
            }
        )
    )
    theirs = batch.validate(gx_suite, expectation_parameters={"run_date": f"{RUN_DATE}T00:00:00"})

    def key(kind: str, kwargs: dict) -> str:
        return (
            f"{kind}:{kwargs.get('column') or kwargs.get('column_A') or kwargs.get('column_list')}"
        )

    gx_results = {
        key(r.expectation_config.type, r.expectation_config.kwargs): r for r in theirs.results
    }
    assert len(gx_results) == len(ours)
    for result in ours:
        theirs_one = gx_results[key(result["type"], result["kwargs"])]
        assert theirs_one.success == result["success"], (
            result["type"],
            theirs_one.result,
            theirs_one.exception_info,
        )
        if not result["success"]:
            assert theirs_one.result.get("unexpected_count") == result["unexpected_count"], (
                result["type"],
                theirs_one.result,
                str(theirs_one.exception_info)[:500],
            )
