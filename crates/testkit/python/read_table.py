"""Reads one Iceberg table with two independent readers, PyIceberg and DuckDB, and prints what
each saw as JSON: {"pyiceberg": {"count": N, "sums": {col: x}}, "duckdb": {...}}.

The test suite runs it with the venv of scripts/install-python.sh to check that what bidlake
writes is a table other engines read, with the same rows.
"""

import argparse
import json
import os
import sys

import duckdb
import duckdb_extension_avro
import duckdb_extension_httpfs
import duckdb_extension_iceberg
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog


def extension_path(module, name):
    base = os.path.join(os.path.dirname(module.__file__), "extensions")
    (version,) = os.listdir(base)
    return os.path.join(base, version, f"{name}.duckdb_extension")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog-uri", required=True, help="sqlite:////path/catalog.db")
    parser.add_argument("--catalog-name", default="bidlake")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--table", required=True, help="namespace.table")
    parser.add_argument("--sum", action="append", default=[], help="a numeric column to sum")
    parser.add_argument("--s3-endpoint")
    args = parser.parse_args()

    props = {"uri": args.catalog_uri, "warehouse": args.warehouse}
    if args.s3_endpoint:
        props.update(
            {
                "s3.endpoint": args.s3_endpoint,
                "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
                "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
                "s3.region": os.environ.get("AWS_REGION", "us-east-1"),
                "s3.force-virtual-addressing": "false",
            }
        )
    catalog = SqlCatalog(args.catalog_name, **props)
    table = catalog.load_table(args.table)
    data = table.scan().to_arrow()
    pyiceberg = {
        "count": data.num_rows,
        "sums": {c: pc.sum(data[c]).as_py() for c in args.sum},
    }

    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    for module, name in [
        (duckdb_extension_avro, "avro"),
        (duckdb_extension_httpfs, "httpfs"),
        (duckdb_extension_iceberg, "iceberg"),
    ]:
        con.execute(f"LOAD '{extension_path(module, name)}'")
    if args.s3_endpoint:
        endpoint = args.s3_endpoint.split("://", 1)
        con.execute(
            "CREATE SECRET lake (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, "
            "URL_STYLE 'path', USE_SSL ?)",
            [
                os.environ["AWS_ACCESS_KEY_ID"],
                os.environ["AWS_SECRET_ACCESS_KEY"],
                os.environ.get("AWS_REGION", "us-east-1"),
                endpoint[1],
                endpoint[0] == "https",
            ],
        )
    sums = ", ".join(f'sum("{c}")' for c in args.sum)
    select = "count(*)" + (", " + sums if sums else "")
    row = con.execute(
        f"SELECT {select} FROM iceberg_scan(?)", [table.metadata_location]
    ).fetchone()
    duck = {
        "count": row[0],
        "sums": {c: (float(v) if v is not None else None) for c, v in zip(args.sum, row[1:])},
    }
    json.dump({"pyiceberg": pyiceberg, "duckdb": duck}, sys.stdout)


if __name__ == "__main__":
    main()
