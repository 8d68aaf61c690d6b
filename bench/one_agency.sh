#!/usr/bin/env bash
# Fixed overhead of a one-agency compile (issue 14, target 3: ≤ 2.5 s with a running server).
# Run by hand, never in CI, against a long-lived Prefect server:
#   uv run prefect server start &                     # once; serves http://127.0.0.1:4200/api
#   PREFECT_API_URL=http://127.0.0.1:4200/api bench/one_agency.sh [RUNS]
# Builds the demo landing zone (flows/demo/landing.py) in bench/out/one_agency, then times, in
# the same run: a least-work reference (a Python process importing Polars, reading every file of
# the landing zone and summing rows), RUNS compiles with the running server, and one with the
# temporary server nianbao starts when PREFECT_API_URL is unset. Each compile starts from empty
# output folders; the next one waits until the Data Docs builder the previous one left running
# has written its index (that time is printed too: when the validation pages are ready). CPU is
# the command's user + system time with its render workers (not the Data Docs builder): the
# steadier figure on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PREFECT_API_URL:?start a Prefect server (uv run prefect server start) and set PREFECT_API_URL}"
runs=${1:-5}
out=bench/out/one_agency
bin=$(uv run --locked python -c 'import sys, pathlib; print(pathlib.Path(sys.executable).parent)')
rm -rf "$out" && mkdir -p "$out"
"$bin/python" -c "from flows.demo.landing import build_demo_landing; build_demo_landing('$out/landing')"

seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

reference() {
  "$bin/python" - "$out/landing" <<'EOF'
import sys
from pathlib import Path

import polars as pl

rows = 0
for path in sorted(Path(sys.argv[1]).rglob("*")):
    if path.suffix == ".csv":
        rows += pl.read_csv(path.read_bytes(), encoding="utf8-lossy", infer_schema=False).height
    elif path.suffix == ".xlsx":
        rows += pl.read_excel(path).height
    elif path.is_file():
        rows += len(path.read_bytes().splitlines())
print(rows)
EOF
}

compile_once() {  # $1: label; prints wall seconds of the command, of the pages, and its CPU
  rm -rf "$out/published" "$out/warehouse"
  local start end ready
  start=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$out/$1.cpu" "$bin/nianbao" compile --year 2024 \
    --landing "$out/landing" --out "$out/published" --warehouse "$out/warehouse" >"$out/$1.log" 2>&1
  end=$(date +%s.%N)
  for _ in $(seq 600); do
    [ -f "$out/published/validation/data_docs/index.html" ] && break
    sleep 0.1
  done
  ready=$(date +%s.%N)
  echo "$(seconds "$start" "$end") $(seconds "$start" "$ready") $(awk '{ printf "%.2f", $1 + $2 }' "$out/$1.cpu")"
}

start=$(date +%s.%N); reference >/dev/null; end=$(date +%s.%N)
least=$(seconds "$start" "$end")
compile_once warmup >/dev/null  # byte-compiles and warms the page cache
walls=()
for i in $(seq "$runs"); do
  read -r wall pages cpu < <(compile_once "run$i")
  walls+=("$wall")
  echo "running server, run $i: compile $wall s, CPU $cpu s (Data Docs ready at $pages s)"
done
read -r temporary temporary_pages temporary_cpu < <(env -u PREFECT_API_URL bash -c "$(declare -f seconds compile_once); out=$out bin=$bin compile_once temporary")
median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "least-work reference (import Polars, read every file, sum rows): $least s"
echo "one-agency compile, running server, median of $runs: $median s ($(awk -v a="$median" -v b="$least" 'BEGIN { printf "%.1f", a / b }')× the reference)"
echo "one-agency compile, temporary server: $temporary s, CPU $temporary_cpu s (Data Docs ready at $temporary_pages s)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
