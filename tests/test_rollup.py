"""Roll-ups along 上级机关: each parent's cells are the sum of its members' and balance by construction."""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.balance import RULES_BY_ID
from transforms.cells import (
    CELL_KEY,
    FEES_COLUMN,
    FEES_ROW,
    OUTCOME_ROW_KEYS,
    channel_name,
    is_money,
    report_skeleton,
)
from transforms.counting import round_fen_to_10k_yuan
from transforms.errors import InputError
from transforms.report import REPORT_CELLS_SCHEMA, add_totals
from transforms.rollup import (
    ROLLUP_CELLS_SCHEMA,
    exact_fee_fen,
    member_pairs,
    rollup_cells,
    unknown_parents,
)
from transforms.sources import AGENCY_SCHEMA

CHANNEL_POOL = ("政府网站", "甲号", "乙号", "丙号")
ROLLUP_RULES = ("B1", "B2", "B3", "B4", "B7", "B8", "C1")


def registry(rows: list[tuple[str, str | None, list[str], int]]) -> pl.DataFrame:
    """(agency_id, parent_id, channels, fee_decimals) → an agencies frame."""
    return pl.DataFrame(
        [
            {
                "agency_id": agency_id,
                "name": f"{agency_id}机关",
                "parent_id": parent,
                "channels": channels,
                "has_rulemaking_power": True,
                "fee_decimals": decimals,
            }
            for agency_id, parent, channels, decimals in rows
        ],
        schema=AGENCY_SCHEMA,
    )


def _is_total() -> pl.Expr:
    section, row, column = pl.col("section"), pl.col("row"), pl.col("column")
    return (
        ((section == "channels") & (row == "total"))
        | ((section == "requests") & ((row == "outcome_total") | (column == "total")))
        | ((section == "appeals") & (column == "total"))
    )


def _balance_carry_over(counts: pl.DataFrame) -> pl.DataFrame:
    """B1 per applicant column: the year's outcomes plus what is carried on came in as this
    year's new requests plus last year's carried-over, split at the random carried-over."""
    requests = pl.col("section") == "requests"
    handled = (
        counts.filter(requests & pl.col("row").is_in([*OUTCOME_ROW_KEYS, "carried_to_next_year"]))
        .group_by("agency_id", "column")
        .agg(handled=pl.col("value").sum())
    )
    split = counts.join(handled, on=["agency_id", "column"], how="left").with_columns(
        carried=pl.min_horizontal(
            pl.col("value").filter(pl.col("row") == "carried_over_from_last_year").first(),
            pl.col("handled"),
        ).over("agency_id", "column")
    )
    row = pl.col("row")
    return split.with_columns(
        value=pl.when(requests & (row == "carried_over_from_last_year"))
        .then("carried")
        .when(requests & (row == "new_received"))
        .then(pl.col("handled") - pl.col("carried"))
        .otherwise("value")
    ).select(counts.columns)


def balanced_cells(agencies: pl.DataFrame, rng: random.Random, fen: dict[str, int]) -> pl.DataFrame:
    """Each agency's full report: random counts, totals added as compiling adds them, and its
    fee rounded from ``fen`` at its own precision."""
    skeleton = report_skeleton(agencies)
    parts = skeleton.filter(~_is_total() & ~is_money())
    counts = parts.with_columns(
        value=pl.Series([rng.randrange(0, 50) for _ in range(parts.height)]).cast(pl.Decimal(18, 4))
    ).select("agency_id", *CELL_KEY, "value")
    counts = _balance_carry_over(counts)
    fees = (
        agencies.select("agency_id", "fee_decimals")
        .join(
            pl.DataFrame(
                {"agency_id": list(fen), "fen": list(fen.values())},
                schema={"agency_id": pl.String, "fen": pl.Int64},
            ),
            on="agency_id",
        )
        .select(
            "agency_id",
            section=pl.lit("proactive"),
            row=pl.lit(FEES_ROW),
            column=pl.lit(FEES_COLUMN),
            value=round_fen_to_10k_yuan(pl.col("fen"), pl.col("fee_decimals")),
        )
    )
    valued = add_totals(pl.concat([counts.lazy(), fees.lazy()])).collect()
    key = ["agency_id", *CELL_KEY]
    return (
        skeleton.join(valued, on=key, how="left", maintain_order="left")
        .with_columns(pl.col("value").fill_null(0))
        .select(REPORT_CELLS_SCHEMA.names())
        .cast(REPORT_CELLS_SCHEMA)
    )


@st.composite
def hierarchies(draw) -> list[tuple[str, str | None, list[str], int]]:
    """A city, 1–3 districts, each with 0–3 departments: random channels and fee precision."""

    def agency(agency_id: str, parent: str | None) -> tuple[str, str | None, list[str], int]:
        channels = draw(
            st.lists(st.sampled_from(CHANNEL_POOL), min_size=1, max_size=3, unique=True)
        )
        return agency_id, parent, channels, draw(st.integers(0, 4))

    rows = [agency("city", None)]
    for d in range(draw(st.integers(1, 3))):
        rows.append(agency(f"d{d}", "city"))
        rows += [agency(f"d{d}-p{p}", f"d{d}") for p in range(draw(st.integers(0, 3)))]
    return rows


def descendants(rows: list[tuple[str, str | None, list[str], int]], parent: str) -> set[str]:
    """The oracle: the parent and everything below it, walked in plain Python."""
    below = {parent}
    for agency_id, up, _, _ in rows:
        if up == parent:
            below |= descendants(rows, agency_id)
    return below


def rules_broken(rollups: pl.DataFrame, rules: tuple[str, ...] = ROLLUP_RULES) -> dict:
    """The roll-ups checked as reports whose registry channels are the ones they show."""
    channels = (
        rollups.filter((pl.col("section") == "channels") & (pl.col("row") != "total"))
        .group_by("agency_id")
        .agg(channels=pl.col("row").map_elements(channel_name, return_dtype=pl.String))
    )
    parents = rollups.select("agency_id").unique()
    agencies = parents.join(channels, on="agency_id", how="left").with_columns(
        pl.col("channels").fill_null(pl.lit([], pl.List(pl.String))),
        has_rulemaking_power=pl.lit(True),
    )
    cells = rollups.drop("members", "missing").lazy()
    found = {
        rule: RULES_BY_ID[rule].find_violations(cells, agencies=agencies.lazy()).collect()
        for rule in rules
    }
    return {rule: v for rule, v in found.items() if v.height}


def _half_up(fen: int, decimals: int) -> Decimal:
    return (Decimal(fen) / 1_000_000).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=hierarchies(), rng=st.randoms(use_true_random=False), data=st.data())
def test_every_rollup_is_the_sum_of_its_members_and_balances(rows, rng, data) -> None:
    agencies = registry(rows)
    ids = [r[0] for r in rows]
    absent = set(data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=2)))
    reporting = [i for i in ids if i not in absent]
    fen = {i: rng.randrange(-2_000_000, 900_000_000) for i in reporting}
    # Half the members kept their exact 分 (compiled); the others only have rounded 万元.
    exact = {i: f for i, f in fen.items() if rng.random() < 0.5}
    cells = balanced_cells(agencies.filter(pl.col("agency_id").is_in(reporting)), rng, fen)
    fee_fen = pl.DataFrame(
        {"agency_id": list(exact), "fen": list(exact.values())},
        schema={"agency_id": pl.String, "fen": pl.Int64},
    )

    members_broken = {
        rule: RULES_BY_ID[rule].find_violations(cells.lazy(), agencies=agencies.lazy()).collect()
        for rule in ROLLUP_RULES
    }
    assert all(v.is_empty() for v in members_broken.values())  # the generator's own promise

    rollups = rollup_cells(cells, member_pairs(agencies), fee_fen, agencies)

    assert rollups.schema == ROLLUP_CELLS_SCHEMA
    parents = sorted({r[1] for r in rows if r[1]})
    assert sorted(rollups["agency_id"].unique()) == parents
    decimals_of = {r[0]: r[3] for r in rows}
    rounded_of = dict(cells.filter(is_money()).select("agency_id", "value").iter_rows())
    for parent in parents:
        covered = descendants(rows, parent)
        mine = rollups.filter(agency_id=parent)
        assert mine["members"].unique().to_list() == [len(covered - absent)]
        assert mine["missing"][0].to_list() == sorted(covered & absent)
        expected = (
            cells.filter(pl.col("agency_id").is_in(covered) & ~is_money())
            .group_by(CELL_KEY)
            .agg(pl.col("value").sum())
        )
        got = mine.filter(~is_money()).select(*CELL_KEY, "value")
        # Every static cell is in a roll-up, a member or not: compare on the members' keys,
        # and the others are 0.
        joined = got.join(expected, on=CELL_KEY, how="left", suffix="_members")
        assert joined.filter(pl.col("value") != pl.col("value_members").fill_null(0)).is_empty()
        assert expected.join(got, on=CELL_KEY, how="anti").is_empty()
        member_fen = sum(
            exact.get(m, int(rounded_of[m] * 1_000_000)) for m in covered if m not in absent
        )
        fee = mine.filter(is_money())["value"].item()
        assert fee == _half_up(member_fen, decimals_of[parent])
    assert rules_broken(rollups) == {}


def test_fees_are_summed_in_exact_fen_then_rounded_at_the_parents_precision() -> None:
    agencies = registry(
        [
            ("dist", None, ["政府网站"], 2),
            ("a", "dist", ["政府网站"], 2),
            ("b", "dist", ["政府网站"], 2),
        ]
    )
    # 0.004 万元 twice: each rounds to 0.00, together 0.008 rounds to 0.01.
    fen = {"dist": 0, "a": 4_000, "b": 4_000}
    cells = balanced_cells(agencies, random.Random(1), fen)
    exact = pl.DataFrame({"agency_id": list(fen), "fen": list(fen.values())})
    rollups = rollup_cells(cells, member_pairs(agencies), exact, agencies)
    assert rollups.filter(is_money())["value"].item() == Decimal("0.01")
    # Without the exact 分 (reported members) the rounded values are summed: documented.
    rounded = rollup_cells(cells, member_pairs(agencies), None, agencies)
    assert rounded.filter(is_money())["value"].item() == Decimal("0.00")


def test_a_parent_has_the_union_of_its_members_channel_rows() -> None:
    agencies = registry(
        [
            ("dist", None, ["政府网站"], 2),
            ("a", "dist", ["甲号"], 2),
            ("b", "dist", ["乙号", "甲号"], 2),
        ]
    )
    cells = balanced_cells(agencies, random.Random(2), {})
    rollups = rollup_cells(cells, member_pairs(agencies), None, agencies)
    channels = rollups.filter(section="channels")
    assert channels["row"].to_list() == ["website", "wechat:乙号", "wechat:甲号", "total"]
    assert channels["row_label"].to_list() == [
        "政府网站",
        "“乙号”微信公众号",
        "“甲号”微信公众号",
        "合计",
    ]
    by_row = dict(channels.select("row", "value").iter_rows())
    member = cells.filter(section="channels").group_by("row").agg(pl.col("value").sum())
    assert by_row == dict(member.iter_rows())


def test_member_pairs_cover_every_depth_and_only_parents() -> None:
    agencies = registry(
        [
            ("city", None, [], 2),
            ("d1", "city", [], 2),
            ("d1-x", "d1", [], 2),
            ("d1-x-y", "d1-x", [], 2),
            ("d2", "city", [], 2),
        ]
    )
    pairs = member_pairs(agencies)
    assert pairs.filter(parent_id="city")["member_id"].to_list() == [
        "city",
        "d1",
        "d1-x",
        "d1-x-y",
        "d2",
    ]
    assert pairs.filter(parent_id="d1-x")["member_id"].to_list() == ["d1-x", "d1-x-y"]
    assert sorted(pairs["parent_id"].unique()) == ["city", "d1", "d1-x"]


@pytest.mark.parametrize(
    ("rows", "named"),
    [
        ([("a", "b"), ("b", "a"), ("c", "a")], "a, b"),
        ([("a", "a"), ("b", None)], "a"),
        ([("a", "c"), ("b", "a"), ("c", "b"), ("d", "d"), ("e", "a")], "a, b, c, d"),
    ],
)
def test_a_cycle_in_parent_ids_is_an_input_error_naming_its_agencies(rows, named) -> None:
    agencies = registry([(agency_id, parent, [], 2) for agency_id, parent in rows])
    with pytest.raises(InputError, match=f"circle in agencies.csv: {named} \\("):
        member_pairs(agencies)


def test_a_parent_outside_the_registry_leaves_its_child_a_root() -> None:
    agencies = registry([("dist", "ministry", [], 2), ("a", "dist", [], 2), ("b", "gone", [], 2)])
    pairs = member_pairs(agencies)
    assert pairs.rows() == [("dist", "a"), ("dist", "dist")]
    assert unknown_parents(agencies).rows() == [("dist", "ministry"), ("b", "gone")]


def test_a_missing_member_is_listed_and_not_summed() -> None:
    agencies = registry(
        [
            ("city", None, ["政府网站"], 2),
            ("d", "city", ["政府网站"], 2),
            ("p", "d", ["政府网站"], 2),
        ]
    )
    present = agencies.filter(pl.col("agency_id") != "p")
    cells = balanced_cells(present, random.Random(3), {"city": 100, "d": 200})
    rollups = rollup_cells(cells, member_pairs(agencies), None, agencies)
    summary = rollups.group_by("agency_id").agg(
        pl.col("members").first(), pl.col("missing").first()
    )
    assert sorted(summary.rows()) == [("city", 2, ["p"]), ("d", 1, ["p"])]


def test_a_parent_without_any_report_rolls_up_to_zeros_and_lists_everyone() -> None:
    agencies = registry([("d", None, ["政府网站"], 2), ("p", "d", ["政府网站"], 2)])
    empty = pl.DataFrame(schema=REPORT_CELLS_SCHEMA)
    rollups = rollup_cells(empty, member_pairs(agencies), None, agencies)
    assert rollups["value"].unique().to_list() == [0]
    assert rollups["members"].unique().to_list() == [0]
    assert rollups["missing"][0].to_list() == ["d", "p"]
    assert rules_broken(rollups) == {}


def test_outcome_rows_are_all_present_in_a_rollup() -> None:
    agencies = registry([("d", None, ["政府网站"], 2), ("p", "d", ["政府网站"], 2)])
    cells = balanced_cells(agencies, random.Random(4), {})
    rollups = rollup_cells(cells, member_pairs(agencies), None, agencies)
    rows = set(rollups.filter(section="requests")["row"])
    assert set(OUTCOME_ROW_KEYS) <= rows


def test_exact_fen_is_kept_only_where_it_rounds_to_the_published_fee() -> None:
    agencies = registry([("a", None, [], 2), ("b", None, [], 2), ("c", None, [], 2)])
    fees = pl.DataFrame(
        {
            "agency_id": ["a", "a", "b", "b"],
            "paid_on": [
                dt.date(2024, 3, 1),
                dt.date(2023, 12, 31),
                dt.date(2024, 5, 1),
                dt.date(2024, 6, 1),
            ],
            "amount_fen": [4_000, 99_999_999, 1_000_000, 5_000],
        }
    )
    published = pl.DataFrame(
        {"agency_id": ["a", "b", "c"], "value": [Decimal("0.00"), Decimal("9.99"), Decimal(0)]},
        schema={"agency_id": pl.String, "value": pl.Decimal(18, 4)},
    )
    in_2024 = pl.col("paid_on").dt.year() == 2024
    exact = exact_fee_fen(fees, published, agencies, in_2024)
    # a: 4,000 分 rounds to 0.00 (kept); b: 1.01 万元 was refused, 9.99 is older (left out);
    # c: no records and 0 published (exactly 0 分).
    assert sorted(exact.rows()) == [("a", 4_000), ("c", 0)]
