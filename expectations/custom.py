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

from transforms.balance import (
    VALIDATION_FRAME_SCHEMA,
    find_violations_in_validation_frame,
)

METRIC = "table.report_rule_violations"


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
