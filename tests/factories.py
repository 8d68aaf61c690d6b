"""Small builders of normalized records, for tests of the pure transforms."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.sources import AGENCY_SCHEMA, SOURCES

DELIVERED = dt.datetime(2025, 1, 10, tzinfo=dt.UTC)


def records(source: str, rows: list[dict], agency_id: str = "ag-a") -> pl.LazyFrame:
    """Normalized records of ``source`` from dicts of its fields (lineage filled in)."""
    schema = SOURCES[source].record_schema
    full = [
        {"agency_id": agency_id, "file": "f.csv", "row": i + 2, "delivered_at": DELIVERED} | row
        for i, row in enumerate(rows)
    ]
    return pl.DataFrame(full, schema=schema).lazy()


def no_records() -> dict[str, pl.LazyFrame]:
    return {name: pl.LazyFrame(schema=s.record_schema) for name, s in SOURCES.items()}


def agencies(
    *ids: str, channels: tuple[str, ...] = ("政府网站",), rulemaking: bool = False
) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "agency_id": agency_id,
                "name": agency_id,
                "channels": list(channels),
                "has_rulemaking_power": rulemaking,
                "fee_decimals": 2,
            }
            for agency_id in ids
        ],
        schema=AGENCY_SCHEMA,
    )
