"""Drives bidlake's Iceberg REST catalog (`bidlake catalog serve`) with an independent client,
PyIceberg's RestCatalog, and prints what it observed as JSON for the Rust test to check.

  exercise: the lifecycle engines use (namespaces, properties, create, append, load, scan,
            a stale concurrent append answered by 409 and retried, rename, purge, errors)
  read:     scan a table through the REST catalog: row count, distinct ids, column sums
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchTableError,
)
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType


def catalog(args):
    props = {"uri": args.uri}
    if args.token:
        props["token"] = args.token
    if args.credential:
        props["credential"] = args.credential
    return RestCatalog("bidlake", **props)


def http(method, url, token=None, body=None):
    """A raw request: (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, json.loads(text) if text else None


def rows(start, countries):
    return pa.table(
        {
            "id": pa.array(range(start, start + len(countries)), pa.int64()),
            "country": pa.array(countries, pa.string()),
        }
    )


def exercise(args):
    out = {}
    cat = catalog(args)
    base = args.uri.rstrip("/")

    # The seed's `curl http://localhost:8181/v1/namespaces/db/tables`.
    status, body = http("GET", f"{base}/v1/namespaces/db/tables", args.token)
    out["seed_curl"] = {"status": status, "tables": sorted(i["name"] for i in body["identifiers"])}
    out["unauthenticated"] = http("GET", f"{base}/v1/namespaces")

    out["namespaces_before"] = sorted(".".join(n) for n in cat.list_namespaces())
    cat.create_namespace("py", {"owner": "tests", "temp": "x"})
    try:
        cat.create_namespace("py")
        out["duplicate_namespace"] = "no error"
    except NamespaceAlreadyExistsError:
        out["duplicate_namespace"] = "NamespaceAlreadyExistsError"
    summary = cat.update_namespace_properties("py", removals={"temp", "never-set"}, updates={"team": "adtech"})
    out["properties_update"] = {
        "updated": sorted(summary.updated),
        "removed": sorted(summary.removed),
        "missing": sorted(summary.missing),
    }
    out["properties"] = cat.load_namespace_properties("py")
    out["namespaces_after"] = sorted(".".join(n) for n in cat.list_namespaces())

    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "country", StringType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="country"))
    # PyIceberg retries a refused commit itself; with retries off the 409 reaches the caller.
    table = cat.create_table(
        "py.events", schema=schema, partition_spec=spec, properties={"commit.retry.num-retries": "0"}
    )
    out["table_exists"] = cat.table_exists("py.events")
    table.append(rows(1, ["USA", "DEU", "USA"]))

    # Two writers load the same version; the second one's append is stale.
    first = cat.load_table("py.events")
    second = cat.load_table("py.events")
    first.append(rows(4, ["FRA", "USA"]))
    try:
        second.append(rows(6, ["DEU", "DEU"]))
        out["stale_append"] = "no error"
    except CommitFailedException:
        out["stale_append"] = "CommitFailedException"
    second = cat.load_table("py.events")
    second.append(rows(6, ["DEU", "DEU"]))

    # With PyIceberg's own retries on, the stale writer's 409 is retried on fresh metadata.
    with cat.load_table("py.events").transaction() as tx:
        tx.set_properties({"commit.retry.num-retries": "4"})
    first = cat.load_table("py.events")
    second = cat.load_table("py.events")
    first.append(rows(8, ["USA"]))
    second.append(rows(9, ["DEU"]))

    # A raw commit with a stale requirement: the spec's 409 body.
    stale_id = first.metadata.current_snapshot_id
    status, body = http(
        "POST",
        f"{base}/v1/namespaces/py/tables/events",
        args.token,
        {
            "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": stale_id}],
            "updates": [{"action": "set-properties", "updates": {"x": "y"}}],
        },
    )
    out["raw_stale_commit"] = {"status": status, "type": body["error"]["type"], "code": body["error"]["code"]}

    loaded = cat.load_table("py.events")
    scanned = loaded.scan().to_arrow()
    out["rows"] = scanned.num_rows
    out["id_sum"] = pc.sum(scanned["id"]).as_py()
    out["snapshots"] = len(loaded.snapshots())
    out["deu_rows"] = loaded.scan(row_filter="country == 'DEU'").to_arrow().num_rows

    cat.rename_table("py.events", "py.events_renamed")
    out["tables_after_rename"] = sorted(i[-1] for i in cat.list_tables("py"))

    scratch = cat.create_table("py.scratch", schema=schema)
    scratch.append(rows(100, ["USA"]))
    location = scratch.metadata.location
    cat.purge_table("py.scratch")
    out["purged_location_exists"] = os.path.exists(location.removeprefix("file://"))
    out["tables_after_purge"] = sorted(i[-1] for i in cat.list_tables("py"))

    try:
        cat.drop_namespace("py")
        out["drop_non_empty_namespace"] = "no error"
    except NamespaceNotEmptyError:
        out["drop_non_empty_namespace"] = "NamespaceNotEmptyError"
    try:
        cat.load_table("py.missing")
        out["missing_table"] = "no error"
    except NoSuchTableError:
        out["missing_table"] = "NoSuchTableError"
    cat.create_namespace("empty")
    cat.drop_namespace("empty")
    out["namespaces_end"] = sorted(".".join(n) for n in cat.list_namespaces())
    return out


def read(args):
    table = catalog(args).load_table(args.table)
    data = table.scan().to_arrow()
    out = {"count": data.num_rows, "sums": {}}
    if args.distinct:
        out["distinct"] = len(pc.unique(data[args.distinct]))
    for column in args.sum:
        value = pc.sum(data[column]).as_py()
        out["sums"][column] = float(value) if value is not None else None
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["exercise", "read"])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--token")
    parser.add_argument("--credential")
    parser.add_argument("--table")
    parser.add_argument("--distinct")
    parser.add_argument("--sum", action="append", default=[])
    args = parser.parse_args()
    result = exercise(args) if args.action == "exercise" else read(args)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
