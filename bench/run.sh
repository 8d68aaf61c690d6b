#!/usr/bin/env bash
# City-scale compile benchmark (run by hand, never in CI).
#   bench/run.sh [AGENCIES]          against the temporary Prefect server nianbao starts itself
#   PREFECT_API_URL=http://127.0.0.1:4200/api bench/run.sh   against a running Prefect server
# Builds bench/out/landing once (Huai'an 2024 volumes: 3,985,758 penalty and 447,228 licensing
# decisions), then times `nianbao compile` on it: wall time and peak memory from GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
agencies=${1:-400}
out=bench/out
[ -d "$out/landing" ] || uv run --locked python bench/make_landing.py "$out/landing" --agencies "$agencies"
rm -rf "$out/published" "$out/warehouse"
/usr/bin/time -v -o "$out/time.txt" uv run --locked nianbao compile --year 2024 \
  --landing "$out/landing" --out "$out/published" --warehouse "$out/warehouse" | tail -3
grep -E "Elapsed|Maximum resident" "$out/time.txt"
