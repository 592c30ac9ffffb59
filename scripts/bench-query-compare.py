"""Whether two engines' CSV results (no header) hold the same rows: numbers equal to 1e-9
relative or one unit in their last printed decimal place (rounding of sums added in another
order), times equal as instants (2026-12-01T10:00:00Z and 2026-12-01 10:00:00+00:00 are one),
booleans and nulls in either spelling. Rows compared in order when both are sorted the same, else
as multisets. Arguments: BIDLAKE_CSV DUCKDB_CSV. Exit status 1 and the first difference if not.
"""

import csv
import math
import sys
from datetime import datetime


class Number(float):
    """A number and the decimals it was printed with."""

    def __new__(cls, text):
        number = super().__new__(cls, text)
        number.decimals = len(text.split(".")[1]) if "." in text and "e" not in text.lower() else 0
        return number


def value(text):
    lowered = text.strip().lower()
    if lowered in ("", "null", "none"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return Number(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return text


def same(a, b):
    if isinstance(a, Number) and isinstance(b, Number):
        # ROUND(x, 4) of sums added in another order can land on either side of a rounding
        # boundary: one unit in the last printed place apart is the same number.
        last_place = 10.0 ** -max(a.decimals, b.decimals) if a.decimals or b.decimals else 0
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=max(1e-9, last_place * 1.000001))
    return a == b


def rows(path):
    with open(path, newline="") as f:
        return [[value(v) for v in row] for row in csv.reader(f)]


def key(row):
    return [(v is None, str(round(v, 3)) if isinstance(v, float) else str(v)) for v in row]


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
