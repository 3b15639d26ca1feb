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
FIRST_DAY = dt.date(2025, 1, 1)  # F: the first cohort row
LAST_DAY = dt.date(2025, 1, 30)  # L: the last cohort row
ROWS = (LAST_DAY - FIRST_DAY).days + 1  # 30
COLUMNS = 30  # total_intervals

LIUCUN_ARGS = ["retention", "--type", "first-time", "--period", "day", "--intervals", str(COLUMNS),
               "--from", FIRST_DAY.isoformat(), "--to", LAST_DAY.isoformat(), "--as-of", AS_OF, "--format", "json"]


def matrix(cells) -> list[list[int | None]]:
    """(row, column, persons) triples -> the full 30 x 30 matrix: 0 for an empty in-window cell, None outside."""
    m = [[0 if k + j < ROWS else None for j in range(COLUMNS)] for k in range(ROWS)]
    for k, j, n in cells:
        k, j, n = int(k), int(j), int(n)
        if not (0 <= k < ROWS and 0 <= j < COLUMNS and k + j < ROWS):
            raise SystemExit(f"engine returned a cell outside the window: row {k}, column {j} = {n}")
        m[k][j] = n
    return m


def liucun_matrix(report: dict) -> list[list[int | None]]:
    assert len(report["rows"]) == ROWS, f"liucun returned {len(report['rows'])} rows"
    return [row["counts"] for row in report["rows"]]


def first_difference(name: str, got, want) -> str | None:
    for k in range(ROWS):
        for j in range(COLUMNS):
            if got[k][j] != want[k][j]:
                return f"{name} differs from liucun at row {k} ({FIRST_DAY + dt.timedelta(days=k)}), " \
                       f"column {j}: {got[k][j]} vs liucun {want[k][j]}"
    return None


def int_rows(rows) -> list[list[int]]:
    return [list(map(int, r)) for r in rows]


# --- DuckDB -----------------------------------------------------------------------------------------------------
# `events` is a table or a read_parquet(...) call. Each person's distinct active days; the first one is the anchor.
def duckdb_sql(events: str) -> str:
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
SELECT start_day - DATE '{FIRST_DAY}' AS row_no, day - start_day AS col_no, count(*) AS persons
FROM anchored
WHERE start_day BETWEEN DATE '{FIRST_DAY}' AND DATE '{LAST_DAY}' AND day <= DATE '{LAST_DAY}'
GROUP BY ALL
"""


def duckdb_cold(parquet: str, _case: str):
    import duckdb
    con = duckdb.connect()  # a fresh in-memory database
    return int_rows(con.execute(duckdb_sql(f"read_parquet('{parquet}')")).fetchall())


def duckdb_warm_load(parquet: str):
    import duckdb
    con = duckdb.connect()
    # Warm tables hold what the report reads: `properties` only where `$identify` needs it (like liucun's table).
    con.execute(
        "CREATE TABLE events AS SELECT distinct_id, event, timestamp, "
        f"CASE WHEN event = '$identify' THEN properties END AS properties FROM read_parquet('{parquet}')"
    )
    return lambda _case: int_rows(con.execute(duckdb_sql("events")).fetchall()), con.close


# --- chDB (ClickHouse SQL) --------------------------------------------------------------------------------------
# Same plan in ClickHouse's idiom: groupUniqArray collects each person's active days, arrayMin is the anchor,
# ARRAY JOIN unfolds the days again.
def chdb_sql(events: str) -> str:
    return f"""
WITH valid_merges AS ({harness.chdb_merges(events)}
)
SELECT dateDiff('day', toDate('{FIRST_DAY}'), start_day) AS row_no, dateDiff('day', start_day, day) AS col_no,
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
    HAVING start_day BETWEEN toDate('{FIRST_DAY}') AND toDate('{LAST_DAY}')
)
ARRAY JOIN days AS day
WHERE day <= toDate('{LAST_DAY}')
GROUP BY row_no, col_no
SETTINGS join_use_nulls = 1  -- an id without a merge keeps itself (coalesce)
"""


def chdb_cold(parquet: str, _case: str):
    import chdb
    con = chdb.connect(":memory:")
    try:
        return int_rows(harness.chdb_rows(con, chdb_sql(f"file('{parquet}', Parquet)")))
    finally:
        con.close()


def chdb_warm_load(parquet: str):
    import chdb
    con = chdb.connect(":memory:")
    con.query(
        "CREATE TABLE events ENGINE = Memory AS SELECT distinct_id, event, timestamp, "
        f"if(event = '$identify', properties, '') AS properties FROM file('{parquet}', Parquet)"
    )
    return lambda _case: int_rows(harness.chdb_rows(con, chdb_sql("events"))), con.close


# --- Polars (lazy API) ------------------------------------------------------------------------------------------
def polars_plan(events):
    """The report as one lazy query over a LazyFrame of events."""
    import polars as pl
    events = events.filter(pl.col("timestamp") < AS_OF_DATETIME)
    day = pl.col("day")
    return (
        events.filter(~pl.col("event").is_in(NON_ACTIVITY))
        .join(harness.polars_merges(events), left_on="distinct_id", right_on="anon", how="left")
        .select(person=pl.coalesce("person", "distinct_id"), day=pl.col("timestamp").dt.date())  # UTC data
        .unique()
        .with_columns(start_day=day.min().over("person"))
        .filter(pl.col("start_day").is_between(FIRST_DAY, LAST_DAY) & (day <= LAST_DAY))
        .group_by(row_no=(pl.col("start_day") - pl.lit(FIRST_DAY)).dt.total_days(),
                  col_no=(day - pl.col("start_day")).dt.total_days())
        .agg(persons=pl.len())
    )


def polars_cold(parquet: str, _case: str):
    import polars as pl
    return int_rows(polars_plan(pl.scan_parquet(parquet)).collect().rows())


def polars_warm_load(parquet: str):
    import polars as pl
    df = pl.read_parquet(parquet, columns=["distinct_id", "event", "timestamp", "properties"]).with_columns(
        properties=pl.when(pl.col("event") == "$identify").then(pl.col("properties")).otherwise(None)
    )
    return lambda _case: int_rows(polars_plan(df.lazy()).collect().rows()), lambda: None


PEERS = {
    "duckdb": (duckdb_cold, duckdb_warm_load),
    "chdb": (chdb_cold, chdb_warm_load),
    "polars": (polars_cold, polars_warm_load),
}
CASES = [harness.Case("retention", LIUCUN_ARGS, liucun_matrix, matrix, first_difference)]


def summary(wants: dict) -> dict:
    want = wants["retention"]
    return {"column0": [r[0] for r in want], "matrix": want}


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, __file__, CASES, PEERS, "results.json", summary))
