"""The least work a nightly run must do, for bench/nightly.sh to print beside nianbao's time.

    python bench/nightly_least_work.py LANDING WAREHOUSE [CHANGED_FILE]

Lists the landing zone (a stat of every file), reads the nightly ledger and, given a changed
file, reads and parses it: what any tool must do to know nothing changed, or to take in the
change. Run as its own process, so interpreter start-up counts here as it does for nianbao.
"""

from __future__ import annotations

import os
import sys

import polars as pl


def main() -> None:
    landing, warehouse, *changed = sys.argv[1:]
    stats = [
        os.stat(os.path.join(folder, name))
        for folder, _, names in os.walk(landing)
        for name in names
    ]
    ledger = pl.read_parquet(os.path.join(warehouse, "ledger", "nightly.parquet"))
    # Bytes decoded leniently: one agency in eight exports GB18030 (bench/make_landing.py).
    rows = sum(
        pl.read_csv(path, infer_schema=False, encoding="utf8-lossy").height for path in changed
    )
    print(f"{len(stats)} files listed, ledger of {ledger.height}, {rows} changed rows read")


if __name__ == "__main__":
    main()
