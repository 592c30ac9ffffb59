"""The summary of scripts/bench-query.sh: one row per query with bidlake's and DuckDB's times in
process and as whole commands, their ratios, and (with COMPACT_COPY=1) bidlake's time on the
compacted copy. Arguments: RUNS_FILE INPROC_FILE DUCKDB_JSONL QUERY...
"""

import json
import statistics
import sys


def main():
    runs, inproc, duck, queries = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    times, cpus, rss = {}, {}, {}
    for line in open(runs):
        q, mode, wall, cpu, kib = line.split()
        times.setdefault((q, mode), []).append(float(wall))
        cpus.setdefault((q, mode), []).append(float(cpu))
        rss[(q, mode)] = max(rss.get((q, mode), 0), int(kib))
    for line in open(inproc):
        q, mode, seconds = line.split()
        times.setdefault((q, mode), []).append(float(seconds))
    head = json.loads(open(duck).readline())
    print(f"DuckDB {head['version']}, threads={head['threads']}; extension load (avro + iceberg) "
          f"{head['extension_load_s'] * 1000:.0f} ms, excluded from its in-process times")

    def ms(q, mode):
        return statistics.median(times[(q, mode)]) * 1000 if (q, mode) in times else float("nan")

    compacted = any(mode == "bidlake_compacted" for _, mode in times)
    print()
    print("| query | bidlake in process | DuckDB in process | ratio | bidlake command | "
          "DuckDB command | ratio | bidlake CPU-s, peak RSS |"
          + (" bidlake, compacted copy | as loaded / compacted |" if compacted else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|---|" if compacted else ""))
    met = 0
    for q in queries:
        bi, di = ms(q, "bidlake_inproc"), ms(q, "duckdb_inproc")
        bc, dc = ms(q, "bidlake"), ms(q, "duckdb_cmd")
        met += bi <= 1.5 * di
        row = (f"| {q} | {bi:.1f} ms | {di:.1f} ms | {bi / di:.2f}x | {bc:.0f} ms | {dc:.0f} ms | "
               f"{bc / dc:.2f}x | {statistics.median(cpus[(q, 'bidlake')]):.2f}, "
               f"{rss[(q, 'bidlake')] / 1024:.0f} MiB |")
        if compacted:
            cc = ms(q, "bidlake_compacted")
            row += f" {cc:.1f} ms | {bi / cc:.2f}x |"
        print(row)
    print()
    print(f"in process, within 1.5x of DuckDB: {met} of {len(queries)} queries "
          f"(medians of {len(times[(queries[0], 'bidlake_inproc')])} runs)")


if __name__ == "__main__":
    main()
