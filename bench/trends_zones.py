#!/usr/bin/env python3
"""Trends in time zones other than UTC: liucun against DuckDB, numbers only (no timings).

    trends_zones.py EVENTS      # after bench/run.sh trends EVENTS has prepared bench/data/EVENTS

For America/New_York (a DST change on 2025-03-09), Asia/Kolkata (+05:30) and Pacific/Chatham (+13:45), the `month`
window of bench/trends.py (2025-03-01 .. 2025-03-31 local) with `total`, `dau`, `wau` and `mau` any activity. DuckDB
computes them with a different plan from bench/trends.py's: local days through `timezone(zone, timestamp)`, and every
point as `count(DISTINCT person)` over a range join of the days with the (person, day) pairs. Prints one line per
report and exits 1 on any difference.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import harness
from harness import AS_OF, NON_ACTIVITY, sql_list

ZONES = ["America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
FIRST, LAST = dt.date(2025, 3, 1), dt.date(2025, 3, 31)
SERIES = {"total": 0, "dau": 1, "wau": 7, "mau": 30}  # days per rolling window (0: events, not persons)


def duckdb_points(con, events: str, zone: str, w: int) -> list[int]:
    n = (LAST - FIRST).days + 1
    day = f"CAST(timezone('{zone}', e.timestamp) AS DATE)"
    start = FIRST - dt.timedelta(days=max(w, 1) - 1)
    where = (f"e.event NOT IN ({sql_list(NON_ACTIVITY)}) AND {day} BETWEEN DATE '{start}' AND DATE '{LAST}' "
             f"AND e.timestamp < TIMESTAMPTZ '{AS_OF}'")
    if w == 0:
        sql = f"SELECT {day} - DATE '{FIRST}' AS i, count(*) FROM {events} AS e WHERE {where} GROUP BY i"
    else:
        sql = f"""
WITH valid_merges AS ({harness.duckdb_merges(events)}
),
person_days AS (
    SELECT DISTINCT coalesce(m.person, e.distinct_id) AS person, {day} - DATE '{FIRST}' AS i
    FROM {events} AS e LEFT JOIN valid_merges AS m ON m.anon = e.distinct_id WHERE {where}
)
SELECT d.i, count(DISTINCT person)
FROM range(0, {n}) AS d(i) JOIN person_days AS p ON p.i BETWEEN d.i - {w - 1} AND d.i
GROUP BY d.i"""
    got = dict(con.execute(sql).fetchall())
    return [got.get(i, 0) for i in range(n)]


def main() -> int:
    import duckdb
    events = int(sys.argv[1])
    parquet, data_dir, project, _meta = harness.prepare(events)
    harness.check_identity_shape(parquet)
    con = duckdb.connect()
    source = f"read_parquet('{parquet}')"
    differences = 0
    for zone in ZONES:
        for series, w in SERIES.items():
            out = harness.run([str(harness.LIUCUN), "--data", str(data_dir), "trends", "-p", project,
                               "--interval", "day", "--series", f"any:{series}", "--from", str(FIRST),
                               "--to", str(LAST), "--tz", zone, "--as-of", AS_OF, "--format", "json"]).stdout
            want = [p["value"] for p in json.loads(out)["series"][0]["points"]]
            got = duckdb_points(con, source, zone, w)
            if got == want:
                print(f"{zone} {series}: {len(want)} points identical")
                continue
            differences += 1
            k = next(i for i in range(len(want)) if i >= len(got) or got[i] != want[i])
            print(f"{zone} {series}: differs on {FIRST + dt.timedelta(days=k)}: "
                  f"duckdb {got[k] if k < len(got) else None}, liucun {want[k]}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
