"""Reading the agency registry of a landing zone: the same code before a run starts and in it."""

from __future__ import annotations

import polars as pl

from flows.io.landing import AGENCIES_FILE, Landing, RegistryInput, read_agencies_table
from transforms.agencies import normalize_agencies, select_agencies


def load_registry(
    landing: Landing, agency_ids: list[str] | None
) -> tuple[pl.DataFrame, pl.DataFrame, RegistryInput]:
    """The agencies to compile, the registry rows quarantined, and the registry file's checksum.

    Raises FileNotFoundError (no registry) or ValueError (unreadable, no usable row, an
    ``agency_ids`` entry that is not a valid or known agency_id): the run cannot start.
    """
    raw, checksum = read_agencies_table(landing)
    agencies, quarantine = normalize_agencies(raw, AGENCIES_FILE)
    selected = select_agencies(agencies, agency_ids, quarantine)
    return (
        selected,
        quarantine,
        RegistryInput(path=AGENCIES_FILE, sha256=checksum, source="agencies"),
    )
