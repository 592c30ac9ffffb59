"""Another engine changing a bidlake table through bidlake's REST catalog, as a user's Spark or
PyIceberg job would, and printing the table's current snapshot summary as JSON:

  append (default): a copy of one row, its kafka_offset set to -1 (so it is not taken for a
                    record ingest wrote)
  --add-column NAME: a new optional string column
  --rename OLD:NEW: a column renamed

  other_writer.py --uri http://127.0.0.1:PORT --table db.bid_requests [--token T] [change]
"""

import argparse
import json

import pyarrow as pa
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.types import StringType


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--token")
    parser.add_argument("--add-column")
    parser.add_argument("--rename")
    args = parser.parse_args()
    props = {"uri": args.uri}
    if args.token:
        props["token"] = args.token
    table = RestCatalog("bidlake", **props).load_table(args.table)
    if args.add_column:
        with table.update_schema() as update:
            update.add_column(args.add_column, StringType())
    elif args.rename:
        old, new = args.rename.split(":")
        with table.update_schema() as update:
            update.rename_column(old, new)
    else:
        row = table.scan(limit=1).to_arrow().slice(0, 1)
        index = row.schema.get_field_index("kafka_offset")
        row = row.set_column(index, row.schema.field(index), pa.array([-1], pa.int64()))
        table.append(row)
    table = table.refresh()
    summary = table.current_snapshot().summary
    print(json.dumps({"snapshot_id": table.current_snapshot().snapshot_id,
                      "summary": {k: v for k, v in summary.additional_properties.items()}}))


if __name__ == "__main__":
    main()
