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


def beijing(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.astimezone(BEIJING) if moment else None


def shown_time(moment: dt.datetime | None, seconds: bool = True) -> str:
    """``2026-11-28 10:02:03 CST``: Beijing time, the zone named."""
    if moment is None:
        return ""
    return f"{beijing(moment):%Y-%m-%d %H:%M{':%S' if seconds else ''} %Z}"


def shown_iso(moment: str | None) -> str:
    """:func:`shown_time` of an ISO timestamp as manifests and version.json keep it (UTC).

    >>> shown_iso("2026-11-28T06:01:49+00:00")
    '2026-11-28 14:01:49 CST'
    """
    return shown_time(dt.datetime.fromisoformat(moment)) if moment else ""
