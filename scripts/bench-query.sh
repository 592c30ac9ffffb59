#!/usr/bin/env bash
# The query figures (issues 4 and 18): the seed's COUNT(*) and GROUP BY country and the original
# platform's analytical queries (`bidlake query --examples`: bid floors, hourly volume, the
# funnel joins and rates) over db.bid_requests and its funnel tables, `bidlake query` (DataFusion
# over iceberg, scans split across THREADS partitions) against DuckDB with its iceberg extension
# on the same tables, in the same run, on the same cores. Release build; prints the tables, the
# timings (in process and whole command, medians of RUNS after a warm-up) and the ratios.
#   scripts/bench-query.sh                            # N=10000000 bid requests and their funnel
#   N=100000 RUNS=3 EXPLAIN=0 scripts/bench-query.sh  # a quick run
#   DATA_DIR=/var/tmp/q10m scripts/bench-query.sh     # keep the lake there; a later run with the
#                                                     # same DATA_DIR reuses it
#   N=1000000 COMMIT_ROWS=100 COMPACT_COPY=1 scripts/bench-query.sh
#                                                     # 10,000 small commits, and a compacted copy
# The tables are loaded by the ingest benchmark program (crates/ingest/benches/ingest_file.rs
# --funnel): N bid requests and their funnel (seed 1) through ingest's sink, a commit per
# COMMIT_ROWS bid requests (default N: one file per partition, as after compaction).
# Every run is warm (the files are in the page cache): the figures are CPU, not disk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C # EPOCHREALTIME with a decimal point

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
N="${N:-10000000}"
RUNS="${RUNS:-5}"
COMMIT_ROWS="${COMMIT_ROWS:-$N}"
EXPLAIN="${EXPLAIN:-1}"           # 1: print EXPLAIN ANALYZE of the seed's two queries at the end
THREADS="${THREADS:-2}"           # bidlake query --threads and DuckDB's threads
COMPACT_COPY="${COMPACT_COPY:-0}" # 1: also time bidlake on a fully compacted copy of the lake
export THREADS

COUNT_SQL='SELECT COUNT(*) FROM db.bid_requests'
GROUP_SQL='SELECT device_geo_country, COUNT(*) AS requests FROM db.bid_requests GROUP BY device_geo_country ORDER BY requests DESC'
queries=(count group_by)
declare -A SQL=([count]="$COUNT_SQL" [group_by]="$GROUP_SQL")

step() { printf '\n==> %s\n' "$*" >&2; }

# BIDLAKE and INGEST_FILE may name binaries built before; else they are built here.
if [[ -z "${BIDLAKE:-}" || -z "${INGEST_FILE:-}" ]]; then
  step "building (release)"
  executables="$(cargo build --release --bin bidlake --bench ingest_file \
    --message-format=json-render-diagnostics | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')"
  bin() { grep "/$1" <<<"$executables" | head -1; }
  BIDLAKE="$(bin bidlake)"
  INGEST_FILE="$(bin ingest_file-)"
fi
VENV="$(scripts/install-python.sh)"
PY="$VENV/bin/python"
DUCK="scripts/bench-query-duckdb.py"
unset CATALOG_URI WAREHOUSE S3_ENDPOINT CATALOG_NAME CATALOG_NAMESPACE

work="$(mktemp -d)"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
if [[ -z "${DATA_DIR:-}" ]]; then
  DATA_DIR="$work/lake"
fi
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -f "$DATA_DIR/catalog.db" ]]; then
  step "reusing the lake in $DATA_DIR"
else
  step "loading $N bid requests and their funnel into $DATA_DIR (a commit per $COMMIT_ROWS requests)"
  "$INGEST_FILE" --funnel "$N" --data-dir "$DATA_DIR" --commit-rows "$COMMIT_ROWS"
fi

# The original platform's queries, as `bidlake query --examples` lists them.
while IFS=$'\t' read -r name sql; do
  queries+=("$name")
  SQL[$name]="$sql"
done < <("$BIDLAKE" query --examples --format json | "$PY" -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if "$" not in e["sql"]:  # not the metadata tables: DuckDB names them otherwise
        print(e["name"], " ".join(e["sql"].split()), sep="\t")')

tables_of() { # a lake's tables as {"name": "its current metadata file"}, for DuckDB
  "$PY" -c '
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT table_name, metadata_location FROM iceberg_tables WHERE table_namespace = ?", ("db",))
print(json.dumps({name: location.removeprefix("file://") for name, location in rows}))' "$1/catalog.db"
}
tables="$(tables_of "$DATA_DIR")"
files="$(find "$DATA_DIR" -name '*.parquet' -printf '%s\n' | awk '{n++; s+=$1} END {printf "%d files, %.1f MiB", n, s/1048576}')"
echo "tables: $(for t in bid_requests bid_responses impressions clicks; do
  printf '%s %s rows; ' "$t" "$("$BIDLAKE" --data-dir "$DATA_DIR" query --format csv "SELECT COUNT(*) FROM db.$t" | tail -n 1)"
done)$files of Parquet"

step "same results from both engines"
for q in "${queries[@]}"; do
  "$BIDLAKE" --data-dir "$DATA_DIR" query --format csv "${SQL[$q]}" | tail -n +2 >"$work/$q.bidlake"
  "$PY" "$DUCK" once "$tables" "${SQL[$q]}" >"$work/$q.duckdb"
  if ! "$PY" scripts/bench-query-compare.py "$work/$q.bidlake" "$work/$q.duckdb"; then
    echo "$q: the engines disagree" >&2
    exit 1
  fi
  echo "$q: same $(wc -l <"$work/$q.bidlake") row(s) from both"
done

# timed QUERY MODE CMD...: one run of CMD, its output discarded; appends to $work/runs a line
# "QUERY MODE wall_s cpu_s peak_rss_kib".
timed() {
  local q="$1" mode="$2" t0 t1 user sys rss
  shift 2
  t0="$EPOCHREALTIME"
  /usr/bin/time -f '%U %S %M' -o "$work/time" "$@" >/dev/null
  t1="$EPOCHREALTIME"
  read -r user sys rss <"$work/time"
  awk -v q="$q" -v m="$mode" -v a="$t0" -v b="$t1" -v u="$user" -v s="$sys" -v r="$rss" \
    'BEGIN { printf "%s %s %.4f %.2f %d\n", q, m, b - a, u + s, r }' >>"$work/runs"
}

step "whole commands: bidlake query vs python with DuckDB, 1 warm-up + $RUNS runs each, interleaved"
: >"$work/runs"
for q in "${queries[@]}"; do
  for i in $(seq 0 "$RUNS"); do
    timed "$q" bidlake "$BIDLAKE" --data-dir "$DATA_DIR" query --threads "$THREADS" --format csv "${SQL[$q]}"
    timed "$q" duckdb_cmd "$PY" "$DUCK" once "$tables" "${SQL[$q]}"
    if [[ "$i" == 0 ]]; then # the warm-up
      head -n -2 "$work/runs" >"$work/runs.tmp" && mv "$work/runs.tmp" "$work/runs"
    fi
  done
done

# in_process LAKE MODE: bidlake's own timer (`--timing`: planning and execution of a statement)
# over 1 warm-up + RUNS statements of each query in one session; appends "QUERY MODE seconds".
in_process() {
  local lake="$1" mode="$2" q
  for q in "${queries[@]}"; do
    for _ in $(seq 0 "$RUNS"); do printf '%s;\n' "${SQL[$q]}"; done >"$work/$q.sql"
    "$BIDLAKE" --data-dir "$lake" query --timing --threads "$THREADS" --format csv \
      <"$work/$q.sql" 2>&1 >/dev/null | sed -n 's/^query took \([0-9.]*\) ms$/\1/p' | tail -n +2 \
      | awk -v q="$q" -v m="$mode" '{ printf "%s %s %.6f\n", q, m, $1 / 1000 }' >>"$work/inproc"
  done
}

step "bidlake in one process: 1 warm-up + $RUNS runs of each query, timed by --timing"
: >"$work/inproc"
in_process "$DATA_DIR" bidlake_inproc

step "DuckDB in one process: 1 warm-up + $RUNS runs of each query, extension load apart"
sqls=()
for q in "${queries[@]}"; do sqls+=("${SQL[$q]}"); done
"$PY" "$DUCK" repeat "$tables" "$RUNS" "${sqls[@]}" >"$work/duckdb.jsonl"
"$PY" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])][1:]
for q, line in zip(sys.argv[2:], lines):
    for t in line["times"]:
        print(f"{q} duckdb_inproc {t:.6f}")' "$work/duckdb.jsonl" "${queries[@]}" >>"$work/inproc"

if [[ "$COMPACT_COPY" == 1 ]]; then
  step "a fully compacted copy of the lake"
  rm -rf "$work/compacted" && cp -r "$DATA_DIR" "$work/compacted"
  "$BIDLAKE" --data-dir "$work/compacted" maintain --compact >/dev/null
  echo "compacted copy: $(find "$work/compacted" -name '*.parquet' | wc -l) files in the directory (the lake as loaded: $(find "$DATA_DIR" -name '*.parquet' | wc -l))"
  in_process "$work/compacted" bidlake_compacted
fi

step "summary"
"$PY" scripts/bench-query-summary.py "$work/runs" "$work/inproc" "$work/duckdb.jsonl" "${queries[@]}"

if [[ "$EXPLAIN" == 1 ]]; then
  for q in count group_by; do
    step "EXPLAIN ANALYZE $q: bidlake"
    "$BIDLAKE" --data-dir "$DATA_DIR" query --threads "$THREADS" "EXPLAIN ANALYZE ${SQL[$q]}" || true
    step "EXPLAIN ANALYZE $q: DuckDB"
    "$PY" "$DUCK" once "$tables" "EXPLAIN ANALYZE ${SQL[$q]}" || true
  done
fi
