#!/usr/bin/env bash
# Nightly benchmark (run by hand, never in CI), against a running Prefect server:
#   uv run prefect server start &   export PREFECT_API_URL=http://127.0.0.1:4200/api
#   bench/nightly.sh [AGENCIES]
# Builds bench/out/landing once (bench/make_landing.py, 400 agencies by default), runs a first
# nightly (every agency compiled; not a target), then three rounds of: a nightly with nothing
# changed, and a nightly after one fee row was appended to one agency's export. Each is printed
# beside the least work (bench/nightly_least_work.py, its own process, in the same round):
# listing the zone and reading the ledger, plus reading the changed file. Best of three rounds,
# wall time and CPU (user + sys) from GNU time. Each command is timed once the Data Docs builder
# the previous nightly left running has finished: nights do not follow each other seconds apart,
# and on two cores that builder would take one from the command timed next.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PREFECT_API_URL:?start a Prefect server (uv run prefect server start) and export PREFECT_API_URL}"
agencies=${1:-400}
out=bench/out
uv sync --locked -q
[ -d "$out/landing" ] || .venv/bin/python bench/make_landing.py "$out/landing" --agencies "$agencies"
locations=(--landing "$out/landing" --out "$out/nightly-published" --warehouse "$out/nightly-warehouse")
# The installed entry point, not `uv run`: uv's own check of the environment is no part of a run.
nianbao=(.venv/bin/nianbao nightly "${locations[@]}")
least=(.venv/bin/python bench/nightly_least_work.py "$out/landing" "$out/nightly-warehouse")
settled() { # the Data Docs builder a nightly leaves running (a few s of CPU) has finished
  for _ in $(seq 300); do pgrep -f "flows.data_docs" >/dev/null || return 0; sleep 0.2; done
}
timed() { # prints "wall cpu" of one command, once the previous command's builder is done
  settled
  /usr/bin/time -f "%e %U %S" -o "$out/nightly-time.txt" "$@" >/dev/null 2>>"$out/nightly-stderr.log"
  tail -1 "$out/nightly-time.txt" | awk '{printf "%.2f %.2f", $1, $2 + $3}'
}
if [ ! -f "$out/nightly-warehouse/ledger/nightly.parquet" ]; then
  echo "first night (compiles every agency): $(timed "${nianbao[@]}") (wall s, cpu s)"
fi
changed=$(find "$out/landing" -path '*/fees/fees.csv' | sort | awk 'NR == 1')  # awk reads all: head's early exit is a SIGPIPE under pipefail
: >"$out/nightly-rounds.txt"
for round in 1 2 3; do
  echo "nothing $(timed "${nianbao[@]}") $(timed "${least[@]}")" >>"$out/nightly-rounds.txt"
  echo "FEE-bench-$(date +%s%N),城市道路占用费,$(date +%Y)-06-01,12.34" >>"$changed"
  echo "one $(timed "${nianbao[@]}") $(timed "${least[@]}" "$changed")" >>"$out/nightly-rounds.txt"
done
echo "agencies: $(find "$out/landing" -mindepth 1 -maxdepth 1 -type d | wc -l); changed file: $changed"
echo "rounds (case, nianbao wall, cpu, least-work wall, cpu):"
cat "$out/nightly-rounds.txt"
for case in nothing one; do
  grep "^$case " "$out/nightly-rounds.txt" | awk -v c="$case" '
    NR == 1 || $2 < w { w = $2; u = $3 }
    NR == 1 || $4 < lw { lw = $4; lu = $5 }
    END { printf "%-8s nianbao %.2f s (cpu %.2f s)  least work %.2f s (cpu %.2f s)  ratio %.1f\n", c, w, u, lw, lu, w / lw }'
done
