#!/usr/bin/env python3
"""liucun vs DuckDB, chDB (embedded ClickHouse) and Polars: trends reports, side by side.

Five daily trends over the bench data (see /work/shared/specs/activity.md §1 and bench/README.md), each its own
report, UTC, as_of 2025-06-01T00:00:00Z, over two windows:
  - `total`: activity events per day;
  - `dau`: distinct persons with an activity event per day;
  - `wau`, `mau`: distinct persons with an activity event in the rolling 7 or 30 days ending on each day (the
    first points read 6 or 29 days before the window, so they are full windows);
  - `p95`: the 95th percentile (linear interpolation between closest ranks, exact) of `$ai_latency` over the day's
    `$ai_generation` events, with the count of values and of events without one;
and the windows `quarter` (2025-01-01 .. 2025-03-31, 90 points: all the data) and `month` (2025-03-01 .. 2025-03-31,
31 points). A case is WINDOW/SERIES, e.g. `month/mau`.

`trends.py EVENTS` generates and imports bench/data/EVENTS once (shared with bench/retention.py), computes every
case with every engine, checks that all of them give the same points (exit 1 otherwise), times them cold and warm
and writes bench/data/EVENTS/trends.json. Run it through `bench/run.sh trends EVENTS`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import sys

import harness
from harness import AS_OF, AS_OF_DATETIME, NON_ACTIVITY, sql_list

# --- The reports ------------------------------------------------------------------------------------------------
WINDOWS = {"quarter": (dt.date(2025, 1, 1), dt.date(2025, 3, 31)), "month": (dt.date(2025, 3, 1), dt.date(2025, 3, 31))}
ROLLING = {"dau": 1, "wau": 7, "mau": 30}  # days per rolling window
LIUCUN_SERIES = {"total": "any:total", "dau": "any:dau", "wau": "any:wau", "mau": "any:mau",
                 "p95": "$ai_generation:p95:$ai_latency"}
P95_EVENT, P95_PROPERTY, P95_Q = "$ai_generation", "$ai_latency", 0.95


def parse_case(case: str) -> tuple[dt.date, dt.date, str]:
    window, series = case.split("/")
    first, last = WINDOWS[window]
    return first, last, series


def read_from(first: dt.date, series: str) -> dt.date:
    """The first day read: rolling windows read w - 1 days before the window (activity.md §1.2 rule 2)."""
    return first - dt.timedelta(days=ROLLING.get(series, 1) - 1)


def utc_instant(day: dt.date) -> str:
    return f"{day.isoformat()} 00:00:00+00"


# Points are compared as (day, value) or, for p95, (day, value, count, missing). Values are exact: counts are
# integers, liucun's p95 is an exact decimal. The peers compute the percentile in binary floating point; rounded
# half-even to 6 decimals it is exact, because `$ai_latency` has 3 decimals and type-7 interpolation at q = 0.95
# moves by multiples of 1/20 of a gap, so the exact value has at most 5 decimals.
def liucun_points(report: dict) -> list[tuple]:
    (series,) = report["series"]
    out = []
    for p in series["points"]:
        day = p["period_start"][:10]
        if "count" in p:
            out.append((day, p["value"], p["count"], p["missing"]))
        else:
            out.append((day, p["value"]))
    return out


def peer_points(case: str):
    """Reads a peer's rows (day index from the window's first day, value[, count, missing]) into liucun's shape,
    filling days without events (0, or a null p95 with nothing counted)."""
    first, last, series = parse_case(case)

    def read(rows: list) -> list[tuple]:
        by_index = {int(r[0]): r[1:] for r in rows}
        out = []
        for i in range((last - first).days + 1):
            day = (first + dt.timedelta(days=i)).isoformat()
            if series == "p95":
                value, count, missing = by_index.get(i, (None, 0, 0))
                if value is not None and not math.isnan(float(value)) and int(count) > 0:
                    value = decimal.Decimal(repr(float(value))).quantize(decimal.Decimal("0.000001"),
                                                                         rounding=decimal.ROUND_HALF_EVEN)
                else:
                    value = None
                out.append((day, value, int(count), int(missing)))
            else:
                out.append((day, int(by_index.get(i, (0,))[0])))
        return out
    return read


def first_difference(name: str, got: list[tuple], want: list[tuple]) -> str | None:
    if len(got) != len(want):
        return f"{name}: {len(got)} points vs liucun {len(want)}"
    for g, w in zip(got, want):
        if g[0] != w[0] or g[1:] != tuple(decimal.Decimal(x) if isinstance(x, decimal.Decimal) else x
                                           for x in w[1:]):
            return f"{name} differs from liucun on {w[0]}: {g[1:]} vs liucun {w[1:]}"
    return None


CASES = [
    harness.Case(f"{window}/{series}",
                 ["trends", "--interval", "day", "--series", spec, "--from", first.isoformat(),
                  "--to", last.isoformat(), "--tz", "UTC", "--as-of", AS_OF, "--format", "json"],
                 liucun_points, peer_points(f"{window}/{series}"), first_difference)
    for window, (first, last) in WINDOWS.items() for series, spec in LIUCUN_SERIES.items()
]


# --- DuckDB -----------------------------------------------------------------------------------------------------
# `events` is a table or a read_parquet(...) call; `latency` the expression of a `$ai_generation` event's latency
# (a typed column in the warm table, a JSON extraction from files). Every query returns (day index, value...).
def duckdb_sql(case: str, events: str, latency: str) -> str:
    first, last, series = parse_case(case)
    start, end = read_from(first, series), min(last + dt.timedelta(days=1), AS_OF_DATETIME.date())
    day = f"CAST(timezone('UTC', e.timestamp) AS DATE) - DATE '{first}'"
    in_range = f"e.timestamp >= TIMESTAMPTZ '{utc_instant(start)}' AND e.timestamp < TIMESTAMPTZ '{utc_instant(end)}'"
    activity = f"e.event NOT IN ({sql_list(NON_ACTIVITY)})"
    if series == "total":
        return f"SELECT {day} AS i, count(*) FROM {events} AS e WHERE {activity} AND {in_range} GROUP BY i"
    if series == "p95":
        return f"""
SELECT i, quantile_cont(latency, {P95_Q}), count(latency), count(*) - count(latency)
FROM (SELECT {day} AS i, {latency} AS latency FROM {events} AS e WHERE e.event = '{P95_EVENT}' AND {in_range})
GROUP BY i"""
    w = ROLLING[series]
    person_days = f"""
WITH valid_merges AS ({harness.duckdb_merges(events)}
),
person_days AS (            -- each person's distinct UTC days with an activity event, as indexes from the window
    SELECT DISTINCT coalesce(m.person, e.distinct_id) AS person, {day} AS i
    FROM {events} AS e
    LEFT JOIN valid_merges AS m ON m.anon = e.distinct_id
    WHERE {activity} AND {in_range}
)"""
    if w == 1:
        return person_days + "\nSELECT i, count(*) FROM person_days GROUP BY i"
    n = (last - first).days + 1
    # An active day i makes the person count on days i .. i + w - 1; up to the person's next active day, so that
    # the spans of one person never overlap and a plain count is a count of distinct persons.
    return person_days + f""",
spans AS (
    SELECT greatest(i, 0) AS lo,
           least(i + {w - 1}, coalesce(lead(i) OVER (PARTITION BY person ORDER BY i) - 1, {n - 1}), {n - 1}) AS hi
    FROM person_days
)
SELECT d, count(*) FROM (SELECT unnest(range(lo, hi + 1)) AS d FROM spans WHERE lo <= hi) GROUP BY d"""


DUCKDB_LATENCY_FROM_JSON = f"TRY_CAST(json_extract_string(e.properties, '$.\"{P95_PROPERTY}\"') AS DOUBLE)"


def duckdb_cold(parquet: str, case: str):
    import duckdb
    con = duckdb.connect()  # a fresh in-memory database
    return con.execute(duckdb_sql(case, f"read_parquet('{parquet}')", DUCKDB_LATENCY_FROM_JSON)).fetchall()


def duckdb_warm_load(parquet: str):
    import duckdb
    con = duckdb.connect()
    # Warm tables hold what the reports read: `properties` only where `$identify` needs it, and the latency of
    # `$ai_generation` events already as a typed column (liucun's warm table holds it as a number too).
    con.execute(
        "CREATE TABLE events AS SELECT distinct_id, event, timestamp, "
        "CASE WHEN event = '$identify' THEN properties END AS properties, "
        f"CASE WHEN event = '{P95_EVENT}' THEN {DUCKDB_LATENCY_FROM_JSON.replace('e.properties', 'properties')} "
        f"END AS latency FROM read_parquet('{parquet}')"
    )
    return lambda case: con.execute(duckdb_sql(case, "events", "e.latency")).fetchall(), con.close


# --- chDB (ClickHouse SQL) --------------------------------------------------------------------------------------
# ClickHouse's idiom: uniqExact per day; for rolling windows each person's distinct active days (groupUniqArray)
# become the distinct days they count on (arrayMap to ranges, arrayDistinct), unfolded by ARRAY JOIN.
def chdb_sql(case: str, events: str, latency: str) -> str:
    first, last, series = parse_case(case)
    start, end = read_from(first, series), min(last + dt.timedelta(days=1), AS_OF_DATETIME.date())
    day = f"dateDiff('day', toDate('{first}'), toDate(e.timestamp, 'UTC'))"
    in_range = (f"e.timestamp >= parseDateTime64BestEffort('{start}T00:00:00Z', 6, 'UTC') "
                f"AND e.timestamp < parseDateTime64BestEffort('{end}T00:00:00Z', 6, 'UTC')")
    activity = f"e.event NOT IN ({sql_list(NON_ACTIVITY)})"
    if series == "total":
        return f"SELECT {day} AS i, count() FROM {events} AS e WHERE {activity} AND {in_range} GROUP BY i"
    if series == "p95":
        return f"""
SELECT i, quantileExactInclusive({P95_Q})(latency), count(latency), count() - count(latency)
FROM (SELECT {day} AS i, {latency} AS latency FROM {events} AS e WHERE e.event = '{P95_EVENT}' AND {in_range})
GROUP BY i"""
    w = ROLLING[series]
    joined = f"""
WITH valid_merges AS ({harness.chdb_merges(events)}
)
SELECT {{select}}
FROM {events} AS e
LEFT ANY JOIN valid_merges AS m ON m.anon = e.distinct_id
WHERE {activity} AND {in_range}
GROUP BY {{group}}
SETTINGS join_use_nulls = 1  -- an id without a merge keeps itself (coalesce)"""
    if w == 1:
        return joined.format(select=f"{day} AS i, uniqExact(coalesce(m.person, e.distinct_id))", group="i")
    n = (last - first).days + 1
    per_person = joined.format(select=f"coalesce(m.person, e.distinct_id) AS person, groupUniqArray({day}) AS days",
                               group="person")
    return f"""
SELECT d, count()
FROM ({per_person}
)
ARRAY JOIN arrayDistinct(arrayFlatten(arrayMap(x -> range(greatest(x, 0), least(x + {w}, {n})), days))) AS d
GROUP BY d"""


CHDB_LATENCY_FROM_JSON = f"JSONExtract(e.properties, '{P95_PROPERTY}', 'Nullable(Float64)')"


def chdb_cold(parquet: str, case: str):
    import chdb
    con = chdb.connect(":memory:")
    try:
        return harness.chdb_rows(con, chdb_sql(case, f"file('{parquet}', Parquet)", CHDB_LATENCY_FROM_JSON))
    finally:
        con.close()


def chdb_warm_load(parquet: str):
    import chdb
    con = chdb.connect(":memory:")
    con.query(
        # (A SELECT alias shadows the column of the same name in ClickHouse, hence `json`.)
        "CREATE TABLE events ENGINE = Memory AS SELECT distinct_id, event, timestamp, "
        "if(event = '$identify', json, '') AS properties, "
        f"if(event = '{P95_EVENT}', {CHDB_LATENCY_FROM_JSON.replace('e.properties', 'json')}, NULL) AS latency "
        f"FROM (SELECT distinct_id, event, timestamp, properties AS json FROM file('{parquet}', Parquet))"
    )
    return lambda case: harness.chdb_rows(con, chdb_sql(case, "events", "e.latency")), con.close


# --- Polars (lazy API) ------------------------------------------------------------------------------------------
def polars_plan(case: str, events, latency):
    """The report as one lazy query over a LazyFrame of events; `latency` is an expression over its rows."""
    import polars as pl
    first, last, series = parse_case(case)
    start, end = read_from(first, series), min(last + dt.timedelta(days=1), AS_OF_DATETIME.date())
    utc = dt.timezone.utc
    events = events.filter(pl.col("timestamp") < AS_OF_DATETIME)
    in_range = events.filter(pl.col("timestamp").is_between(dt.datetime.combine(start, dt.time(), utc),
                                                             dt.datetime.combine(end, dt.time(), utc),
                                                             closed="left"))
    i = (pl.col("timestamp").dt.date() - pl.lit(first)).dt.total_days()  # UTC data
    if series == "total":
        return in_range.filter(~pl.col("event").is_in(NON_ACTIVITY)).group_by(i=i).agg(pl.len())
    if series == "p95":
        lat = pl.col("latency")
        return (in_range.filter(pl.col("event") == P95_EVENT).select(i=i, latency=latency)
                .group_by("i").agg(value=lat.quantile(P95_Q, interpolation="linear"), count=lat.count(),
                                   missing=lat.null_count()))
    w, n = ROLLING[series], (last - first).days + 1
    person_days = (
        in_range.filter(~pl.col("event").is_in(NON_ACTIVITY))
        .join(harness.polars_merges(events), left_on="distinct_id", right_on="anon", how="left")
        .select(person=pl.coalesce("person", "distinct_id"), i=i)
        .unique()
    )
    if w == 1:
        return person_days.group_by("i").agg(pl.len())
    nxt = pl.col("i").shift(-1).over("person", order_by="i")
    return (
        person_days.select(lo=pl.max_horizontal(pl.col("i"), 0),
                           hi=pl.min_horizontal(pl.col("i") + (w - 1), (nxt - 1).fill_null(n - 1), n - 1))
        .filter(pl.col("lo") <= pl.col("hi"))
        .select(d=pl.int_ranges("lo", pl.col("hi") + 1)).explode("d")
        .group_by("d").agg(pl.len())
    )


def polars_latency_from_json():
    import polars as pl
    return pl.col("properties").str.json_path_match(f"$['{P95_PROPERTY}']").cast(pl.Float64, strict=False)


def polars_cold(parquet: str, case: str):
    import polars as pl
    return polars_plan(case, pl.scan_parquet(parquet), polars_latency_from_json()).collect().rows()


def polars_warm_load(parquet: str):
    import polars as pl
    event = pl.col("event")
    # Streaming, so that the JSON text of events other than `$identify` is never held all at once (100M events).
    df = pl.scan_parquet(parquet).select("distinct_id", "event", "timestamp", "properties").with_columns(
        properties=pl.when(event == "$identify").then(pl.col("properties")).otherwise(None),
        latency=pl.when(event == P95_EVENT).then(polars_latency_from_json()).otherwise(None),
    ).collect(engine="streaming")
    return lambda case: polars_plan(case, df.lazy(), pl.col("latency")).collect().rows(), lambda: None


PEERS = {
    "duckdb": (duckdb_cold, duckdb_warm_load),
    "chdb": (chdb_cold, chdb_warm_load),
    "polars": (polars_cold, polars_warm_load),
}


def summary(wants: dict) -> dict:
    return {"points": wants}


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, __file__, CASES, PEERS, "trends.json", summary))
