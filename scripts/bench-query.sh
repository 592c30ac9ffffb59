#!/usr/bin/env bash
# The query figures (issue 4): COUNT(*) and a GROUP BY over db.bid_requests, `bidlake query`
# (DataFusion + iceberg-datafusion) against DuckDB with its iceberg extension on the same table,
# in the same run, on the same cores. Release build; prints the table, the timings and a summary.
#   scripts/bench-query.sh                       # N=10000000 bid requests, 1 warm-up + 5 runs each
#   N=100000 RUNS=3 scripts/bench-query.sh       # a quick run
#   DATA_DIR=/var/tmp/q10m scripts/bench-query.sh  # keep the lake there; a later run with the
#                                                  # same DATA_DIR reuses it instead of loading
# The table is loaded by the ingest benchmark program (crates/ingest/benches/ingest_file.rs):
# `bidlake gen --stdout --seed 1` piped through ingest's sink into one commit of COMMIT_ROWS
# (default N) rows, so each of the 34 country partitions gets one large file, as after compaction.
# Every run is warm (the files are in the page cache): the figures are CPU, not disk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C # EPOCHREALTIME with a decimal point

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
N="${N:-10000000}"
RUNS="${RUNS:-5}"
COMMIT_ROWS="${COMMIT_ROWS:-$N}"
EXPLAIN="${EXPLAIN:-1}" # 1: print EXPLAIN ANALYZE of each query from both engines at the end

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
  step "loading $N bid requests into $DATA_DIR (commits of $COMMIT_ROWS rows)"
  "$BIDLAKE" gen --stdout --rate 0 --count "$N" --seed 1 \
    | "$INGEST_FILE" /dev/stdin --data-dir "$DATA_DIR" --commit-rows "$COMMIT_ROWS" \
      --commit-interval 1000000
fi

metadata="$("$PY" - "$DATA_DIR/catalog.db" <<'EOF'
import sqlite3, sys
(location,) = sqlite3.connect(sys.argv[1]).execute(
    "SELECT metadata_location FROM iceberg_tables"
    " WHERE table_namespace = 'db' AND table_name = 'bid_requests'").fetchone()
print(location.removeprefix("file://"))
EOF
)"
files="$(find "$DATA_DIR" -name '*.parquet' -printf '%s\n' | awk '{n++; s+=$1} END {printf "%d files, %.1f MiB (%.1f MiB each on average)", n, s/1048576, n ? s/1048576/n : 0}')"
rows="$("$BIDLAKE" --data-dir "$DATA_DIR" query --format csv "$COUNT_SQL" | tail -n 1)"
echo "table: db.bid_requests, $rows rows, $files of Parquet; metadata $metadata"

step "same results from both engines"
for q in "${queries[@]}"; do
  "$BIDLAKE" --data-dir "$DATA_DIR" query --format csv "${SQL[$q]}" | tail -n +2 | sort >"$work/$q.bidlake"
  "$PY" "$DUCK" once "$metadata" "${SQL[$q]}" | sort >"$work/$q.duckdb"
  if ! diff -q "$work/$q.bidlake" "$work/$q.duckdb" >/dev/null; then
    echo "$q: the engines disagree" >&2
    diff "$work/$q.bidlake" "$work/$q.duckdb" | head >&2
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

step "whole commands: bidlake query vs python -c with DuckDB, 1 warm-up + $RUNS runs each, interleaved"
: >"$work/runs"
for q in "${queries[@]}"; do
  for i in $(seq 0 "$RUNS"); do
    timed "$q" bidlake "$BIDLAKE" --data-dir "$DATA_DIR" query --format csv "${SQL[$q]}"
    timed "$q" duckdb_cmd "$PY" "$DUCK" once "$metadata" "${SQL[$q]}"
    if [[ "$i" == 0 ]]; then # the warm-up
      head -n -2 "$work/runs" >"$work/runs.tmp" && mv "$work/runs.tmp" "$work/runs"
    fi
  done
done

step "bidlake in one session: $((RUNS + 1)) statements from stdin in one bidlake query, 3 times"
for q in "${queries[@]}"; do
  for _ in $(seq 0 "$RUNS"); do printf '%s;\n' "${SQL[$q]}"; done >"$work/$q.sql"
  for _ in 1 2 3; do
    timed "$q" bidlake_session "$BIDLAKE" --data-dir "$DATA_DIR" query --format csv <"$work/$q.sql"
  done
done

step "DuckDB in one process: 1 warm-up + $RUNS runs of each query, extension load apart"
"$PY" "$DUCK" repeat "$metadata" "$RUNS" "$COUNT_SQL" "$GROUP_SQL" >"$work/inproc.jsonl"

step "summary"
"$PY" - "$work/runs" "$work/inproc.jsonl" "$COUNT_SQL" "$RUNS" <<'EOF'
import json, statistics, sys
runs, inproc, count_sql, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
walls, cpus, rss = {}, {}, {}
for line in open(runs):
    q, mode, wall, cpu, kib = line.split()
    walls.setdefault((q, mode), []).append(float(wall))
    cpus.setdefault((q, mode), []).append(float(cpu))
    rss[(q, mode)] = max(rss.get((q, mode), 0), int(kib))
lines = [json.loads(l) for l in open(inproc)]
head = lines[0]
for l in lines[1:]:
    q = "count" if l["sql"] == count_sql else "group_by"
    walls[(q, "duckdb_inproc")] = l["times"]
# bidlake's time per query in a warm session: a session of 1 + n statements less a session of
# one (the whole command's median), over n. A mean, so median and min are the same figure.
for q in ("count", "group_by"):
    session = statistics.median(walls.pop((q, "bidlake_session")))
    walls[(q, "bidlake_inproc")] = [(session - statistics.median(walls[(q, "bidlake")])) / n]
print(f"DuckDB {head['version']}, threads={head['threads']}; extension load (avro + iceberg) "
      f"{head['extension_load_s'] * 1000:.0f} ms, excluded from the in-process times")
print()
print("| query | engine, what is timed | median | min | CPU-s (median) | peak RSS |")
print("|---|---|---|---|---|---|")
names = {
    "bidlake": "bidlake query, whole command",
    "bidlake_inproc": f"bidlake query, per statement in one session (mean of {n}, derived)",
    "duckdb_cmd": "DuckDB, whole `python` command",
    "duckdb_inproc": "DuckDB, execute + fetch in one process",
}
for q in ("count", "group_by"):
    for mode in ("bidlake", "duckdb_cmd", "bidlake_inproc", "duckdb_inproc"):
        w = walls[(q, mode)]
        cpu = f"{statistics.median(cpus[(q, mode)]):.2f}" if (q, mode) in cpus else "–"
        mem = f"{rss[(q, mode)] / 1024:.0f} MiB" if (q, mode) in rss else "–"
        print(f"| {q} | {names[mode]} | {statistics.median(w) * 1000:.0f} ms | {min(w) * 1000:.0f} ms | {cpu} | {mem} |")
print()
for q in ("count", "group_by"):
    for b, d in (("bidlake", "duckdb_cmd"), ("bidlake_inproc", "duckdb_inproc")):
        ratio = statistics.median(walls[(q, b)]) / statistics.median(walls[(q, d)])
        print(f"{q}: {names[b]} / {names[d]} = {ratio:.2f}x (goal <= 1.5x)")
EOF

if [[ "$EXPLAIN" == 1 ]]; then
  for q in "${queries[@]}"; do
    step "EXPLAIN ANALYZE $q: bidlake"
    "$BIDLAKE" --data-dir "$DATA_DIR" query "EXPLAIN ANALYZE ${SQL[$q]}" || true
    step "EXPLAIN ANALYZE $q: DuckDB"
    "$PY" "$DUCK" once "$metadata" "EXPLAIN ANALYZE ${SQL[$q]}" || true
  done
fi
