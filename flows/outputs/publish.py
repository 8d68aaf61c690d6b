"""Writing one report to the published dataset, and reading published cells back."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from flows.io.store import Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import (
    JOURNAL_KEY,
    RENDERED,
    cells_key,
    cells_year_prefix,
    history_prefix,
    report_key,
    rollup_cells_key,
    rollup_history_prefix,
    rollup_report_key,
    rollup_version_key,
    standing_key,
    validation_key,
    version_key,
)
from flows.outputs.render import AheadRenders, inputs_hash, render_reports, worth_a_pool
from flows.outputs.versions import (
    Version,
    read_version,
    rendered_files,
    version_keys,
    write_version,
)
from transforms.document import Document, Narrative, report_document
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.period import Period
from transforms.report import changed_cells

PUBLISHED_COLUMNS = (
    "section",
    "row",
    "column",
    "value",
    "row_label",
    "column_label",
    "status",
    "as_of",
    "run_id",
)


def current_run_id(out: Store, year: int, agency_id: str) -> str | None:
    """The run whose version of this report is current (its cells), or None if none is."""
    current = current_cells(out, year, agency_id)
    return None if current is None else current["run_id"][0]


class RunFailed(Exception):
    """A run that stopped part-way: what it published, what it did not, where its manifest is."""

    def __init__(
        self, message: str, published: list[str], not_published: list[str], manifest: str | None
    ) -> None:
        super().__init__(message, published, not_published, manifest)
        self.published, self.not_published, self.manifest = published, not_published, manifest

    def __str__(self) -> str:
        return self.args[0]


def begin_publishing(
    out: Store, year: int, agency_ids: list[str], run_id: str, rollup_ids: list[str] | None = None
) -> None:
    """Journal which reports (and which parents' roll-ups) this run is about to write."""
    journal = {"run_id": run_id, "year": year, "agency_ids": agency_ids, "state": "publishing"}
    if rollup_ids:
        journal["rollup_ids"] = list(rollup_ids)
    out.write_bytes(JOURNAL_KEY, json.dumps(journal).encode())


def end_publishing(out: Store, run_id: str, state: str = "done") -> None:
    out.write_bytes(JOURNAL_KEY, json.dumps({"run_id": run_id, "state": state}).encode())


def restore_interrupted(out: Store) -> list[str]:
    """Put back the current version of every report (and roll-up) a cut-off publish left
    half-written.

    A report's cells are written last, so an agency whose cells do not carry the cut-off run
    may hold that run's rendered files and validation result beside older cells: they are
    restored from the current version under ``history/``, or removed when no version was ever
    published. Roll-ups (``rollup_ids`` in the journal) likewise, from ``rollup_history/``.
    The snapshot parts of the journal's agencies are rebuilt from their cells. Returns the agencies restored (a roll-up as "<parent> (roll-up)").
    """
    if not out.exists(JOURNAL_KEY):
        return []
    journal = json.loads(out.read_bytes(JOURNAL_KEY))
    if journal["state"] != "publishing":
        return []
    year, run_id = journal["year"], journal["run_id"]
    restored = []
    for agency_id in journal["agency_ids"]:
        current = current_run_id(out, year, agency_id)
        if current == run_id:
            continue  # published whole: its cells were the last file written
        keys = {name: report_key(year, agency_id, name) for name in RENDERED}
        keys["result.json"] = validation_key(year, agency_id)
        _put_back(out, keys, current, functools.partial(version_key, year, agency_id))
        restored.append(agency_id)
    for parent in journal.get("rollup_ids", []):
        key = rollup_cells_key(year, parent)
        current = read_parquet_bytes(out.read_bytes(key))["run_id"][0] if out.exists(key) else None
        if current == run_id:
            continue  # its cells, the last file written, are the cut-off run's
        keys = {name: rollup_report_key(year, parent, name) for name in RENDERED}
        _put_back(out, keys, current, functools.partial(rollup_version_key, year, parent))
        restored.append(f"{parent} (roll-up)")
    if journal["agency_ids"]:
        # The snapshot parts are written after the cells: rebuilt from them (imported here:
        # flows/outputs/snapshot.py reads this module's columns).
        from flows.outputs.snapshot import refresh_snapshot

        refresh_snapshot(out, year, journal["agency_ids"], run_id)
    # Whether or not the cut-off run wrote it, the standing table may describe versions that
    # are no longer current: without it, the next run looks at every report.
    out.remove(standing_key(year))
    end_publishing(out, run_id, "restored")
    return restored


def _put_back(
    out: Store, keys: dict[str, str], current: str | None, key_of_run: Callable[[str], str]
) -> None:
    """The files ``keys`` names (file name → key) as the version of run ``current`` holds
    them; removed when there is no current version (nothing of a cut-off run may stay)."""
    if current is None:
        for key in keys.values():
            out.remove(key)
        return
    try:
        version = read_version(out, key_of_run(current))
    except FileNotFoundError:
        return  # a version from before history was kept; S3 here may not delete
    kept = rendered_files(out, key_of_run, version) | version.files  # its own result.json
    for name, key in keys.items():
        if name in kept:
            out.write_bytes(key, kept[name])


def newly_published(out: Store, year: int, agency_ids: list[str], written: list[str]) -> list[str]:
    """The agencies whose cells are among the URIs ``written``: a new version of their report
    is current (the cells are written last)."""
    done = set(written)
    return [a for a in agency_ids if out.uri(cells_key(year, a)) in done]


def current_cells_each(
    out: Store, year: int, agency_ids: Iterable[str], known_present: bool = False
) -> list[pl.DataFrame]:
    """The current ``report_cells`` of each of these agencies that has them, with ``agency_id``
    added; read side by side (each read waits on the disk or the network)."""

    def read(agency_id: str) -> pl.DataFrame | None:
        key = cells_key(year, agency_id)
        if not known_present and not out.exists(key):
            return None
        cells = read_parquet_bytes(out.read_bytes(key))
        return cells.with_columns(agency_id=pl.lit(agency_id, pl.String))

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [frame for frame in pool.map(read, agency_ids) if frame is not None]


def published_cells(out: Store, year: int, agency_ids: list[str]) -> pl.DataFrame | None:
    """The current published cells of ``year`` for these agencies, or None if there are none."""
    frames = [
        cells.select("agency_id", "section", "row", "column", "value")
        for cells in current_cells_each(out, year, agency_ids)
    ]
    return pl.concat(frames) if frames else None


@dataclass(frozen=True)
class Release:
    """What every report of one run is published as."""

    period: Period
    status: str  # final | provisional
    run_id: str
    checks: list[dict]  # the report suite's checks, for each report's validation result


def period_text(period: Period) -> str:
    """The statistics period as the report prints it: 2024年1月1日至2024年12月31日."""
    return f"{period.start:%Y年%-m月%-d日}至{period.end:%Y年%-m月%-d日}"


def agency_document(
    agency: dict,
    cells: pl.DataFrame,
    previous_cells: pl.DataFrame | None,
    narrative: Narrative | None,
    period: Period,
    status: str,
) -> Document:
    """One agency's report as a document: its registry name (else its id), its cells, last
    year's published cells (for the year-over-year sentences) and its narrative file."""
    name = agency.get("name") or agency["agency_id"]
    return report_document(
        {"agency_name": name},
        period.year,
        "final" if status == "final" else "provisional",
        period_text(period),
        cells,
        previous_cells,
        narrative,
        agency["fee_decimals"],
    )


def current_render(out: Store, year: int, agency_id: str, digest: str) -> str | None:
    """The run whose kept version holds this report's files as rendered from the same inputs
    (``render_hash`` in the current version's version.json), or None."""
    run_id = current_run_id(out, year, agency_id)
    if run_id is None:
        return None
    try:
        current = read_version(out, version_key(year, agency_id, run_id), with_files=False)
    except (FileNotFoundError, ValueError):  # an older version, or one kept only in part
        return None
    if current.about.get("render_hash") != digest:
        return None
    holder = current.files_of
    return holder if holder == run_id or out.exists(version_key(year, agency_id, holder)) else None


def current_renders(
    out: Store, year: int, reports: list[tuple[str, Document, pl.DataFrame]]
) -> list[tuple[str, str | None]]:
    """Each (agency_id, document, quarantine)'s inputs digest and ``current_render``: looked up
    side by side (each lookup reads two small objects, waiting on the disk or the network)."""
    digests = [inputs_hash(document, quarantine) for _, document, quarantine in reports]
    published = _with_current_cells(out, year) if len(reports) > LOOKUPS_BEFORE_LISTING else None

    def lookup(agency_id: str, digest: str) -> str | None:
        if published is not None and cells_key(year, agency_id) not in published:
            return None  # no current version: nothing rendered to keep
        return current_render(out, year, agency_id, digest)

    with ThreadPoolExecutor(max_workers=8) as pool:
        currents = pool.map(lookup, [agency_id for agency_id, _, _ in reports], digests)
        return list(zip(digests, currents, strict=True))


# Beyond this many reports, the year's current cells are listed once first, so that a report
# with none (every report of a first compile) costs no lookup: one listing (on S3 a request a
# thousand keys) instead of a failed read each.
LOOKUPS_BEFORE_LISTING = 50


def _with_current_cells(out: Store, year: int) -> set[str]:
    """The keys of the year's current cells files."""
    return set(out.keys(cells_year_prefix(year)))


@dataclass(frozen=True)
class Rendered:
    """A report's rendered files and the digest of what they were made from. A report whose
    files are those of its current version (nothing changed) has no bytes here: ``files_of``
    names the run whose kept version holds them, and they are already under ``reports/``."""

    files: dict[str, bytes] | None
    digest: str
    files_of: str | None = None


def render_ahead(
    out: Store, year: int, reports: list[tuple[str, Document, pl.DataFrame]]
) -> AheadRenders:
    """Start rendering, in worker processes, every report whose inputs differ from its current
    version's; ``render_published`` collects them when the run publishes. Too few to be worth
    starting the workers (``worth_a_pool``) are left to publishing, which renders them here."""
    ahead = AheadRenders()
    if not worth_a_pool(len(reports)):
        return ahead  # not even if every report changed: publishing renders in this process
    todo = []
    looked_up = current_renders(out, year, reports)
    for (agency_id, document, quarantine), (digest, current) in zip(
        reports, looked_up, strict=True
    ):
        ahead.looked_at[agency_id] = (digest, current)
        if current is None:
            todo.append((agency_id, digest, document, quarantine))
    if worth_a_pool(len(todo)):
        ahead.submit_all(todo)
    return ahead


def render_published(
    out: Store,
    year: int,
    reports: list[tuple[str, Document, pl.DataFrame]],
    ahead: AheadRenders | None = None,
) -> list[Rendered]:
    """Each (agency_id, document, quarantine)'s rendered files and the digest of their inputs.

    A report rendered ahead (``render_ahead``) is taken from there; one whose inputs are those
    of its current version keeps that version's files (nothing read or rendered); the others
    are rendered, side by side in worker processes (``render_reports``).
    """
    looked_at = dict(ahead.looked_at) if ahead is not None else {}
    # Looked at ahead (the same document and rows): its digest and current files are known.
    unseen = [report for report in reports if report[0] not in looked_at]
    looked_at.update(zip((r[0] for r in unseen), current_renders(out, year, unseen), strict=True))
    digests, found = [], []
    for agency_id, _, _ in reports:
        digest, current = looked_at[agency_id]
        digests.append(digest)
        if ahead is not None and (files := ahead.take(agency_id, digest)):
            found.append(Rendered(files, digest))
        elif current:
            found.append(Rendered(None, digest, files_of=current))
        else:
            found.append(None)
    todo = [i for i, rendered in enumerate(found) if rendered is None]
    fresh = render_reports([(reports[i][1], reports[i][2]) for i in todo])
    for i, files in zip(todo, fresh, strict=True):
        found[i] = Rendered(files, digests[i])
    return found


def version_about(release: Release, **more: object) -> dict:
    """version.json of a published version: which run, what status, as of when, published when."""
    return {
        "run_id": release.run_id,
        "status": release.status,
        "as_of": release.period.end.isoformat(),
        "published_at": dt.datetime.now(dt.UTC).isoformat(),
        **more,
    }


def current_cells(out: Store, year: int, agency_id: str) -> pl.DataFrame | None:
    """The report's current published cells as ``report_cells`` holds them, or None."""
    key = cells_key(year, agency_id)
    return read_parquet_bytes(out.read_bytes(key)) if out.exists(key) else None


def changes_from_current(current: pl.DataFrame | None, cells: pl.DataFrame) -> dict:
    """What a new version's version.json says it changed: ``changed``, the cells whose value
    differs from the version current until now (``current``; values as text: exact decimals),
    and ``changed_from``, that version's run (None when none was current: nothing changed).

    Kept with the version so that listing a report's revisions reads no earlier version's cells
    (a report published every night has hundreds of versions).
    """
    if current is None:
        return {"changed": [], "changed_from": None}
    changed = changed_cells(current, cells).with_columns(pl.col("old", "new").cast(pl.String))
    return {"changed": changed.to_dicts(), "changed_from": current["run_id"][0]}


def is_current_version(
    out: Store,
    year: int,
    agency_id: str,
    current: pl.DataFrame | None,
    cells: pl.DataFrame,
    validation: bytes,
    rendered: Rendered,
) -> bool:
    """Whether the report's current version is this very report: the same cells (values,
    labels, status, as of), files rendered from the same inputs and still in place, and the
    same validation result (``validation``: its result.json), the run aside.

    Such a report gets no new version: a rerun that changes nothing publishes nothing, and the
    revisions log holds only versions that differ.
    """
    if current is None or rendered.files_of is None:
        return False
    if not current.drop("run_id").equals(cells.drop("run_id")):
        return False
    keys = [validation_key(year, agency_id), *(report_key(year, agency_id, n) for n in RENDERED)]
    if not all(out.exists(key) for key in keys):
        return False  # a file removed since: a new version puts it back
    kept = json.loads(out.read_bytes(keys[0]))
    return kept == json.loads(validation) | {"run_id": current["run_id"][0]}


def _stored_changes(about: dict) -> list[dict]:
    """``changed`` of a version.json, its values as the exact decimals the cells hold."""
    return [
        change | {v: None if change[v] is None else Decimal(change[v]) for v in ("old", "new")}
        for change in about["changed"]
    ]


def publish_report(
    out: Store,
    agency: dict,
    cells: pl.DataFrame,
    violations: pl.DataFrame,
    release: Release,
    rendered: Rendered | None = None,
) -> list[str]:
    """Write one agency's report: history version first, then the current files, cells last.

    A report with a blocking violation writes only its validation result: the previous
    published version stays current. A report identical to its current version
    (``is_current_version``) writes nothing and returns no URI. The cells are the commit point:
    a publish cut off before them is undone by ``restore_interrupted`` at the next run's start.
    ``rendered`` is its files and their inputs' digest (``render_published``); without it the
    report is rendered here, with no narrative, no last year and no quarantine rows.
    """
    period, status, run_id = release.period, release.status, release.run_id
    year, agency_id = period.year, agency["agency_id"]
    blocking = violations.filter(pl.col("severity") == "error")
    failed_rules = set(violations["rule"])
    validation = {
        "agency_id": agency["agency_id"],
        "year": period.year,
        "run_id": run_id,
        "passed": blocking.is_empty(),
        "checks": [
            {"rule": c["rule"], "severity": c["severity"], "passed": c["rule"] not in failed_rules}
            for c in release.checks
        ],
        "violations": violations.to_dicts(),
    }
    validation_bytes = json.dumps(validation, ensure_ascii=False, indent=2).encode()
    if not blocking.is_empty():
        return [out.write_bytes(validation_key(year, agency_id), validation_bytes)]
    published = cells.with_columns(
        status=pl.lit(status), as_of=pl.lit(period.end), run_id=pl.lit(run_id)
    ).select(PUBLISHED_COLUMNS)
    if rendered is None:
        document = agency_document(agency, cells, None, None, period, status)
        quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA)
        rendered = render_published(out, year, [(agency_id, document, quarantine)])[0]
    current = current_cells(out, year, agency_id)
    if is_current_version(out, year, agency_id, current, published, validation_bytes, rendered):
        return []  # nothing of it changed: its current version stays, nothing is written
    written = [out.write_bytes(validation_key(year, agency_id), validation_bytes)]
    cells_bytes = parquet_bytes(published)
    # render_hash: what the rendered files were made from; the next run keeps them when equal.
    # result.json too: to restore a cut-off publish.
    about = version_about(
        release, render_hash=rendered.digest, **changes_from_current(current, published)
    )
    kept = {"result.json": validation_bytes}
    if rendered.files_of:  # unchanged: the version holding the files is named, not copied
        about["files_of"] = rendered.files_of
    else:
        kept = rendered.files | kept
    key_of_run = functools.partial(version_key, year, agency_id)
    write_version(out, key_of_run(run_id), Version(about, cells_bytes, kept))
    for name in RENDERED:
        key = report_key(year, agency_id, name)
        if rendered.files is not None:
            written.append(out.write_bytes(key, rendered.files[name]))
        elif out.exists(key):  # an unchanged report's current file: these very bytes
            written.append(out.uri(key))
        else:  # removed by hand since: put back from the version holding it
            files = rendered_files(out, key_of_run, Version(about, cells_bytes))
            written.append(out.write_bytes(key, files[name]))
    written.append(out.write_bytes(cells_key(year, agency_id), cells_bytes))
    return written


def revisions(out: Store, year: int, agency_id: str, rollup: bool = False) -> list[dict]:
    """Every published version of one report (or of an agency's roll-up), oldest first, with
    the cells each one changed."""
    current_key = (rollup_cells_key if rollup else cells_key)(year, agency_id)
    current = (
        read_parquet_bytes(out.read_bytes(current_key))["run_id"][0]
        if out.exists(current_key)
        else None
    )
    return known_revisions(out, year, agency_id, current, rollup)


def known_revisions(
    out: Store, year: int, agency_id: str, current_run_id: str | None, rollup: bool = False
) -> list[dict]:
    """``revisions`` when the run of the current version is known already (None: there is no
    current version), as the index pages know it from the scan of every current cells file."""
    prefix = (rollup_history_prefix if rollup else history_prefix)(year, agency_id)
    kept = [read_version(out, key, with_files=False) for key in version_keys(out, prefix)]
    kept.sort(key=lambda v: v.about["published_at"])
    versions = []
    for place, version in enumerate(kept):
        if place == 0:
            changed = []
        elif "changed" in version.about:  # what it changed, kept when it was published
            changed = _stored_changes(version.about)
        else:  # a version from before that was kept: against the version before it
            before, after = (read_parquet_bytes(v.cells) for v in kept[place - 1 : place + 1])
            changed = changed_cells(before, after).to_dicts()
        current = version.run_id == current_run_id
        versions.append(version.about | {"current": current, "changed": changed})
    return versions
