"""DuckDB's side of scripts/bench-query.sh: runs SQL over Iceberg tables with DuckDB's iceberg
extension (`iceberg_scan` of each table's current metadata file, extensions LOADed from the pip
wheels by path, no network), in one of two modes:

  once TABLES SQL            load the extensions, run SQL once, print the result rows as CSV
                             (the caller times the whole command: interpreter start, import,
                             extension load, metadata read and query)
  repeat TABLES RUNS SQL...  in this one process: load the extensions (timed apart), then for
                             each SQL one warm-up and RUNS timed runs of execute + fetch (as Arrow);
                             prints one JSON object per line

TABLES is a JSON object of table name to metadata file, e.g. {"bid_requests": "/x/….json"}. In
SQL, a table after FROM or JOIN (`bid_requests` or `db.bid_requests`) is replaced by
`iceberg_scan('METADATA')`. THREADS (environment) sets DuckDB's threads.
"""

import json
import os
import re
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
    if os.environ.get("THREADS"):
        con.execute(f"SET threads = {int(os.environ['THREADS'])}")
    return con


def on_tables(sql, tables):
    def scan(match):
        return f"{match.group(1)} iceberg_scan('{tables[match.group(3)]}')"

    names = "|".join(re.escape(name) for name in tables)
    return re.sub(rf"\b(FROM|JOIN)\s+(db\.)?({names})\b", scan, sql, flags=re.IGNORECASE)


def fetch(con, query):
    """The result's rows, through Arrow: DuckDB's own fetchall needs pytz for TIMESTAMPTZ."""
    table = con.execute(query).to_arrow_table()
    return [tuple(row.values()) for row in table.to_pylist()]


def main():
    mode, tables = sys.argv[1], json.loads(sys.argv[2])
    if mode == "once":
        for row in fetch(connect(), on_tables(sys.argv[3], tables)):
            print(",".join("" if v is None else str(v) for v in row))
        return
    runs = int(sys.argv[3])
    started = time.perf_counter()
    con = connect()
    load = time.perf_counter() - started
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({"extension_load_s": load, "threads": threads, "version": duckdb.__version__}))
    for sql in sys.argv[4:]:
        query = on_tables(sql, tables)
        times = []
        for i in range(runs + 1):  # the first is the warm-up
            started = time.perf_counter()
            rows = fetch(con, query)
            if i > 0:
                times.append(time.perf_counter() - started)
        print(json.dumps({"sql": sql, "times": times, "rows": len(rows), "first": str(rows[0])}))


if __name__ == "__main__":
    main()
