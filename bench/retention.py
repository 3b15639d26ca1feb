#!/usr/bin/env python3
"""liucun vs DuckDB, chDB (embedded ClickHouse) and Polars: one retention report, side by side.

The report is daily first-time retention over any activity event, UTC, 30 cohort rows (2025-01-01 .. 2025-01-30)
by 30 columns, as_of 2025-06-01T00:00:00Z (see /work/shared/specs/retention.md and bench/README.md).

Steps, for `retention.py EVENTS`:
  1. generate bench/data/EVENTS/events.parquet with `liucun gen` (once; reused afterwards);
  2. import it into bench/data/EVENTS/liucun and compact it (once; the timings are kept in import.json);
  3. compute the report with every engine and check that all four matrices are identical (exit 1 otherwise);
  4. time it cold (from files, a fresh process) and warm (data already in memory), take medians, print a table
     with ratios vs liucun and write bench/data/EVENTS/results.json.

Every peer reads the very Parquet file that liucun imported. Run it through bench/run.sh, which builds liucun and
sets up the pinned Python packages of bench/requirements.txt in bench/.venv. The machinery shared with
bench/trends.py (data, identity map, timings, checks) is in bench/harness.py.
"""

from __future__ import annotations

import datetime as dt
import sys

import harness
from harness import AS_OF, AS_OF_DATETIME, NON_ACTIVITY, sql_list

# --- The report -------------------------------------------------------------------------------------------------
# Two window shapes over one data set: 30 daily cohorts by 30 columns (January), and every day of the history as a
# cohort by 31 columns (the whole data set: 90 days, or D with --days D).
DAYS = harness.pop_days() or 90
START = dt.date(2025, 1, 1)
SHAPES = {  # case -> (first cohort row, last cohort row, columns)
    "d30x30": (START, START + dt.timedelta(days=29), 30),
    f"d{DAYS}x31": (START, START + dt.timedelta(days=DAYS - 1), 31),
}


def liucun_args(case: str) -> list[str]:
    first, last, columns = SHAPES[case]
    return ["retention", "--type", "first-time", "--period", "day", "--intervals", str(columns),
            "--from", first.isoformat(), "--to", last.isoformat(), "--as-of", AS_OF, "--format", "json"]


def matrix(case: str):
    """(row, column, persons) triples -> the full matrix: 0 for an empty in-window cell, None outside."""
    first, last, columns = SHAPES[case]
    rows = (last - first).days + 1

    def read(cells) -> list[list[int | None]]:
        m = [[0 if k + j < rows else None for j in range(columns)] for k in range(rows)]
        for k, j, n in cells:
            k, j, n = int(k), int(j), int(n)
            if not (0 <= k < rows and 0 <= j < columns and k + j < rows):
                raise SystemExit(f"engine returned a cell outside the window: row {k}, column {j} = {n}")
            m[k][j] = n
        return m
    return read


def liucun_matrix(report: dict) -> list[list[int | None]]:
    return [row["counts"] for row in report["rows"]]


def first_difference(name: str, got, want) -> str | None:
    if len(got) != len(want):
        return f"{name}: {len(got)} rows vs liucun {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        for j, (a, b) in enumerate(zip(g, w)):
            if a != b:
                return f"{name} differs from liucun at row {k} ({START + dt.timedelta(days=k)}), column {j}: " \
                       f"{a} vs liucun {b}"
    return None


def int_rows(rows) -> list[list[int]]:
    return [list(map(int, r)) for r in rows]


# --- DuckDB -----------------------------------------------------------------------------------------------------
# `events` is a table or a read_parquet(...) call. Each person's distinct active days; the first one is the anchor.
def duckdb_sql(case: str, events: str) -> str:
    first_day, last_day, columns = SHAPES[case]
    return f"""
WITH valid_merges AS ({harness.duckdb_merges(events)}
),
person_days AS (            -- each person's distinct UTC days with an activity event
    SELECT DISTINCT coalesce(m.person, e.distinct_id) AS person, CAST(timezone('UTC', e.timestamp) AS DATE) AS day
    FROM {events} AS e
    LEFT JOIN valid_merges AS m ON m.anon = e.distinct_id
    WHERE e.event NOT IN ({sql_list(NON_ACTIVITY)}) AND e.timestamp < TIMESTAMPTZ '{AS_OF}'
),
anchored AS (               -- first_time: the anchor is the person's first active day over all history
    SELECT person, day, min(day) OVER (PARTITION BY person) AS start_day FROM person_days
)
SELECT start_day - DATE '{first_day}' AS row_no, day - start_day AS col_no, count(*) AS persons
FROM anchored
WHERE start_day BETWEEN DATE '{first_day}' AND DATE '{last_day}' AND day <= DATE '{last_day}'
  AND day - start_day < {columns}
GROUP BY ALL
"""


def duckdb_cold(parquet: str, case: str):
    import duckdb
    con = duckdb.connect()  # a fresh in-memory database
    return int_rows(con.execute(duckdb_sql(case, f"read_parquet('{parquet}')")).fetchall())


def duckdb_warm_load(parquet: str):
    import duckdb
    con = duckdb.connect()
    # Warm tables hold what the report reads: `properties` only where `$identify` needs it (like liucun's table).
    con.execute(
        "CREATE TABLE events AS SELECT distinct_id, event, timestamp, "
        f"CASE WHEN event = '$identify' THEN properties END AS properties FROM read_parquet('{parquet}')"
    )
    return lambda case: int_rows(con.execute(duckdb_sql(case, "events")).fetchall()), con.close


# --- chDB (ClickHouse SQL) --------------------------------------------------------------------------------------
# Same plan in ClickHouse's idiom: groupUniqArray collects each person's active days, arrayMin is the anchor,
# ARRAY JOIN unfolds the days again.
def chdb_sql(case: str, events: str) -> str:
    first_day, last_day, columns = SHAPES[case]
    return f"""
WITH valid_merges AS ({harness.chdb_merges(events)}
)
SELECT dateDiff('day', toDate('{first_day}'), start_day) AS row_no, dateDiff('day', start_day, day) AS col_no,
       count() AS persons
FROM
(
    SELECT coalesce(m.person, e.distinct_id) AS person,
           groupUniqArray(toDate(e.timestamp, 'UTC')) AS days,
           arrayMin(days) AS start_day
    FROM {events} AS e
    LEFT ANY JOIN valid_merges AS m ON m.anon = e.distinct_id
    WHERE e.event NOT IN ({sql_list(NON_ACTIVITY)})
      AND e.timestamp < parseDateTime64BestEffort('{AS_OF}', 6, 'UTC')
    GROUP BY person
    HAVING start_day BETWEEN toDate('{first_day}') AND toDate('{last_day}')
)
ARRAY JOIN days AS day
WHERE day <= toDate('{last_day}') AND dateDiff('day', start_day, day) < {columns}
GROUP BY row_no, col_no
SETTINGS join_use_nulls = 1  -- an id without a merge keeps itself (coalesce)
"""


def chdb_cold(parquet: str, case: str):
    import chdb
    con = chdb.connect(":memory:")
    try:
        return int_rows(harness.chdb_rows(con, chdb_sql(case, f"file('{parquet}', Parquet)")))
    finally:
        con.close()


def chdb_warm_load(parquet: str):
    import chdb
    con = chdb.connect(":memory:")
    con.query(
        "CREATE TABLE events ENGINE = Memory AS SELECT distinct_id, event, timestamp, "
        f"if(event = '$identify', properties, '') AS properties FROM file('{parquet}', Parquet)"
    )
    return lambda case: int_rows(harness.chdb_rows(con, chdb_sql(case, "events"))), con.close


# --- Polars (lazy API) ------------------------------------------------------------------------------------------
def polars_plan(case: str, events):
    """The report as one lazy query over a LazyFrame of events."""
    import polars as pl
    first_day, last_day, columns = SHAPES[case]
    events = events.filter(pl.col("timestamp") < AS_OF_DATETIME)
    day = pl.col("day")
    return (
        events.filter(~pl.col("event").is_in(NON_ACTIVITY))
        .join(harness.polars_merges(events), left_on="distinct_id", right_on="anon", how="left")
        .select(person=pl.coalesce("person", "distinct_id"), day=pl.col("timestamp").dt.date())  # UTC data
        .unique()
        .with_columns(start_day=day.min().over("person"))
        .filter(pl.col("start_day").is_between(first_day, last_day) & (day <= last_day)
                & ((day - pl.col("start_day")).dt.total_days() < columns))
        .group_by(row_no=(pl.col("start_day") - pl.lit(first_day)).dt.total_days(),
                  col_no=(day - pl.col("start_day")).dt.total_days())
        .agg(persons=pl.len())
    )


def polars_cold(parquet: str, case: str):
    import polars as pl
    return int_rows(polars_plan(case, pl.scan_parquet(parquet)).collect().rows())


def polars_warm_load(parquet: str):
    import polars as pl
    df = pl.read_parquet(parquet, columns=["distinct_id", "event", "timestamp", "properties"]).with_columns(
        properties=pl.when(pl.col("event") == "$identify").then(pl.col("properties")).otherwise(None)
    )
    return lambda case: int_rows(polars_plan(case, df.lazy()).collect().rows()), lambda: None


PEERS = {
    "duckdb": (duckdb_cold, duckdb_warm_load),
    "chdb": (chdb_cold, chdb_warm_load),
    "polars": (polars_cold, polars_warm_load),
}
CASES = [harness.Case(c, liucun_args(c), liucun_matrix, matrix(c), first_difference) for c in SHAPES]


def summary(wants: dict) -> dict:
    want = wants["d30x30"]
    return {"column0": [r[0] for r in want], "matrix": want}


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, __file__, CASES, PEERS, "results.json", summary))
