"""The one clock: now and today in Beijing (Asia/Shanghai), where every report date lives."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from transforms.parse import BEIJING as BEIJING_ZONE_NAME

BEIJING = ZoneInfo(BEIJING_ZONE_NAME)


def beijing_now() -> dt.datetime:
    return dt.datetime.now(BEIJING)


def beijing_today() -> dt.date:
    """The calendar day in Beijing: a run at 01:00 Beijing time (17:00 UTC) is already tomorrow."""
    return beijing_now().date()
