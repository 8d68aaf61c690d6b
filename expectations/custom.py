"""Custom Great Expectations: the report rules of ``transforms.balance``, run inside a suite.

Import this module before a suite that names ``expect_report_rule_to_hold`` is loaded: Great
Expectations silently drops expectations whose class it does not know.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider
from great_expectations.render import (
    LegacyDiagnosticRendererType,
    LegacyRendererType,
    RenderedStringTemplateContent,
    RenderedTableContent,
)
from great_expectations.render.renderer.renderer import renderer

from transforms.balance import (
    RULES_BY_ID,
    VALIDATION_FRAME_SCHEMA,
    find_violations_in_validation_frame,
)

METRIC = "table.report_rule_violations"
# The violations a validation page lists for one rule; all of them stay in the result and manifest.
SHOWN_VIOLATIONS = 200
VIOLATION_HEADER = ["机关 agency", "单元格 cells", "应为 expected", "实为 actual"]


def _text(
    template: str, classes: list[str] | None = None, **params: object
) -> RenderedStringTemplateContent:
    return RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={
            "template": template,
            "params": params,
            "styling": {"classes": classes or []},
        },
    )


def _is_warning(configuration) -> bool:
    return configuration is not None and str(configuration.severity.value) == "warning"


class TableReportRuleViolations(TableMetricProvider):
    """The violations of one rule (by id) over the whole batch: a list of dicts."""

    metric_name = METRIC
    value_keys = ("rule_id",)

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        execution_engine,
        metric_domain_kwargs,
        metric_value_kwargs,
        metrics,
        runtime_configuration,
    ):
        batch, _, _ = execution_engine.get_compute_domain(
            domain_kwargs=metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
        )
        frame = (
            pl.from_pandas(batch)
            .select(VALIDATION_FRAME_SCHEMA.names())
            .cast(VALIDATION_FRAME_SCHEMA)
        )
        return find_violations_in_validation_frame(frame, metric_value_kwargs["rule_id"]).to_dicts()


class ExpectReportRuleToHold(BatchExpectation):
    """A balancing rule (勾稽关系) of the statutory report holds for every agency in the batch."""

    rule_id: str

    metric_dependencies: ClassVar[tuple[str, ...]] = (METRIC, "table.row_count")
    success_keys: ClassVar[tuple[str, ...]] = ("rule_id",)
    args_keys: ClassVar[tuple[str, ...]] = ("rule_id",)

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        violations = metrics[METRIC]
        rows = metrics["table.row_count"]
        return {
            "success": not violations,
            "result": {
                "observed_value": len(violations),
                # Data Docs needs these two whenever something is unexpected.
                "element_count": rows,
                "unexpected_count": len(violations),
                "unexpected_percent": 100.0 * len(violations) / rows if rows else 0.0,
                "partial_unexpected_list": violations[:20],
                "details": {"rule_id": self.rule_id, "violations": violations},
            },
        }

    # How Data Docs show the rule: in words, with the violations of a failed rule as a table. The
    # values are registry names and hand-filled text: they stay plain strings, which the pages'
    # view (expectations/docs_view.py) escapes.

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration=None, result=None, runtime_configuration=None):
        configuration = configuration or (result.expectation_config if result else None)
        rule_id = configuration.kwargs.get("rule_id") if configuration else None
        rule = RULES_BY_ID.get(rule_id)
        statement = rule.statement if rule else f"report rule {rule_id} holds"
        level = (
            "warning: published anyway"
            if _is_warning(configuration)
            else "error: refuses the report"
        )
        return [_text("$statement ($level)", statement=statement, level=level)]

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.STATUS_ICON)
    def _diagnostic_status_icon_renderer(
        cls, configuration=None, result=None, runtime_configuration=None
    ):
        if result is not None and not result.success and _is_warning(result.expectation_config):
            return RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={
                    "template": "$icon",
                    "params": {"icon": "", "markdown_status_icon": "⚠️"},
                    "styling": {
                        "params": {
                            "icon": {
                                "tag": "i",
                                "classes": ["fas", "fa-exclamation-triangle", "text-warning"],
                            }
                        }
                    },
                },
            )
        return super()._diagnostic_status_icon_renderer(
            configuration=configuration, result=result, runtime_configuration=runtime_configuration
        )

    @classmethod
    def _violations(cls, result) -> list[dict]:
        if result is None or not result.result:
            return []
        return (result.result.get("details") or {}).get("violations") or []

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.UNEXPECTED_STATEMENT)
    def _diagnostic_unexpected_statement_renderer(
        cls, configuration=None, result=None, runtime_configuration=None
    ):
        violations = cls._violations(result)
        if not violations:  # passed, or the rule raised: Great Expectations shows the exception
            return super()._diagnostic_unexpected_statement_renderer(
                configuration=configuration,
                result=result,
                runtime_configuration=runtime_configuration,
            )
        shown = min(len(violations), SHOWN_VIOLATIONS)
        note = (
            ""
            if shown == len(violations)
            else f" (the first {shown} shown; all are in result.json)"
        )
        classes = ["text-warning" if _is_warning(result.expectation_config) else "text-danger"]
        return [_text("\n\nWhere it does not hold$note:", classes, note=note)]

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.UNEXPECTED_TABLE)
    def _diagnostic_unexpected_table_renderer(
        cls, configuration=None, result=None, runtime_configuration=None
    ):
        violations = cls._violations(result)
        if not violations:
            return None
        rows = [
            [
                "" if v.get(k) is None else str(v[k])
                for k in ("agency_id", "cells", "expected", "actual")
            ]
            for v in violations[:SHOWN_VIOLATIONS]
        ]
        return [
            RenderedTableContent(
                content_block_type="table",
                table=rows,
                header_row=VIOLATION_HEADER,
                styling={"body": {"classes": ["table-bordered", "table-sm", "mt-3"]}},
            )
        ]

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls, configuration=None, result=None, runtime_configuration=None
    ):
        if result is None or result.result is None or "observed_value" not in result.result:
            return "--"
        return f"{result.result['observed_value']} violations"
