"""The cell dictionary's helpers: channel row keys and their inverse, units, section titles and the
headline cells, each agreeing with the skeleton every report is laid on."""

from __future__ import annotations

import polars as pl
import pytest

from tests.factories import agencies
from transforms.cells import (
    CHANNEL_WEBSITE,
    HEADLINE_CELLS,
    Unit,
    channel_name,
    channel_name_of_label,
    channel_row,
    channel_row_key,
    channel_row_label,
    is_money,
    report_skeleton,
    unit,
)

# Account names a registry may hold, including ones that look like row keys or label quotes.
CHANNELS = [CHANNEL_WEBSITE, "綦江城管", "website", "wechat:x", "“引号”", "政府网站2", ""]


def _skeleton() -> pl.DataFrame:
    return report_skeleton(agencies("ag-a", channels=tuple(c for c in CHANNELS if c)))


@pytest.mark.parametrize("channel", CHANNELS)
def test_channel_row_and_channel_name_round_trip(channel: str) -> None:
    assert channel_name(channel_row(channel)) == channel


def test_channel_row_keys_website_and_each_wechat_account() -> None:
    assert channel_row(CHANNEL_WEBSITE) == "website"
    assert channel_row("綦江城管") == "wechat:綦江城管"
    assert channel_row("website") == "wechat:website"  # an account so named is not the website


def test_channel_row_agrees_with_the_row_keys_of_the_skeleton() -> None:
    channels = _skeleton().filter(section="channels")
    rows = channels.filter(pl.col("row") != "total")["row"].to_list()
    assert rows == [channel_row(c) for c in CHANNELS if c]
    frame = pl.DataFrame({"channel": CHANNELS})
    assert frame.select(channel_row_key(pl.col("channel")).alias("row"))["row"].to_list() == [
        channel_row(c) for c in CHANNELS
    ]


@pytest.mark.parametrize("channel", CHANNELS)
def test_channel_name_of_label_inverts_the_printed_label(channel: str) -> None:
    label = pl.select(channel_row_label(pl.lit(channel, pl.String))).item()
    assert channel_name_of_label(label) == channel


def test_every_skeleton_cell_has_a_unit_and_fees_is_the_only_money_cell() -> None:
    skeleton = _skeleton()
    units = {
        (s, r, c): unit(s, r) for s, r, c in skeleton.select("section", "row", "column").rows()
    }
    assert set(units.values()) <= set(Unit)
    money = [cell for cell, u in units.items() if u is Unit.TEN_THOUSAND_YUAN]
    assert money == [("proactive", "fees", "amount_10k_yuan")]
    assert skeleton.filter(is_money()).select("section", "row", "column").rows() == money


def test_money_is_judged_per_row_so_a_stray_column_of_fees_is_money_too() -> None:
    frame = pl.DataFrame({"section": ["proactive", "channels"], "row": ["fees", "fees"]})
    assert frame.select(is_money().alias("money"))["money"].to_list() == [True, False]


def test_headline_cells_are_cells_of_every_report() -> None:
    keys = set(_skeleton().select("section", "row", "column").rows())
    assert {cell for cell, _ in HEADLINE_CELLS} <= keys
    assert len({label for _, label in HEADLINE_CELLS}) == len(HEADLINE_CELLS)
