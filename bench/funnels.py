#!/usr/bin/env python3
"""liucun vs DuckDB and chDB (embedded ClickHouse): ordered funnels, side by side, across shapes.

Each case is one ordered funnel report over the bench data (see /work/shared/specs/funnels.md and bench/README.md),
UTC, as_of 2025-06-01T00:00:00Z, and every engine must give the same count of persons per step. A case is
`wWINDOW/sSTEPS/rRANGE`:
  - WINDOW, the conversion window: `1d`, `14d` or `30d` (funnels.md §3.2: fixed seconds, the bound inclusive);
  - STEPS: `4` is `$pageview` -> `$identify` -> `chat_message` -> `payment`, `2` is `$pageview` -> `payment`;
  - RANGE, the date range every event of an attempt must lie in (funnels.md §3.1.4): `90` is 2025-01-01 ..
    2025-03-31 (all the data), `30` is 2025-03-01 .. 2025-03-30.

Persons are distinct ids merged by `$identify`, resolved by the one-hop map of bench/harness.py (the same as the
retention and trends benchmarks; the harness checks that it is exact for the data). A person's level is the furthest
step of any attempt: each step's event after the previous step's, all within W of the step-1 event. Step k counts
the persons with level >= k.

| Engine | How |
|---|---|
| liucun | `liucun --data DIR funnels -p P --step $pageview --step $identify --step chat_message --step payment --window 14d --from F --to T --tz UTC --as-of A --format json`, then `series[0].steps[k].count` |
| DuckDB | window functions, one pass per step: an event of step k continues the latest attempt that reached step k-1 before it, `max(entry) OVER (PARTITION BY person ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)`, when it lies within W of that entry; a person's level is the highest step that some event continued |
| chDB | `windowFunnel(W)(ts_us, event = A, event = B, ...)` per person |

The DuckDB plan is exact: the latest attempt that reached step k-1 has the latest entry of all of them, so no other
attempt could continue where it cannot.

`funnels.py EVENTS` generates and imports bench/data/EVENTS once (shared with bench/retention.py and
bench/trends.py), computes every case with every engine, checks the counts (exit 1 at the first difference), times
them cold (a fresh process, from files) and warm (data in memory) and writes bench/data/EVENTS/funnels.json.
`--days D` generates the data over D days instead of 90 (`liucun gen --days D`, in bench/data/EVENTS-dD): the same
number of events spread over a longer or shorter history, so users have more or fewer events each. Run it as

    bench/.venv/bin/python bench/funnels.py 10000000 [--days 365] [--cases w14d/s4/r90,...] [--reps N]

after `bench/run.sh` has built liucun and bench/.venv once. The peers are DuckDB and chDB (Polars is not wired in).
"""

from __future__ import annotations

import datetime as dt
import sys

import harness
from harness import AS_OF, sql_list

# --- The reports ------------------------------------------------------------------------------------------------
STEPS = {4: ["$pageview", "$identify", "chat_message", "payment"], 2: ["$pageview", "payment"]}
WINDOWS_S = {"1d": 86_400, "14d": 14 * 86_400, "30d": 30 * 86_400}
RANGES = {"90": (dt.date(2025, 1, 1), dt.date(2025, 3, 31)), "30": (dt.date(2025, 3, 1), dt.date(2025, 3, 30))}


def parse_case(case: str) -> tuple[str, list[str], dt.date, dt.date]:
    window, steps, days = case.split("/")
    first, last = RANGES[days[1:]]
    return window[1:], STEPS[int(steps[1:])], first, last


def liucun_args(case: str) -> list[str]:
    window, steps, first, last = parse_case(case)
    args = ["funnels"]
    for s in steps:
        args += ["--step", s]
    return args + ["--window", window, "--from", first.isoformat(), "--to", last.isoformat(), "--tz", "UTC",
                   "--as-of", AS_OF, "--format", "json"]


def liucun_counts(report: dict) -> list[int]:
    (series,) = report["series"]
    return [int(s["count"]) for s in series["steps"]]


def peer_counts(case: str):
    """A peer's rows (level, persons) for levels >= 1 -> persons with level >= k, for k = 1..n."""
    n = len(parse_case(case)[1])

    def read(rows: list) -> list[int]:
        by_level = {int(level): int(persons) for level, persons in rows}
        if not set(by_level) <= set(range(1, n + 1)):
            raise SystemExit(f"{case}: a peer returned levels {sorted(by_level)}")
        return [sum(p for level, p in by_level.items() if level >= k) for k in range(1, n + 1)]
    return read


def first_difference(name: str, got: list[int], want: list[int]) -> str | None:
    if got != want:
        return f"{name} differs from liucun: step counts {got} vs liucun {want}"
    return None


def bounds(first: dt.date, last: dt.date) -> tuple[str, str]:
    """The range as a half-open interval of UTC instants: [first 00:00, last + 1 day 00:00)."""
    return f"{first.isoformat()} 00:00:00", f"{(last + dt.timedelta(days=1)).isoformat()} 00:00:00"


# --- DuckDB -----------------------------------------------------------------------------------------------------
def duckdb_sql(case: str, events: str) -> str:
    window, steps, first, last = parse_case(case)
    w_us = WINDOWS_S[window] * 1_000_000
    lo, hi = bounds(first, last)
    step_of = " ".join(f"WHEN '{s}' THEN {k}" for k, s in enumerate(steps, 1))
    # e{k}: for an event that continued an attempt to step k, that attempt's entry (epoch microseconds).
    passes, prev = [], "e1"
    for k in range(2, len(steps) + 1):
        passes.append(f"""
s{k} AS (
    SELECT * EXCLUDE (p), CASE WHEN step = {k} AND ts - p <= {w_us} THEN p END AS e{k}
    FROM (SELECT *, max({prev}) OVER (PARTITION BY person ORDER BY ts, step
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS p
          FROM s{k - 1})
),""")
        prev = f"e{k}"
    level = "CASE " + " ".join(f"WHEN max(e{k}) IS NOT NULL THEN {k}" for k in range(len(steps), 0, -1)) + " END"
    return f"""
WITH valid_merges AS ({harness.duckdb_merges(events)}
),
s1 AS (                     -- the step events of the range; a step-1 event is the entry of its own attempt
    SELECT coalesce(m.person, e.distinct_id) AS person, epoch_us(e.timestamp) AS ts,
           CASE e.event {step_of} END AS step,
           CASE WHEN e.event = '{steps[0]}' THEN epoch_us(e.timestamp) END AS e1
    FROM {events} AS e
    LEFT JOIN valid_merges AS m ON m.anon = e.distinct_id
    WHERE e.event IN ({sql_list(steps)})
      AND e.timestamp >= TIMESTAMPTZ '{lo}+00' AND e.timestamp < TIMESTAMPTZ '{hi}+00'
      AND e.timestamp < TIMESTAMPTZ '{AS_OF}'
),{''.join(passes)}
levels AS (SELECT person, {level} AS level FROM s{len(steps)} GROUP BY person)
SELECT level, count(*) FROM levels WHERE level IS NOT NULL GROUP BY level
"""


def duckdb_cold(parquet: str, case: str):
    import duckdb
    con = duckdb.connect()  # a fresh in-memory database
    return con.execute(duckdb_sql(case, f"read_parquet('{parquet}')")).fetchall()


def duckdb_warm_load(parquet: str):
    import duckdb
    con = duckdb.connect()
    # As in the other benchmarks: `properties` only where `$identify` needs it.
    con.execute(
        "CREATE TABLE events AS SELECT distinct_id, event, timestamp, "
        f"CASE WHEN event = '$identify' THEN properties END AS properties FROM read_parquet('{parquet}')"
    )
    return lambda case: con.execute(duckdb_sql(case, "events")).fetchall(), con.close


# --- chDB (ClickHouse SQL) --------------------------------------------------------------------------------------
def chdb_sql(case: str, events: str) -> str:
    window, steps, first, last = parse_case(case)
    w_us = WINDOWS_S[window] * 1_000_000
    lo, hi = bounds(first, last)
    conds = ", ".join(f"e.event = '{s}'" for s in steps)
    return f"""
WITH valid_merges AS ({harness.chdb_merges(events)}
)
SELECT level, count() FROM
(
    SELECT coalesce(m.person, e.distinct_id) AS person,
           windowFunnel({w_us})(toUInt64(toUnixTimestamp64Micro(e.timestamp)), {conds}) AS level
    FROM {events} AS e
    LEFT ANY JOIN valid_merges AS m ON m.anon = e.distinct_id
    WHERE e.event IN ({sql_list(steps)})
      AND e.timestamp >= parseDateTime64BestEffort('{lo}', 6, 'UTC')
      AND e.timestamp < parseDateTime64BestEffort('{hi}', 6, 'UTC')
      AND e.timestamp < parseDateTime64BestEffort('{AS_OF}', 6, 'UTC')
    GROUP BY person
)
WHERE level > 0
GROUP BY level
SETTINGS join_use_nulls = 1  -- an id without a merge keeps itself (coalesce)
"""


def chdb_cold(parquet: str, case: str):
    import chdb
    con = chdb.connect(":memory:")
    try:
        return harness.chdb_rows(con, chdb_sql(case, f"file('{parquet}', Parquet)"))
    finally:
        con.close()


def chdb_warm_load(parquet: str):
    import chdb
    con = chdb.connect(":memory:")
    con.query(
        "CREATE TABLE events ENGINE = Memory AS SELECT distinct_id, event, timestamp, "
        f"if(event = '$identify', properties, '') AS properties FROM file('{parquet}', Parquet)"
    )
    return lambda case: harness.chdb_rows(con, chdb_sql(case, "events")), con.close


PEERS = {
    "duckdb": (duckdb_cold, duckdb_warm_load),
    "chdb": (chdb_cold, chdb_warm_load),
}
CASE_NAMES = [f"w{w}/s{s}/r{r}" for r in RANGES for s in (4, 2) for w in WINDOWS_S]
CASES = [harness.Case(c, liucun_args(c), liucun_counts, peer_counts(c), first_difference) for c in CASE_NAMES]


def summary(wants: dict) -> dict:
    return {"counts": wants}


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--cold":
        return harness.main(__doc__, __file__, CASES, PEERS, "funnels.json", summary)
    harness.pop_days()  # the data set of `--days D` (harness.main reads it again)
    argv = sys.argv[1:]
    if not any(a.startswith("--engines") for a in argv):
        sys.argv[1:] = argv + ["--engines", "duckdb,chdb"]
    return harness.main(__doc__, __file__, CASES, PEERS, "funnels.json", summary)

if __name__ == "__main__":
    sys.exit(main())
