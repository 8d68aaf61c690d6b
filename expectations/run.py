"""Run the report suite on compiled cells and the record suites on records, and build Data Docs.

The suites are Great Expectations suites (``gx/expectations/``, written by ``build.py``), run by
the Polars engine (``polars_engine.py``), which tests prove gives Great Expectations' results.
Great Expectations itself is imported only to build the Data Docs pages (``build_data_docs``),
and by ``validate_reports_with_great_expectations``: importing it costs 3–4.5 s.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from expectations.build import REPORT_SUITE, load_suite
from expectations.polars_engine import validate_records, validate_report_frame
from transforms.balance import VIOLATION_SCHEMA
from transforms.rules import Level, level_of

DOCS_SITE = "nianbao"
ESCAPING_VIEW = {"module_name": "expectations.docs_view", "class_name": "EscapingPageView"}
OFFLINE_INDEX_VIEW = {"module_name": "expectations.docs_view", "class_name": "OfflineIndexPageView"}


@dataclass
class ReportValidation:
    """The outcome of the report suite over a batch of reports."""

    violations: pl.DataFrame  # VIOLATION_SCHEMA: one row per failing cell or rule, per agency
    expectations: list[dict]  # per expectation: type, kwargs, severity, success (whole batch)
    docs_files: dict[str, bytes]  # Data Docs site, relative path → content (empty if not built)
    # The validation frame the suite ran on: what Data Docs are built from, after the run.
    frame: pl.DataFrame | None = None


def _gx_context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # Great Expectations logs its housekeeping (temporary folders) at INFO, one module forcing it.
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)

    import expectations.custom  # noqa: F401  (registers expect_report_rule_to_hold first)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return gx, context


def _severity(result) -> str:
    return level_of(str(result.expectation_config.severity.value))


def _blocking_checks_pass(validation) -> bool:
    """Whether every check that refuses a report passed (warnings do not)."""
    return all(r.success for r in validation.results if _severity(r) == Level.ERROR)


def _rule_name(kind: str, kwargs: dict) -> str:
    if kind == "expect_report_rule_to_hold":
        return kwargs["rule_id"]
    target = kwargs.get("column") or ",".join(kwargs.get("column_list", []))
    return f"{kind.removeprefix('expect_')}({target})"


def _violations_of(result, frame: pl.DataFrame) -> list[dict]:
    """A failed Great Expectations result as violation rows naming agency and cells."""
    config = result.expectation_config
    details = result.result.get("details") or {}
    return _violation_rows(
        config.type,
        config.kwargs,
        _severity(result),
        frame,
        violations=details.get("violations"),
        rows=result.result.get("unexpected_index_list") or [],
        error=str(result.exception_info),
    )


def _violation_rows(
    kind: str,
    kwargs: dict,
    severity: str,
    frame: pl.DataFrame,
    *,
    violations: list[dict] | None,
    rows: list[int],
    error: str,
) -> list[dict]:
    """A failed expectation as violation rows, whichever engine ran it: a report rule's own
    violations, else the unexpected rows' cells, else the error that stopped it."""
    rule = _rule_name(kind, kwargs)
    if violations is not None:
        return [v | {"rule": rule, "severity": severity} for v in violations]
    if not rows:  # an expectation that failed with an error rather than on data
        message = error[:300]
        return [
            {
                "agency_id": None,
                "rule": rule,
                "severity": severity,
                "cells": "*",
                "expected": "the expectation to run",
                "actual": message,
            }
        ]
    hit = frame[rows]
    return [
        {
            "agency_id": r["agency_id"],
            "rule": rule,
            "severity": severity,
            "cells": f"{r['section']}/{r['row']}/{r['column']}",
            "expected": str(kwargs.get("value_set") or kwargs.get("min_value", "valid")),
            "actual": "blank" if r["value"] is None else str(r["value"]),
        }
        for r in hit.iter_rows(named=True)
    ]


def validate_reports(frame: pl.DataFrame, build_docs: bool = True) -> ReportValidation:
    """Run the report suite on a validation frame (``transforms.balance.validation_frame``) with
    the Polars engine; with ``build_docs``, also build its Data Docs (Great Expectations)."""
    results = validate_report_frame(frame, load_suite(REPORT_SUITE))
    violations = [
        v
        for r in results
        if not r["success"]
        for v in _violation_rows(
            r["type"],
            r["kwargs"],
            level_of(r["severity"]),
            frame,
            violations=r.get("violations"),
            rows=r.get("unexpected_rows") or [],
            error=r.get("error", ""),
        )
    ]
    summary = [
        {
            "rule": _rule_name(r["type"], r["kwargs"]),
            "type": r["type"],
            "kwargs": r["kwargs"],
            "severity": level_of(r["severity"]),
            "success": r["success"],
        }
        for r in results
    ]
    docs = build_data_docs(frame) if build_docs else {}
    return ReportValidation(pl.DataFrame(violations, schema=VIOLATION_SCHEMA), summary, docs, frame)


def build_data_docs(frame: pl.DataFrame) -> dict[str, bytes]:
    """The Data Docs site of the report suite run on ``frame``: relative path → content.

    The pages are Great Expectations' own, so Great Expectations runs the suite here again on
    the same frame (tests prove it finds what the Polars engine found).
    """
    return validate_reports_with_great_expectations(frame, build_docs=True).docs_files


def validate_reports_with_great_expectations(
    frame: pl.DataFrame, build_docs: bool = False
) -> ReportValidation:
    """The report suite run by Great Expectations itself (seconds to import)."""
    gx, context = _gx_context()
    suite = context.suites.add(gx.ExpectationSuite(**load_suite(REPORT_SUITE)))
    batch_definition = (
        context.data_sources.add_pandas("reports")
        .add_dataframe_asset("report_cells")
        .add_batch_definition_whole_dataframe("all")
    )
    parameters = {"dataframe": frame.to_pandas()}
    result_format = {"result_format": "COMPLETE"}
    docs: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="nianbao-docs-") as docs_dir:
        if build_docs:
            from expectations.docs_view import STATIC_ASSETS  # imports Great Expectations

            context.add_data_docs_site(
                DOCS_SITE,
                {
                    "class_name": "SiteBuilder",
                    "site_index_builder": {
                        "class_name": "DefaultSiteIndexBuilder",
                        "view": OFFLINE_INDEX_VIEW,
                    },
                    # Its buttons and pop-up link to Great Expectations' website.
                    "show_how_to_buttons": False,
                    # Pages show registry names and hand-filled values: print them as text.
                    "site_section_builders": {
                        section: {"view": ESCAPING_VIEW}
                        for section in ("expectations", "validations")
                    },
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": docs_dir,
                    },
                },
            )
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name="report-suite", data=batch_definition, suite=suite)
            )
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name="publish-gate",
                    validation_definitions=[definition],
                    result_format=result_format,
                )
            )
            run = checkpoint.run(batch_parameters=parameters)
            ((key, validation),) = run.run_results.items()
            # The pages and the index show a run as failed when any expectation failed, warnings
            # included: they show what gates publication instead, stored before the site is built.
            validation.success = _blocking_checks_pass(validation)
            context.validation_results_store.set(key, validation)
            context.build_data_docs(site_names=[DOCS_SITE])
            shutil.copytree(STATIC_ASSETS, Path(docs_dir, "static"), dirs_exist_ok=True)
            docs = {
                p.relative_to(docs_dir).as_posix(): p.read_bytes()
                for p in Path(docs_dir).rglob("*")
                if p.is_file()
            }
        else:
            batch = batch_definition.get_batch(batch_parameters=parameters)
            validation = batch.validate(suite, result_format=result_format)
    violations = [v for r in validation.results if not r.success for v in _violations_of(r, frame)]
    summary = [
        {
            "rule": _rule_name(r.expectation_config.type, r.expectation_config.kwargs),
            "type": r.expectation_config.type,
            "kwargs": {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
            "severity": _severity(r),
            "success": r.success,
        }
        for r in validation.results
    ]
    return ReportValidation(pl.DataFrame(violations, schema=VIOLATION_SCHEMA), summary, docs, frame)


def validate_source_records(records: pl.DataFrame, source: str, run_date: dt.date) -> list[dict]:
    """The record suite of one source, run with the Polars engine."""
    return validate_records(
        records.lazy(), load_suite(f"records.{source}"), {"run_date": f"{run_date}T00:00:00"}
    )
