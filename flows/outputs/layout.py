"""Every key nianbao writes: the published dataset under ``--out`` and the warehouse.

The one place a key is built. Agency ids reach keys only through ``safe_agency_id``, so a
hostile id can never become a path outside its partition. docs/published-output.md describes
the same layout for consumers.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from transforms.agencies import safe_agency_id

# --- the published dataset (--out) ---------------------------------------------------------

# The files rendered for every published report, beside its cells.
PROBLEMS_FILE = "数据问题清单.xlsx"  # the agency's quarantined rows, in Chinese
RENDERED = ("report.md", "report.html", "report.docx", "report.pdf", "report.xlsx", PROBLEMS_FILE)
# Which run is publishing which reports, written before the first report and marked done after
# the last: a run cut off (killed, disk full) leaves it "publishing" for the next run to repair.
JOURNAL_KEY = ".publishing.json"
MANIFESTS = "runs/"  # one "<start>-<run_id>.json" per run
DATA_DOCS = "validation/data_docs/"
DATA_DOCS_INDEX = DATA_DOCS + "index.html"


def partition(year: int, agency_id: str) -> str:
    """The Hive partition of one report: ``year=2024/agency_id=cq-qijiang-cgj``."""
    return f"year={year}/agency_id={safe_agency_id(agency_id)}"


def cells_key(year: int, agency_id: str) -> str:
    """The current published cells of one report: the dataset consumers read."""
    return f"report_cells/{partition(year, agency_id)}/data.parquet"


def cells_year_prefix(year: int) -> str:
    """Where every current cells file of a year lies: ``cells_key`` of each agency under it."""
    return f"report_cells/year={year}/"


def reports_year_prefix(year: int) -> str:
    """Where every rendered file of a year's current reports lies (``report_key``)."""
    return f"reports/year={year}/"


def validation_year_prefix(year: int) -> str:
    """Where every validation result of a year lies (``validation_key``)."""
    return f"validation/year={year}/"


def standing_key(year: int) -> str:
    """What the year's current reports were made from (flows/outputs/standing.py): internal,
    hidden from listings like the publishing journal."""
    return f".standing-year={year}.parquet"


def report_key(year: int, agency_id: str, name: str) -> str:
    """A rendered file (``report.html``, …) of the current version of one report."""
    return f"reports/{partition(year, agency_id)}/{name}"


def validation_key(year: int, agency_id: str) -> str:
    """The validation result of one report's latest compile, passed or refused."""
    return f"validation/{partition(year, agency_id)}/result.json"


def history_prefix(year: int, agency_id: str) -> str:
    """Where every published version of one report is kept."""
    return f"history/{partition(year, agency_id)}/"


def version_key(year: int, agency_id: str, run_id: str) -> str:
    """One published version, one object: its cells, rendered files, validation result and
    version.json in a zip (flows/outputs/versions.py)."""
    return f"{history_prefix(year, agency_id)}run_id={run_id}.zip"


def manifest_key(started: dt.datetime, run_id: str) -> str:
    """A run's manifest, named so that listing ``runs/`` sorts runs by their start."""
    return f"{MANIFESTS}{started:%Y%m%dT%H%M%SZ}-{run_id}.json"


def data_docs_key(path: str) -> str:
    """A page of the Great Expectations Data Docs of the latest run."""
    return DATA_DOCS + path


# --- the compacted snapshot of a year (flows/outputs/snapshot.py) -----------------------------

# How many files hold a year's snapshot. Fixed: a snapshot written with another number is rebuilt
# whole (its manifest says how many parts it has).
SNAPSHOT_PARTS = 16


def snapshot_part(agency_id: str) -> int:
    """The part holding one agency's cells: the first 8 bytes of the SHA-256 of its id (UTF-8),
    big-endian, modulo ``SNAPSHOT_PARTS``. Stable across runs, machines and Python versions
    (unlike ``hash()``), so a run of a few agencies rewrites only their parts."""
    digest = hashlib.sha256(agency_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % SNAPSHOT_PARTS


def snapshot_prefix(year: int) -> str:
    return f"snapshots/year={year}/"


def snapshot_part_key(year: int, part: int) -> str:
    """One part of a year's snapshot: the current cells of the agencies ``snapshot_part`` puts
    there, with ``agency_id`` and ``year`` as columns."""
    return f"{snapshot_prefix(year)}part-{part:02d}.parquet"


def snapshot_manifest_key(year: int) -> str:
    """How many parts the year's snapshot has, and which run each part reflects."""
    return f"{snapshot_prefix(year)}snapshot.json"


# --- the warehouse (--warehouse) ------------------------------------------------------------

LEDGER_KEY = "ledger/nightly.parquet"  # what the landing zone held after the last nightly run


def records_key(source: str) -> str:
    """The single records file of one source that versions before issue 14 wrote (still read)."""
    return f"records/{source}.parquet"


def records_prefix(source: str) -> str:
    """The normalized records of one source: a few segment files and their index
    (flows/io/records.py)."""
    return f"records/{source}/"


def records_index_key(source: str) -> str:
    """Which segment holds each agency's records of one source: written last, the commit point."""
    return f"{records_prefix(source)}index.parquet"


def records_segment_key(source: str, name: str) -> str:
    """One segment: the records of the agencies one run (or one compaction) wrote."""
    return f"{records_prefix(source)}segment-{name}.parquet"


def records_quarantine_key(segment_key: str) -> str:
    """The rows and files quarantined when the records of one segment were normalized (kept so
    that a run taking those records tells the same quarantine)."""
    folder, found, name = segment_key.rpartition("/segment-")
    if not found:  # the single file of before segments: none was kept
        return segment_key.removesuffix(".parquet") + ".quarantine.parquet"
    return f"{folder}/quarantine-{name}"


def quarantine_key(run_id: str) -> str:
    """Every row and file one run quarantined, with its reason."""
    return f"quarantine/run_id={run_id}/quarantine.parquet"


# --- roll-ups along 上级机关 (flows/outputs/rollups.py) ---------------------------------------


def rollup_cells_key(year: int, agency_id: str) -> str:
    """The current roll-up cells of one parent agency (its own and every descendant's summed)."""
    return f"rollup_cells/{partition(year, agency_id)}/data.parquet"


def rollup_report_key(year: int, agency_id: str, name: str) -> str:
    """A rendered file of the current roll-up of one parent agency."""
    return f"rollup_reports/{partition(year, agency_id)}/{name}"


def rollup_history_prefix(year: int, agency_id: str) -> str:
    """Where every published version of one parent agency's roll-up is kept."""
    return f"rollup_history/{partition(year, agency_id)}/"


def rollup_version_key(year: int, agency_id: str, run_id: str) -> str:
    """One published version of a roll-up, one object: its cells, rendered files and
    version.json in a zip."""
    return f"{rollup_history_prefix(year, agency_id)}run_id={run_id}.zip"


# --- year over year (issue 13): the changes dataset -------------------------------------------


def changes_key(year: int) -> str:
    """Every current report of ``year`` beside last year's, cell by cell (one file a year)."""
    return f"changes/year={year}/data.parquet"


# --- the browsable index (issue 13: site) -----------------------------------------------------

SITE_INDEX_KEY = "index.html"  # every agency and roll-up, every year, at the top of --out
SITE_PREFIX = "site/"  # one page per agency, and the registry names the index was built with
SITE_NAMES_KEY = SITE_PREFIX + "agencies.parquet"
ROLLUP_CELLS = "rollup_cells/"  # written by the roll-up step when it runs (issue 13 point 1)
REPORTED_CELLS = "reported_cells/"  # in the warehouse: ``nianbao audit --import``


def agency_page_key(agency_id: str) -> str:
    """The page of one agency: every year, its links, revisions and charts."""
    # Not "agency_id=<id>": that name is the partition folders' (tools glob "agency_id=*").
    return f"{SITE_PREFIX}{safe_agency_id(agency_id)}.html"
