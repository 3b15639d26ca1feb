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
sets up the pinned Python packages of bench/requirements.txt in bench/.venv.

Internal mode (used for cold timings): `retention.py --cold ENGINE PARQUET` runs one query in a fresh process
and prints {"ms": from-connect time, "cells": [...]} as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LIUCUN = Path(os.environ.get("LIUCUN_BIN", ROOT / "target" / "release" / "liucun"))

# --- The report -------------------------------------------------------------------------------------------------
FIRST_DAY = dt.date(2025, 1, 1)  # F: the first cohort row
LAST_DAY = dt.date(2025, 1, 30)  # L: the last cohort row
ROWS = (LAST_DAY - FIRST_DAY).days + 1  # 30
COLUMNS = 30  # total_intervals
AS_OF = "2025-06-01T00:00:00Z"  # after all generated data; events stamped at or after it are ignored
# retention.md §5.4: the default non-activity events. Every other event counts as activity.
NON_ACTIVITY = ["$set", "$set_once", "$create_alias", "$merge_dangerously", "$groupidentify", "payment"]
# events.md §2.1.4: placeholder ids that never take part in a merge (compared after trimming whitespace).
PLACEHOLDERS_ANY_CASE = ["anonymous", "guest", "distinctid", "distinct_id", "id", "not_authenticated", "email",
                         "undefined", "true", "false"]
PLACEHOLDERS_EXACT = ["null", "None", "none", "NaN", "[object Object]", "-1"]
ZEROS_AND_DASHES = "^[0-]+$"

LIUCUN_ARGS = ["retention", "--type", "first-time", "--period", "day", "--intervals", str(COLUMNS),
               "--from", FIRST_DAY.isoformat(), "--to", LAST_DAY.isoformat(), "--as-of", AS_OF, "--format", "json"]


def sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def matrix(cells) -> list[list[int | None]]:
    """(row, column, persons) triples -> the full 30 x 30 matrix: 0 for an empty in-window cell, None outside."""
    m = [[0 if k + j < ROWS else None for j in range(COLUMNS)] for k in range(ROWS)]
    for k, j, n in cells:
        k, j, n = int(k), int(j), int(n)
        if not (0 <= k < ROWS and 0 <= j < COLUMNS and k + j < ROWS):
            raise SystemExit(f"engine returned a cell outside the window: row {k}, column {j} = {n}")
        m[k][j] = n
    return m


# --- DuckDB -----------------------------------------------------------------------------------------------------
# `events` is a table or a read_parquet(...) call. Persons: one hop anon -> identified id (the bench data has no
# chains; check_identity_shape() verifies it). Each person's distinct active days; the first one is the anchor.
DUCKDB_SQL = f"""
WITH merges AS (            -- $identify: distinct_id keeps, properties.$anon_distinct_id is merged into it
    SELECT DISTINCT trim(json_extract_string(properties, '$."$anon_distinct_id"')) AS anon, distinct_id AS person
    FROM {{events}}
    WHERE event = '$identify' AND timestamp < TIMESTAMPTZ '{AS_OF}'
),
valid_merges AS (
    SELECT anon, person FROM merges
    WHERE anon <> '' AND anon <> person
      AND lower(anon) NOT IN ({sql_list(PLACEHOLDERS_ANY_CASE)})
      AND anon NOT IN ({sql_list(PLACEHOLDERS_EXACT)})
      AND NOT regexp_matches(anon, '{ZEROS_AND_DASHES}')
),
person_days AS (            -- each person's distinct UTC days with an activity event
    SELECT DISTINCT coalesce(m.person, e.distinct_id) AS person, CAST(timezone('UTC', e.timestamp) AS DATE) AS day
    FROM {{events}} AS e
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


def duckdb_cold(parquet: str):
    import duckdb
    con = duckdb.connect()  # a fresh in-memory database
    return con.execute(DUCKDB_SQL.format(events=f"read_parquet('{parquet}')")).fetchall()


def duckdb_warm_load(parquet: str):
    import duckdb
    con = duckdb.connect()
    # Warm tables hold what the report reads: `properties` only where `$identify` needs it (like liucun's table).
    con.execute(
        "CREATE TABLE events AS SELECT distinct_id, event, timestamp, "
        f"CASE WHEN event = '$identify' THEN properties END AS properties FROM read_parquet('{parquet}')"
    )
    return lambda: con.execute(DUCKDB_SQL.format(events="events")).fetchall(), con.close


# --- chDB (ClickHouse SQL) --------------------------------------------------------------------------------------
# Same plan in ClickHouse's idiom: groupUniqArray collects each person's active days, arrayMin is the anchor,
# ARRAY JOIN unfolds the days again.
CHDB_SQL = f"""
WITH valid_merges AS (
    SELECT DISTINCT trim(JSONExtractString(properties, '$anon_distinct_id')) AS anon, distinct_id AS person
    FROM {{events}}
    WHERE event = '$identify' AND timestamp < parseDateTime64BestEffort('{AS_OF}', 6, 'UTC')
      AND anon != '' AND anon != person
      AND lower(anon) NOT IN ({sql_list(PLACEHOLDERS_ANY_CASE)})
      AND anon NOT IN ({sql_list(PLACEHOLDERS_EXACT)})
      AND NOT match(anon, '{ZEROS_AND_DASHES}')
)
SELECT dateDiff('day', toDate('{FIRST_DAY}'), start_day) AS row_no, dateDiff('day', start_day, day) AS col_no,
       count() AS persons
FROM
(
    SELECT coalesce(m.person, e.distinct_id) AS person,
           groupUniqArray(toDate(e.timestamp, 'UTC')) AS days,
           arrayMin(days) AS start_day
    FROM {{events}} AS e
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


def chdb_rows(con, sql: str):
    out = con.query(sql, "JSONCompact")
    return json.loads(out.bytes())["data"]


def chdb_cold(parquet: str):
    import chdb
    con = chdb.connect(":memory:")
    try:
        return chdb_rows(con, CHDB_SQL.format(events=f"file('{parquet}', Parquet)"))
    finally:
        con.close()


def chdb_warm_load(parquet: str):
    import chdb
    con = chdb.connect(":memory:")
    con.query(
        "CREATE TABLE events ENGINE = Memory AS SELECT distinct_id, event, timestamp, "
        f"if(event = '$identify', properties, '') AS properties FROM file('{parquet}', Parquet)"
    )
    return lambda: chdb_rows(con, CHDB_SQL.format(events="events")), con.close


# --- Polars (lazy API) ------------------------------------------------------------------------------------------
def polars_plan(events):
    """The report as one lazy query over a LazyFrame of events."""
    import polars as pl
    as_of = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    events = events.filter(pl.col("timestamp") < as_of)
    anon = pl.col("anon")
    merges = (
        events.filter(pl.col("event") == "$identify")
        .select(anon=pl.col("properties").str.json_path_match("$['$anon_distinct_id']").str.strip_chars(),
                person=pl.col("distinct_id"))
        .filter((anon != "") & (anon != pl.col("person"))
                & ~anon.str.to_lowercase().is_in(PLACEHOLDERS_ANY_CASE)
                & ~anon.is_in(PLACEHOLDERS_EXACT)
                & ~anon.str.contains(ZEROS_AND_DASHES))
        .unique()
    )
    day = pl.col("day")
    return (
        events.filter(~pl.col("event").is_in(NON_ACTIVITY))
        .join(merges, left_on="distinct_id", right_on="anon", how="left")
        .select(person=pl.coalesce("person", "distinct_id"), day=pl.col("timestamp").dt.date())  # UTC data
        .unique()
        .with_columns(start_day=day.min().over("person"))
        .filter(pl.col("start_day").is_between(FIRST_DAY, LAST_DAY) & (day <= LAST_DAY))
        .group_by(row_no=(pl.col("start_day") - pl.lit(FIRST_DAY)).dt.total_days(),
                  col_no=(day - pl.col("start_day")).dt.total_days())
        .agg(persons=pl.len())
    )


def polars_cold(parquet: str):
    import polars as pl
    return polars_plan(pl.scan_parquet(parquet)).collect().rows()


def polars_warm_load(parquet: str):
    import polars as pl
    df = pl.read_parquet(parquet, columns=["distinct_id", "event", "timestamp", "properties"]).with_columns(
        properties=pl.when(pl.col("event") == "$identify").then(pl.col("properties")).otherwise(None)
    )
    return lambda: polars_plan(df.lazy()).collect().rows(), lambda: None


PEERS = {
    "duckdb": (duckdb_cold, duckdb_warm_load),
    "chdb": (chdb_cold, chdb_warm_load),
    "polars": (polars_cold, polars_warm_load),
}


def cold_child(engine: str, parquet: str) -> None:
    """The fresh process of a cold run: import the engine, then time from connect to the result."""
    cold, _ = PEERS[engine]
    __import__({"duckdb": "duckdb", "chdb": "chdb", "polars": "polars"}[engine])
    started = time.perf_counter()
    cells = cold(parquet)
    ms = (time.perf_counter() - started) * 1e3
    print(json.dumps({"ms": ms, "cells": [list(map(int, c)) for c in cells]}))


# --- Data preparation -------------------------------------------------------------------------------------------
def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def prepare(events: int) -> tuple[Path, Path, str, dict]:
    """Generates and imports the data set once; later runs reuse it (delete bench/data/EVENTS to start over)."""
    base = BENCH / "data" / str(events)
    parquet = base / "events.parquet"
    meta_path = base / "dataset.json"
    if not meta_path.exists():
        started = time.perf_counter()
        out = run([str(LIUCUN), "gen", "--events", str(events), "--seed", "42", "--apps", "1",
                   "--out", str(parquet)]).stdout
        project, _path, n = out.strip().split("\t")
        meta = {"project": project, "events": int(n.split()[0]), "gen_s": time.perf_counter() - started,
                "parquet_bytes": parquet.stat().st_size}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    meta = json.loads(meta_path.read_text())
    data_dir = base / "liucun"
    import_path = base / "import.json"
    if not import_path.exists():
        shutil.rmtree(data_dir, ignore_errors=True)  # an interrupted earlier import
        started = time.perf_counter()
        run([str(LIUCUN), "--data", str(data_dir), "import", "--quiet", "--project", meta["project"], str(parquet)])
        import_s = time.perf_counter() - started
        started = time.perf_counter()
        run([str(LIUCUN), "--data", str(data_dir), "compact"])
        compact_s = time.perf_counter() - started
        stats = {"import_s": import_s, "import_events_per_s": meta["events"] / import_s, "compact_s": compact_s,
                 "data_dir_bytes": sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file())}
        import_path.write_text(json.dumps(stats, indent=2) + "\n")
    meta.update(json.loads(import_path.read_text()))
    return parquet, data_dir, meta["project"], meta


def check_identity_shape(parquet: Path) -> None:
    """The peers resolve persons with a one-hop map anon -> identified id. That is exact when no anonymous id is
    merged into two persons and no kept id is itself merged away; stop if the data breaks either rule."""
    import duckdb
    bad = duckdb.connect().execute(f"""
        WITH m AS (SELECT DISTINCT json_extract_string(properties, '$."$anon_distinct_id"') AS anon,
                                   distinct_id AS person
                   FROM read_parquet('{parquet}') WHERE event = '$identify')
        SELECT (SELECT count(*) FROM (SELECT anon FROM m GROUP BY anon HAVING count(*) > 1)),
               (SELECT count(*) FROM m WHERE person IN (SELECT anon FROM m)),
               (SELECT count(*) FROM read_parquet('{parquet}')
                WHERE event IN ('$create_alias', '$merge_dangerously'))""").fetchone()
    if any(bad):
        raise SystemExit(f"the one-hop identity map is not exact for this data: {bad[0]} anonymous ids merged "
                         f"twice, {bad[1]} kept ids merged away, {bad[2]} alias/merge events")


# --- Timing -----------------------------------------------------------------------------------------------------
def liucun_cold(data_dir: Path, project: str, reps: int):
    """Whole-process time of the CLI, `reps` times; returns the times (ms) and the matrix."""
    times, report = [], None
    for _ in range(reps):
        started = time.perf_counter()
        out = run([str(LIUCUN), "--data", str(data_dir), *LIUCUN_ARGS, "-p", project]).stdout
        times.append((time.perf_counter() - started) * 1e3)
        report = json.loads(out)
    assert len(report["rows"]) == ROWS, f"liucun returned {len(report['rows'])} rows"
    return times, [row["counts"] for row in report["rows"]]


def liucun_warm(data_dir: Path, project: str, reps: int) -> tuple[float, list[float]]:
    """In-process times from `--repeat`: run 1 reads the data directory, runs 2.. read in-memory tables (warm).
    Returns run 1 and the warm runs."""
    repeat = max(5, reps + 1)
    err = run([str(LIUCUN), "--data", str(data_dir), *LIUCUN_ARGS, "-p", project, "--repeat", str(repeat)]).stderr
    times = [float(line.split(":")[1].split()[0]) for line in err.splitlines() if line.startswith("run ")]
    assert len(times) == repeat, err
    return times[0], times[1:]


def first_difference(name: str, got, want) -> str | None:
    for k in range(ROWS):
        for j in range(COLUMNS):
            if got[k][j] != want[k][j]:
                return f"{name} differs from liucun at row {k} ({FIRST_DAY + dt.timedelta(days=k)}), " \
                       f"column {j}: {got[k][j]} vs liucun {want[k][j]}"
    return None


def machine() -> dict:
    def sh(cmd):
        return subprocess.run(cmd, shell=True, text=True, capture_output=True).stdout.strip()
    import duckdb, polars, pyarrow
    return {"nproc": sh("nproc"), "cpu": sh("lscpu | grep -m1 'Model name' | sed 's/.*: *//'"),
            "memory": sh("free -h | awk '/^Mem/ {print $2}'"), "python": platform.python_version(),
            "versions": {"liucun": sh(f"{LIUCUN} --version"), "duckdb": duckdb.__version__,
                         "polars": polars.__version__, "chdb": sh(f"{sys.executable} -c 'import chdb; "
                                                                  f"print(chdb.__version__)'"),
                         "pyarrow": pyarrow.__version__}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events", type=int, help="number of generated events (1000000, 10000000, ...)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per engine and mode (default 3)")
    ap.add_argument("--engines", default="duckdb,chdb,polars", help="peers to run (comma-separated)")
    args = ap.parse_args()
    peers = [e for e in args.engines.split(",") if e]

    parquet, data_dir, project, meta = prepare(args.events)
    check_identity_shape(parquet)
    print(f"data: {meta['events']:,} events, project {project}, parquet {meta['parquet_bytes'] / 2**20:.0f} MiB; "
          f"import {meta['import_s']:.1f} s ({meta['import_events_per_s']:,.0f} events/s), "
          f"compact {meta['compact_s']:.1f} s", flush=True)

    results = {}
    cold, want = liucun_cold(data_dir, project, args.reps)
    run1, warm = liucun_warm(data_dir, project, args.reps)
    results["liucun"] = {"cold_ms": cold, "warm_ms": warm, "first_run_in_process_ms": run1}
    print(f"liucun: cold {statistics.median(cold):.0f} ms (in-process run 1: {run1:.0f} ms), "
          f"warm {statistics.median(warm):.1f} ms; column 0 = {[r[0] for r in want]}", flush=True)

    for name in peers:
        cold_ms, cold_process_ms = [], []
        for _ in range(args.reps):
            started = time.perf_counter()
            child = json.loads(run([sys.executable, __file__, "--cold", name, str(parquet)]).stdout)
            cold_process_ms.append((time.perf_counter() - started) * 1e3)
            cold_ms.append(child["ms"])
            diff = first_difference(f"{name} (cold)", matrix(child["cells"]), want)
            if diff:
                print(diff, file=sys.stderr)
                return 1
        query, close = PEERS[name][1](str(parquet))  # load the table / DataFrame (untimed)
        diff = first_difference(f"{name} (warm)", matrix(query()), want)  # also the untimed warm-up query
        if diff:
            print(diff, file=sys.stderr)
            return 1
        warm_ms = []
        for _ in range(args.reps):
            started = time.perf_counter()
            query()
            warm_ms.append((time.perf_counter() - started) * 1e3)
        close()
        del query, close
        results[name] = {"cold_ms": cold_ms, "cold_process_ms": cold_process_ms, "warm_ms": warm_ms}
        print(f"{name}: cold {statistics.median(cold_ms):.0f} ms, warm {statistics.median(warm_ms):.1f} ms "
              f"(matrix identical)", flush=True)

    base_cold = statistics.median(results["liucun"]["cold_ms"])
    base_warm = statistics.median(results["liucun"]["warm_ms"])
    print(f"\nall {1 + len(peers)} engines give the identical {ROWS}x{COLUMNS} matrix\n")
    print(f"{meta['events']:,} events; median of {args.reps} (liucun warm: of {len(results['liucun']['warm_ms'])})")
    print("| engine | cold (ms) | cold vs liucun | warm (ms) | warm vs liucun | cold, whole process (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        c, w = statistics.median(r["cold_ms"]), statistics.median(r["warm_ms"])
        r.update(cold_median_ms=c, warm_median_ms=w, cold_ratio=c / base_cold, warm_ratio=w / base_warm)
        process = statistics.median(r.get("cold_process_ms", r["cold_ms"]))
        print(f"| {name} | {c:,.0f} | {c / base_cold:.2f}x | {w:,.1f} | {w / base_warm:.2f}x | {process:,.0f} |")
    out = {"dataset": meta, "machine": machine(), "reps": args.reps, "results": results,
           "column0": [r[0] for r in want], "matrix": want}
    (BENCH / "data" / str(args.events) / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--cold":
        cold_child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
