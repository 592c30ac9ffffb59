"""Whether two engines' CSV results (no header) hold the same rows: numbers equal to 1e-9
relative, times equal as instants (2026-12-01T10:00:00Z and 2026-12-01 10:00:00+00:00 are one),
booleans and nulls in either spelling. Rows compared in order when both are sorted the same, else
as multisets. Arguments: BIDLAKE_CSV DUCKDB_CSV. Exit status 1 and the first difference if not.
"""

import csv
import math
import sys
from datetime import datetime


def value(text):
    lowered = text.strip().lower()
    if lowered in ("", "null", "none"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return text


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def rows(path):
    with open(path, newline="") as f:
        return [[value(v) for v in row] for row in csv.reader(f)]


def key(row):
    return [(v is None, str(round(v, 6)) if isinstance(v, float) else str(v)) for v in row]


def main():
    left, right = rows(sys.argv[1]), rows(sys.argv[2])
    if len(left) != len(right):
        print(f"{len(left)} rows against {len(right)}", file=sys.stderr)
        sys.exit(1)
    for ordered in (left, right), (sorted(left, key=key), sorted(right, key=key)):
        if all(len(a) == len(b) and all(map(same, a, b)) for a, b in zip(*ordered)):
            return
    for a, b in zip(sorted(left, key=key), sorted(right, key=key)):
        if not (len(a) == len(b) and all(map(same, a, b))):
            print(f"first difference: {a} against {b}", file=sys.stderr)
            break
    sys.exit(1)


if __name__ == "__main__":
    main()
