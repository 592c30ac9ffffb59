#!/usr/bin/env bash
# The unattended soak (docs/benchmarks.md, "Running for weeks"): the generator at a moderate
# rate and ingest committing every 100 ms with its background maintenance, against the tansu
# broker and the embedded lake, until every table has COMMITS commits. Every SAMPLE_EVERY it
# records ingest's resident memory, the newest metadata.json of each table, the data files of
# each table and the time of the seed's GROUP BY country query; then it prints, per window of
# 1,000 commits to db.bid_requests, commit duration p50/p99 (the catalog commit, from ingest's
# log), RSS (median and range of the window's samples), metadata.json size, data files and
# query time (whole command and in process, under the soak's load), and, on the idle machine
# after it, the query on the table as left and on the same rows fully compacted. Release build.
#   scripts/soak-commits.sh                 # 10,000 commits per table (~30 min on 2 cores)
# 50 bid requests/s with a funnel of 0.9/0.9/0.5: every table gets rows in (nearly) every 100 ms
# batch, bid_requests about 5 files per commit (one per country).
#   COMMITS=2000 scripts/soak-commits.sh    # a quicker look
#   LEFT_DIR=/var/tmp/soak-left scripts/soak-commits.sh
#                                           # also keeps a copy of the lake as the soak left it
#                                           # (for scripts/bench-query.sh DATA_DIR=...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
COMMITS="${COMMITS:-10000}"
RATE="${RATE:-50}"
INTERVAL="${INTERVAL:-100ms}"
SAMPLE_EVERY="${SAMPLE_EVERY:-30}"
# Maintenance as `up` runs it, on a schedule fitted to a commit every 100 ms instead of every
# 10 s: a round every 10 s, snapshots kept for 1 minute (the ~500 snapshots `up`'s 1 h keeps).
MAINTAIN_ARGS=(--maintain --maintain-every "${MAINTAIN_EVERY:-10s}"
  --maintain-retain-snapshots "${RETAIN:-1m}")
QUERY="SELECT device_geo_country, COUNT(*) AS requests FROM db.bid_requests GROUP BY device_geo_country ORDER BY requests DESC"

step() { printf '\n==> %s\n' "$*" >&2; }

TANSU_BIN="$(scripts/install-tansu.sh)"
if [[ -z "${BIDLAKE:-}" ]]; then
  step "building (release)"
  scripts/build.sh --release >&2
  BIDLAKE="$CARGO_TARGET_DIR/release/bidlake"
fi

work="${SOAK_DIR:-$(mktemp -d)}"
mkdir -p "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -z "${SOAK_DIR:-}" ]] && rm -rf "$work"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "settings: $RATE requests/s (funnel shares 0.9/0.9/0.5), commit interval $INTERVAL, ${MAINTAIN_ARGS[*]}"

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

# Every table gets an event in (nearly) every 100 ms batch.
"$BIDLAKE" gen --rate "$RATE" --bid-response-rate 0.9 --win-rate 0.9 --click-rate 0.5 \
  >"$work/gen.log" 2>&1 &
pids+=($!)
"$BIDLAKE" ingest --assignment all --commit-interval "$INTERVAL" "${MAINTAIN_ARGS[@]}" \
  >/dev/null 2>"$work/ingest.log" &
ingest=$!
pids+=("$ingest")

metadata_size() { # bytes of the newest metadata.json of a table
  ls -t "$work/data/warehouse/db/$1/metadata/"*.metadata.json 2>/dev/null | head -1 | xargs -r stat -c %s
}
data_files() { # data files of a table's current snapshot, from `bidlake status`
  "$BIDLAKE" status --dashboard-url http://127.0.0.1:1 2>/dev/null | awk -v t="db.$1" '$1 == t { print $3 }'
}
query_ms() { # "whole_command_ms in_process_ms" of one run of the query
  local start end inside
  start=$(date +%s%N)
  inside=$("$BIDLAKE" query --timing "$QUERY" 2>&1 >/dev/null | sed -n 's/^query took \([0-9.]*\) ms$/\1/p')
  end=$(date +%s%N)
  echo "$(((end - start) / 1000000)) ${inside:-0}"
}
median_of_5() { # "whole in_process" medians of 5 runs of the query
  local runs
  runs=$(for _ in 1 2 3 4 5; do query_ms; done)
  echo "$(cut -d' ' -f1 <<<"$runs" | sort -n | sed -n 3p) $(cut -d' ' -f2 <<<"$runs" | sort -n | sed -n 3p)"
}

step "soaking until every table has $COMMITS commits (samples every ${SAMPLE_EVERY}s in $work/samples)"
echo "time commits rss_kib meta_bid_requests meta_clicks files_bid_requests files_bid_responses files_impressions files_clicks query_ms query_in_process_ms" >"$work/samples"
while kill -0 "$ingest" 2>/dev/null; do
  sleep "$SAMPLE_EVERY"
  fewest=$(for t in bid_requests bid_responses impressions clicks; do
    grep -c "committed table=\"$t\"" "$work/ingest.log" || true
  done | sort -n | head -1)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$ingest/status" 2>/dev/null || echo 0)
  echo "$(date +%s) $fewest $rss $(metadata_size bid_requests) $(metadata_size clicks) \
$(data_files bid_requests) $(data_files bid_responses) $(data_files impressions) $(data_files clicks) \
$(query_ms)" >>"$work/samples"
  tail -1 "$work/samples" >&2
  ((fewest >= COMMITS)) && break
done
kill -INT "$ingest" 2>/dev/null || true
wait "$ingest" || true

# The windows' queries ran beside ingest, maintenance, generator and broker; these two run on
# the idle machine: the table as the soak left it, then the same rows fully compacted.
step "the table as left, then fully compacted (idle)"
left_files=$(data_files bid_requests)
if [[ -n "${LEFT_DIR:-}" ]]; then
  rm -rf "$LEFT_DIR" && cp -a "$work/data" "$LEFT_DIR"
fi
left=$(median_of_5)
"$BIDLAKE" maintain --compact --table bid_requests >/dev/null
compacted_files=$(data_files bid_requests)
compacted=$(median_of_5)

python3 - "$work/ingest.log" "$work/samples" "$left" "$left_files" "$compacted" "$compacted_files" <<'EOF'
import re, sys
from datetime import datetime
log, samples = sys.argv[1], sys.argv[2]
left, left_files = [float(x) for x in sys.argv[3].split()], sys.argv[4]
compacted, compacted_files = [float(x) for x in sys.argv[5].split()], sys.argv[6]
commit = re.compile(r'^(\S+)Z\s+INFO \S+ committed table="(\w+)".* took_ms=([\d.]+)')
by_table = {}
for line in open(log):
    m = commit.match(line)
    if m:
        at = datetime.fromisoformat(m.group(1) + "+00:00").timestamp()
        by_table.setdefault(m.group(2), []).append((at, float(m.group(3))))
rows = [l.split() for l in open(samples).read().splitlines()[1:]]
rows = [[float(x) for x in r] for r in rows if len(r) == 11]
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float('nan')
main = by_table.get("bid_requests", [])
counts = {t: len(c) for t, c in by_table.items()}
print("commits per table:", ", ".join(f"{t} {n}" for t, n in sorted(counts.items())))
print("window (bid_requests commits) | commit p50 ms | p99 ms (all tables) | RSS MiB (median, min-max of the samples) | metadata.json KB | data files (req/resp/imp/click) | GROUP BY country ms (whole command / in process)")
print("---|---|---|---|---|---|---")
for start in range(0, len(main), 1000):
    window = main[start:start + 1000]
    if len(window) < 1000:
        break
    t0, t1 = window[0][0], window[-1][0]
    took = [ms for c in by_table.values() for at, ms in c if t0 <= at <= t1]
    inside = [r for r in rows if t0 <= r[0] <= t1 + 1] or [min(rows, key=lambda r: abs(r[0] - t1))]
    last = inside[-1]
    q = sorted(r[9] for r in inside)
    qi = sorted(r[10] for r in inside)
    rss = sorted(r[2] / 1024 for r in inside)
    print(f"{start:,}-{start + 1000:,} | {pct(took, .5):.1f} | {pct(took, .99):.1f} | "
          f"{rss[len(rss) // 2]:.0f} ({rss[0]:.0f}-{rss[-1]:.0f}) | {last[3] / 1024:.0f} | "
          f"{last[5]:.0f}/{last[6]:.0f}/{last[7]:.0f}/{last[8]:.0f} | "
          f"{q[len(q) // 2]:.0f} / {qi[len(qi) // 2]:.1f}")
rss = [r[2] / 1024 for r in rows]
print(f"RSS over the run: min {min(rss):.0f} MiB, max {max(rss):.0f} MiB")
print("GROUP BY country, idle, median of 5: whole command / in process")
print(f"  the table as the soak left it ({left_files} files): {left[0]:.0f} ms / {left[1]:.1f} ms")
print(f"  the same rows fully compacted ({compacted_files} files): {compacted[0]:.0f} ms / {compacted[1]:.1f} ms")
print(f"  ratio: {left[0] / compacted[0]:.2f}x / {left[1] / max(compacted[1], 0.1):.2f}x")
EOF
