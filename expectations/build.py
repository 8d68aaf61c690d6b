"""Write the suites in ``expectations/suites/`` from the schemas and rules they check.

    uv run python -m expectations.build

The JSON files are committed and reviewed; a test fails when they drift from what this writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from transforms.balance import BALANCE_RULES
from transforms.cells import MONEY_ROWS, SECTIONS
from transforms.rules import EARLIEST_PLAUSIBLE_DATE, Level, record_rules
from transforms.sources import SOURCES, Kind, Source

# The suites live where a Great Expectations file context keeps them (expectations/gx), so
# engineers can open it with `gx.get_context(mode="file", project_root_dir="expectations")`.
SUITES_DIR = Path(__file__).parent / "gx" / "expectations"
REPORT_SUITE = "report"
# Date bounds carry a time of day: Great Expectations compares them with pandas timestamps.
EARLIEST_DATE = f"{EARLIEST_PLAUSIBLE_DATE.isoformat()}T00:00:00"
# A single fee payment beyond these is most likely a typing error (元 typed as 分, an extra zero),
# but could be a real one: a warning, not a refusal. Impossible amounts (10^12 元 or more) never
# get this far: the normalizer quarantines them.
FEE_BOUNDS_FEN = (-1_000_000_000, 10_000_000_000)  # −1,000 万元 … 10,000 万元


def _expectation(kind: str, level: Level = Level.ERROR, note: str = "", **kwargs: object) -> dict:
    entry: dict = {"type": kind, "kwargs": kwargs, "meta": {}, "severity": level.gx}
    if note:
        entry["meta"]["notes"] = note
    return entry


def report_suite() -> dict:
    """Checks of one compiled (or hand-filled) report, in the cell schema."""
    key = ["agency_id", "section", "row", "column"]
    # A row_condition holds one comparison: it can leave out one money row, and fails loudly here
    # should the dictionary ever have two.
    ((_, money_row),) = MONEY_ROWS
    expectations = [
        _expectation(
            "expect_compound_columns_to_be_unique", column_list=key, note="B7/C1: every cell once"
        ),
        _expectation(
            "expect_column_values_to_be_in_set", column="section", value_set=list(SECTIONS)
        ),
        _expectation(
            "expect_column_values_to_be_between",
            column="value",
            min_value=0,
            row_condition={
                "type": "comparison",
                "column": {"name": "row"},
                "operator": "!=",
                "parameter": money_row,
            },
            note="B7: counts are non-negative",
        ),
    ]
    expectations += [
        _expectation(
            "expect_report_rule_to_hold",
            level=rule.level,
            note=" ".join(rule.description.split()),
            rule_id=rule.id,
        )
        for rule in BALANCE_RULES
    ]
    return {"name": REPORT_SUITE, "expectations": expectations, "meta": {}, "notes": None}


def record_suite(source: Source) -> dict:
    """Checks of one source's normalized records (what the run read, after de-duplication)."""
    expectations = [
        _expectation(
            "expect_compound_columns_to_be_unique", column_list=["agency_id", *source.identity]
        ),
        _expectation("expect_column_values_to_not_be_null", column="agency_id"),
    ]
    for f in source.fields:
        if f.value_required or f.kind in {Kind.KEY, Kind.FLAG}:
            expectations.append(_expectation("expect_column_values_to_not_be_null", column=f.name))
        if f.kind is Kind.CATEGORY:
            values = list(dict.fromkeys(f.categories.values()))
            expectations.append(
                _expectation("expect_column_values_to_be_in_set", column=f.name, value_set=values)
            )
        if f.kind in {Kind.DATE, Kind.UNIX_TIME}:
            expectations.append(
                # A plausibility bound, so a warning: the normalizer already quarantines rows
                # dated after the run or before 1990; this re-checks what reached the records.
                _expectation(
                    "expect_column_values_to_be_between",
                    level=Level.WARNING,
                    column=f.name,
                    min_value=EARLIEST_DATE,
                    max_value={"$PARAMETER": "run_date"},
                    note="plausible: not after the run, not before 1990",
                )
            )
        if f.kind is Kind.YUAN:
            low, high = FEE_BOUNDS_FEN
            expectations.append(
                _expectation(
                    "expect_column_values_to_be_between",
                    column=f.name,
                    level=Level.WARNING,
                    min_value=low,
                    max_value=high,
                    note="fee amount within sane bounds (分)",
                )
            )
    # The record rules with a suite form: the normalizer quarantines rows that break them, and
    # this re-checks what reached the records (the same declarations, transforms/rules.py).
    for rule in record_rules(source.name):
        if rule.pair is None:
            continue
        later, earlier = rule.pair
        expectations.append(
            _expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                level=rule.level,
                column_A=later,
                column_B=earlier,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        )
    return {
        "name": f"records.{source.name}",
        "expectations": expectations,
        "meta": {},
        "notes": None,
    }


def all_suites() -> dict[str, dict]:
    suites = {REPORT_SUITE: report_suite()}
    suites |= {f"records.{name}": record_suite(source) for name, source in SOURCES.items()}
    return suites


def suite_json(suite: dict) -> str:
    return json.dumps(suite, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def suite_path(name: str) -> Path:
    """Where a file context keeps a suite: a dot in the name is a folder (records.fees → records/fees.json)."""
    return SUITES_DIR / f"{name.replace('.', '/')}.json"


def load_suite(name: str) -> dict:
    return json.loads(suite_path(name).read_text(encoding="utf-8"))


def main() -> None:
    for name, suite in all_suites().items():
        path = suite_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(suite_json(suite), encoding="utf-8")
        print(f"wrote {path} ({len(suite['expectations'])} expectations)")


if __name__ == "__main__":
    main()
