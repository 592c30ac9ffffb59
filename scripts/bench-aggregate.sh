#!/usr/bin/env bash
# The cost and freshness of the aggregate tables (docs/benchmarks.md, "Aggregate tables"): the
# generator at RATE bid requests/s for DURATION, `bidlake ingest` committing every INTERVAL and
# the aggregator catching up every INTERVAL, against the tansu broker and the embedded lake.
# AGGREGATOR says where the aggregator runs: `separate` (`bidlake aggregate`, a process of its
# own), `inside` (`bidlake ingest --aggregate`, as `up` runs it: it takes the rows ingest
# commits) or `none` (ingest alone, the baseline). Prints the CPU seconds each process used
# (from /proc, at the end), per bid request, and the aggregate freshness: for each commit to
# db.bid_requests, the time until the first commit of db.hourly_funnel_by_publisher that
# consumed it (p50/p99/max, from the two tables' snapshot histories), and the peak RSS of each.
# The CPU after the first WARMUP (default 30s) is printed too: the first round of an aggregator
# recomputes every hour and fills its memory, a cost paid once per process start, and its memory
# of recent events then grows for 20 minutes of event time; WARMUP=21m DURATION=24m measures the
# steady state after that. AGGREGATE_EVERY sets the aggregate interval (`--aggregate-interval`);
# unset, bidlake's default: inside ingest every other commit (twice INTERVAL), a process of its
# own every 10 s. Inside ingest a round starts on one of ingest's commits, so AGGREGATE_EVERY=10s
# with INTERVAL=10s aggregates on every commit.
# Release build.
#   scripts/bench-aggregate.sh                     # 1,000 requests/s for 3 minutes
#   RATE=200 DURATION=60s scripts/bench-aggregate.sh
#   AGGREGATOR=none scripts/bench-aggregate.sh; AGGREGATOR=inside scripts/bench-aggregate.sh
#   WARMUP=21m DURATION=24m INTERVAL=10s AGGREGATOR=inside scripts/bench-aggregate.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
RATE="${RATE:-1000}"
DURATION="${DURATION:-3m}"
INTERVAL="${INTERVAL:-1s}"
AGGREGATOR="${AGGREGATOR:-separate}"
AGGREGATE_EVERY="${AGGREGATE_EVERY:-}"
WARMUP="${WARMUP:-30s}"
seconds() { # 90, 90s, 2m or 1h in seconds
  python3 -c "import re,sys; m=re.fullmatch(r'(\d+)([smh]?)', sys.argv[1]); print(int(m[1])*{'':1,'s':1,'m':60,'h':3600}[m[2]]) if m else sys.exit(f'DURATION and WARMUP take 90, 90s, 2m or 1h, not {sys.argv[1]!r}')" "$1"
}
duration_s="$(seconds "$DURATION")"
warmup_s="$(seconds "$WARMUP")"
if ((warmup_s >= duration_s)); then
  echo "WARMUP ($WARMUP) must be shorter than DURATION ($DURATION)" >&2
  exit 2
fi
case "$AGGREGATOR" in
  separate | inside | none) ;;
  *) echo "AGGREGATOR must be separate, inside or none, not '$AGGREGATOR'" >&2; exit 2 ;;
esac

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
echo "settings: $RATE requests/s for $DURATION, commit interval $INTERVAL, aggregate interval ${AGGREGATE_EVERY:-the default}, aggregator $AGGREGATOR"

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

every=()
[[ -n "$AGGREGATE_EVERY" ]] && every=(--aggregate-interval "$AGGREGATE_EVERY")
inside=()
[[ "$AGGREGATOR" == inside ]] && inside=(--aggregate "${every[@]}")
"$BIDLAKE" ingest --assignment all --commit-interval "$INTERVAL" "${inside[@]}" \
  >/dev/null 2>"$work/ingest.log" &
ingest=$!
pids+=("$ingest")
if [[ "$AGGREGATOR" == separate ]]; then
  "$BIDLAKE" aggregate "${every[@]}" >/dev/null 2>"$work/aggregate.log" &
  aggregate=$!
  pids+=("$aggregate")
fi
step "generating $RATE requests/s for $DURATION"
"$BIDLAKE" gen --rate "$RATE" --duration "$DURATION" >"$work/gen.log" 2>&1 &
gen=$!
pids+=("$gen")
sleep "$warmup_s"
ingest_warm=$(cpu_seconds "$ingest")
[[ "$AGGREGATOR" == separate ]] && aggregate_warm=$(cpu_seconds "$aggregate")
wait "$gen"
sleep 5 # the last commits and rounds
ingest_cpu=$(cpu_seconds "$ingest")
ingest_rss=$(peak_rss "$ingest")
if [[ "$AGGREGATOR" == separate ]]; then
  aggregate_cpu=$(cpu_seconds "$aggregate")
  aggregate_rss=$(peak_rss "$aggregate")
  kill -INT "$ingest" "$aggregate"
  wait "$ingest" "$aggregate" 2>/dev/null || true
else
  kill -INT "$ingest"
  wait "$ingest" 2>/dev/null || true
fi

requests=$("$BIDLAKE" query --format csv "SELECT COUNT(*) FROM db.bid_requests" | tail -1)
per_request() { python3 -c "print(round(1e6 * $1 / $requests, 1))"; }
# The generator is paced: RATE requests a second from WARMUP to its end.
steady_requests=$((RATE * (duration_s - warmup_s)))
after_warmup() { # CPU seconds and µs per request after the warm-up
  python3 -c "c = $1 - $2; print(f'{c:.2f} s, {1e6 * c / $steady_requests:.1f} µs per bid request')"
}
echo
echo "bid requests ingested: $requests"
if [[ "$AGGREGATOR" == separate ]]; then
  echo "CPU: ingest ${ingest_cpu} s, aggregate ${aggregate_cpu} s" \
    "($(python3 -c "print(round(100 * $aggregate_cpu / $ingest_cpu))")% of ingest)"
  echo "per bid request: ingest $(per_request "$ingest_cpu") µs, aggregate $(per_request "$aggregate_cpu") µs"
  echo "after the first $WARMUP: ingest $(after_warmup "$ingest_cpu" "$ingest_warm")," \
    "aggregate $(after_warmup "$aggregate_cpu" "$aggregate_warm")"
  echo "peak RSS: ingest $ingest_rss, aggregate $aggregate_rss"
else
  label="alone"
  [[ "$AGGREGATOR" == inside ]] && label="with the aggregator inside"
  echo "CPU: ingest ($label) ${ingest_cpu} s, $(per_request "$ingest_cpu") µs per bid request"
  echo "after the first $WARMUP: $(after_warmup "$ingest_cpu" "$ingest_warm")"
  echo "peak RSS: ingest $ingest_rss"
fi
[[ "$AGGREGATOR" == none ]] && exit 0

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
