"""DuckDB's side of scripts/bench-query.sh: runs SQL over an Iceberg table with DuckDB's iceberg
extension (`iceberg_scan` of the table's current metadata file, extensions LOADed from the pip
wheels by path, no network), in one of two modes:

  once METADATA SQL          load the extensions, run SQL once, print the result rows as CSV
                             (the caller times the whole command: interpreter start, import,
                             extension load, metadata read and query)
  repeat METADATA RUNS SQL…  in this one process: load the extensions (timed apart), then for
                             each SQL one warm-up and RUNS timed runs of execute + fetchall;
                             prints one JSON object per line

In SQL, the table is written `db.bid_requests`; it is replaced by `iceberg_scan('METADATA')`.
"""

import json
import os
import sys
import time

import duckdb
import duckdb_extension_avro
import duckdb_extension_iceberg


def extension_path(module, name):
    base = os.path.join(os.path.dirname(module.__file__), "extensions")
    (version,) = os.listdir(base)
    return os.path.join(base, version, f"{name}.duckdb_extension")


def connect():
    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    for module, name in [(duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")]:
        con.execute(f"LOAD '{extension_path(module, name)}'")
    return con


def on_table(sql, metadata):
    return sql.replace("db.bid_requests", f"iceberg_scan('{metadata}')")


def main():
    mode, metadata = sys.argv[1], sys.argv[2]
    if mode == "once":
        rows = connect().execute(on_table(sys.argv[3], metadata)).fetchall()
        for row in rows:
            print(",".join("" if v is None else str(v) for v in row))
        return
    runs = int(sys.argv[3])
    started = time.perf_counter()
    con = connect()
    load = time.perf_counter() - started
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({"extension_load_s": load, "threads": threads, "version": duckdb.__version__}))
    for sql in sys.argv[4:]:
        query = on_table(sql, metadata)
        times = []
        for i in range(runs + 1):  # the first is the warm-up
            started = time.perf_counter()
            rows = con.execute(query).fetchall()
            if i > 0:
                times.append(time.perf_counter() - started)
        print(json.dumps({"sql": sql, "times": times, "rows": len(rows), "first": str(rows[0])}))


if __name__ == "__main__":
    main()
