"""Validates a compose file against the compose specification's JSON schema.

On success prints the file as JSON (YAML anchors and merge keys resolved, nothing interpolated)
and exits 0; otherwise prints one line per error, `path: message`, to stderr and exits 1.
The test suite (crates/bidlake/tests/deploy.rs) runs it with the venv of scripts/install-python.sh
on docker-compose.yml and on deliberately broken copies of it.
"""

import argparse
import json
import sys

import yaml
from jsonschema.validators import validator_for


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True, help="compose-spec.json")
    parser.add_argument("compose", help="the compose file")
    args = parser.parse_args()

    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    # The schema names its draft (2019-09); an unknown draft must not pass silently.
    cls = validator_for(schema, default=None)
    if cls is None:
        print(f"unknown $schema {schema.get('$schema')!r}", file=sys.stderr)
        return 2
    cls.check_schema(schema)

    with open(args.compose, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    errors = sorted(
        cls(schema).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]
    )
    for error in errors:
        path = "/".join(str(p) for p in error.absolute_path) or "<root>"
        print(f"{path}: {error.message}", file=sys.stderr)
    if errors:
        return 1
    json.dump(document, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
