"""The statistics period of a report: 1 January to 31 December, or to the as-of day year to date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from transforms.errors import InputError

# The statutory format nianbao compiles (国办公开办函〔2021〕30号) took effect for the 2021 reports;
# earlier reports had other tables.
FIRST_REPORT_YEAR = 2021


def check_report_year(year: int, today: dt.date) -> None:
    """Refuse a year nianbao cannot compile on ``today`` (Beijing date), in one line.

    Raises
    ------
    InputError
        A two-digit year, a year before :data:`FIRST_REPORT_YEAR`, or one with no day of data yet.

    Examples
    --------
    >>> check_report_year(2024, dt.date(2025, 1, 2))
    >>> check_report_year(24, dt.date(2025, 1, 2))
    Traceback (most recent call last):
    ...
    transforms.errors.InputError: year 24 is not a report year: give all four digits (2024)
    """
    if 0 <= year < 100:
        raise InputError(f"year {year} is not a report year: give all four digits ({2000 + year})")
    if year < FIRST_REPORT_YEAR:
        raise InputError(
            f"year {year} is before {FIRST_REPORT_YEAR}: the report format nianbao compiles "
            f"(国办公开办函〔2021〕30号) took effect for the {FIRST_REPORT_YEAR} reports"
        )
    if year > today.year or today == dt.date(year, 1, 1):
        raise InputError(f"{year} has no day of data yet on {today}: nothing to compile")


@dataclass(frozen=True)
class Period:
    """Dates, both ends included, in Beijing calendar days."""

    start: dt.date
    end: dt.date

    @classmethod
    def of_year(cls, year: int, as_of: dt.date | None = None) -> Period:
        """The report year, cut at ``as_of`` when the year is not over yet (a provisional report).

        Examples
        --------
        >>> Period.of_year(2024).end
        datetime.date(2024, 12, 31)
        >>> Period.of_year(2025, as_of=dt.date(2025, 6, 30)).end
        datetime.date(2025, 6, 30)
        """
        end = dt.date(year, 12, 31)
        if as_of is not None and as_of < end:
            end = as_of
        return cls(dt.date(year, 1, 1), end)

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def is_full_year(self) -> bool:
        return self.end == dt.date(self.year, 12, 31)

    def contains(self, day: pl.Expr) -> pl.Expr:
        """True where ``day`` falls in the period (a range, so Parquet statistics can prune)."""
        return day.is_between(self.start, self.end, closed="both")

    def open_at_end(self, concluded: pl.Expr) -> pl.Expr:
        """True where a matter concluded on ``concluded`` (null: still open) was open at the end."""
        return concluded.is_null() | (concluded > self.end)
