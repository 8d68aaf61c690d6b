"""Digests of what each agency's report is made from, so that a run can tell a report that
stands as published (nothing it is made from changed) without drafting, rendering or reading it.

Two digests per agency: one of everything its document and W4 findings are made from (its
registry row, cells, last year's cells, narrative, quarantined rows, the period, status and
code), known before drafting; and one of its validation result (every violation found for it
and the checks run), known after the checks. Each is a SHA-256 of the agency's rows of each
part, every row as JSON in the order given: equal digests, equal inputs.
"""

from __future__ import annotations

import hashlib

import polars as pl

DIGESTS_SCHEMA = pl.Schema({"agency_id": pl.String(), "digest": pl.String()})

# Agencies whose rows are joined into text at once: bounds the text held to a few tens of MB
# (a report has a few hundred cells) at any number of agencies.
AGENCIES_AT_ONCE = 2_000


def rows_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """One text per agency (``agency_id``, ``text``): its rows in their order, each as a JSON
    object of the other columns, one a line (JSON escapes line ends: no row spills into the
    next)."""
    others = [c for c in frame.columns if c != "agency_id"]
    line = pl.struct(others).struct.json_encode() if others else pl.lit("{}")
    return (
        frame.select(pl.col("agency_id").cast(pl.String), line.alias("line"))
        .group_by("agency_id", maintain_order=True)
        .agg(text=pl.col("line").str.join("\n"))
    )


def agency_digests(
    agency_ids: list[str], parts: list[tuple[str, pl.DataFrame]], salt: str
) -> pl.DataFrame:
    """``DIGESTS_SCHEMA`` rows, one per agency: the SHA-256 of ``salt`` and, part by part in the
    order given, the part's name and the agency's rows of it (``rows_as_text``; an agency with
    no row in a part is told apart from one whose rows are empty)."""
    chunk_of = pl.DataFrame(
        {"agency_id": agency_ids}, schema={"agency_id": pl.String}
    ).with_columns(chunk=pl.int_range(pl.len(), dtype=pl.Int64) // AGENCIES_AT_ONCE)
    # Each part's rows split by chunk once (a filter per chunk would read them all each time).
    split = [
        frame.with_columns(pl.col("agency_id").cast(pl.String))
        .join(chunk_of, on="agency_id", maintain_order="left")
        .partition_by("chunk", as_dict=True, include_key=False)
        for _, frame in parts
    ]
    chunks = [pl.DataFrame(schema=DIGESTS_SCHEMA)]
    for (chunk,), ids in chunk_of.partition_by("chunk", as_dict=True).items():
        ids = ids.select("agency_id")
        texts = [pl.lit(salt)]
        for i, (name, frame) in enumerate(parts):
            rows = split[i].get(
                (chunk,), frame.clear().with_columns(pl.col("agency_id").cast(pl.String))
            )
            column = f"part{i}"
            ids = ids.join(
                rows_as_text(rows).rename({"text": column}),
                on="agency_id",
                how="left",
                maintain_order="left",
            )
            told = pl.lit(f"\x1d{name}\n") + pl.col(column)
            texts.append(told.fill_null(pl.lit(f"\x1d{name} (none)")))
        text = ids.select(pl.concat_str(texts).cast(pl.Binary))[:, 0]
        digests = [hashlib.sha256(t).hexdigest() for t in text]
        chunks.append(ids.select("agency_id", digest=pl.Series(digests, dtype=pl.String)))
    return pl.concat(chunks)
