#!/usr/bin/env bash
# The cost and freshness of the aggregate tables (docs/benchmarks.md, "Aggregate tables"): the
# generator at RATE bid requests/s for DURATION, `bidlake ingest` committing every 1 s and
# `bidlake aggregate` catching up every 1 s, as separate processes against the tansu broker and
# the embedded lake. Prints the CPU seconds each process used (from /proc, at the end) and their
# ratio per bid request, and the aggregate freshness: for each commit to db.bid_requests, the time
# until the first commit of db.hourly_funnel_by_publisher that consumed it (p50/p99/max, from the
# two tables' snapshot histories), and the peak RSS of each. Release build.
#   scripts/bench-aggregate.sh                     # 1,000 requests/s for 3 minutes
#   RATE=200 DURATION=60s scripts/bench-aggregate.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
RATE="${RATE:-1000}"
DURATION="${DURATION:-3m}"
INTERVAL="${INTERVAL:-1s}"

step() { printf '\n==> %s\n' "$*" >&2; }

TANSU_BIN="$(scripts/install-tansu.sh)"
if [[ -z "${BIDLAKE:-}" ]]; then
  step "building (release)"
  scripts/build.sh --release >&2
  BIDLAKE="$CARGO_TARGET_DIR/release/bidlake"
fi

work="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -z "${BENCH_DIR:-}" ]] && rm -rf "$work"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "settings: $RATE requests/s for $DURATION, commit and aggregate interval $INTERVAL"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$work/broker"
(cd "$work/broker" && exec "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" \
  --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine sqlite://tansu.db \
  >tansu.log 2>&1) &
pids+=($!)
export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$port" BIDLAKE_DATA_DIR="$work/data"
unset CATALOG_URI WAREHOUSE
export BIDLAKE_LOG=info,rdkafka=warn,librdkafka=warn
"$BIDLAKE" setup >/dev/null

peak_rss() { # the high-water mark of a running process's resident memory
  awk '/^VmHWM/ { printf "%d MiB", $2 / 1024 }' "/proc/$1/status"
}
cpu_seconds() { # user + system CPU seconds of a running process
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

"$BIDLAKE" ingest --assignment all --commit-interval "$INTERVAL" >/dev/null 2>"$work/ingest.log" &
ingest=$!
pids+=("$ingest")
"$BIDLAKE" aggregate --aggregate-interval "$INTERVAL" >/dev/null 2>"$work/aggregate.log" &
aggregate=$!
pids+=("$aggregate")
step "generating $RATE requests/s for $DURATION"
"$BIDLAKE" gen --rate "$RATE" --duration "$DURATION" >"$work/gen.log" 2>&1
sleep 5 # the last commits and rounds
ingest_cpu=$(cpu_seconds "$ingest")
aggregate_cpu=$(cpu_seconds "$aggregate")
ingest_rss=$(peak_rss "$ingest")
aggregate_rss=$(peak_rss "$aggregate")
kill -INT "$ingest" "$aggregate"
wait "$ingest" "$aggregate" 2>/dev/null || true

requests=$("$BIDLAKE" query --format csv "SELECT COUNT(*) FROM db.bid_requests" | tail -1)
echo
echo "bid requests ingested: $requests"
echo "CPU: ingest ${ingest_cpu} s, aggregate ${aggregate_cpu} s" \
  "($(python3 -c "print(round(100 * $aggregate_cpu / $ingest_cpu))")% of ingest)"
echo "per bid request: ingest $(python3 -c "print(round(1e6 * $ingest_cpu / $requests, 1))") µs," \
  "aggregate $(python3 -c "print(round(1e6 * $aggregate_cpu / $requests, 1))") µs"
echo "peak RSS: ingest $ingest_rss, aggregate $aggregate_rss"

"$BIDLAKE" query --format json "SELECT snapshot_id, committed_at FROM db.\"bid_requests\$snapshots\"" \
  >"$work/raw.json"
"$BIDLAKE" query --format json \
  "SELECT committed_at, summary['bidlake.aggregate.bid_requests.snapshot-id'] AS consumed FROM db.\"hourly_funnel_by_publisher\$snapshots\"" \
  >"$work/agg.json"
python3 - "$work/raw.json" "$work/agg.json" <<'PY'
import json, sys
from datetime import datetime
def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
raw = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
agg = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
order = {int(r["snapshot_id"]): i for i, r in enumerate(sorted(raw, key=lambda r: when(r["committed_at"])))}
raw_sorted = sorted(raw, key=lambda r: when(r["committed_at"]))
rounds = sorted(((when(a["committed_at"]), order.get(int(a["consumed"]), -1)) for a in agg if a.get("consumed")))
delays = []
for i, r in enumerate(raw_sorted):
    t = when(r["committed_at"])
    seen = next((at for at, upto in rounds if upto >= i), None)
    if seen is not None:
        delays.append(seen - t)
delays.sort()
if not delays:
    print("freshness: no aggregate round consumed a commit")
else:
    q = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))]
    print(f"aggregate freshness over {len(delays)} commits to bid_requests: "
          f"p50 {q(0.5):.2f} s, p99 {q(0.99):.2f} s, max {delays[-1]:.2f} s "
          "(from the raw commit to the aggregate commit that includes it)")
PY
