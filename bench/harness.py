"""What the report benchmarks share (bench/retention.py, bench/trends.py): the generated data and its import, the
identity map every peer applies, liucun's cold and warm timings, the peers' cold and warm timings, the check that
every engine gives the same numbers, and the machine description.

A benchmark script describes its report as a list of `Case`s (a liucun command line, and how to read liucun's JSON
and a peer's rows into comparable values) and a dict of peers, then calls `main()`. Every case is computed by every
engine and compared with liucun's answer before anything is printed; a difference exits 1.

Cold peer runs happen in a fresh process: the script is started again as `SCRIPT --cold ENGINE PARQUET CASE`, and
`main()` answers that by running one query and printing {"ms": from-connect time, "rows": [...]} as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LIUCUN = Path(os.environ.get("LIUCUN_BIN", ROOT / "target" / "release" / "liucun"))

AS_OF = "2025-06-01T00:00:00Z"  # after all generated data; events stamped at or after it are ignored
AS_OF_DATETIME = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
# retention.md §5.4: the default non-activity events. Every other event counts as activity.
NON_ACTIVITY = ["$set", "$set_once", "$create_alias", "$merge_dangerously", "$groupidentify", "payment"]
# events.md §2.1.4: placeholder ids that never take part in a merge (compared after trimming whitespace).
PLACEHOLDERS_ANY_CASE = ["anonymous", "guest", "distinctid", "distinct_id", "id", "not_authenticated", "email",
                         "undefined", "true", "false"]
PLACEHOLDERS_EXACT = ["null", "None", "none", "NaN", "[object Object]", "-1"]
ZEROS_AND_DASHES = "^[0-]+$"


def sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


# --- Persons: the one-hop identity map, in each peer's idiom ----------------------------------------------------
# `$identify`: distinct_id keeps, properties.$anon_distinct_id is merged into it; empty and placeholder ids and
# self-merges are skipped. One hop is exact for the bench data (check_identity_shape() verifies it), and an id
# without a merge is its own person: `coalesce(m.person, e.distinct_id)`.
def duckdb_merges(events: str) -> str:
    """A DuckDB query of the valid merges (anon, person) in `events` (a table or a read_parquet(...) call)."""
    return f"""
    SELECT anon, person FROM (
        SELECT DISTINCT trim(json_extract_string(properties, '$."$anon_distinct_id"')) AS anon, distinct_id AS person
        FROM {events}
        WHERE event = '$identify' AND timestamp < TIMESTAMPTZ '{AS_OF}'
    )
    WHERE anon <> '' AND anon <> person
      AND lower(anon) NOT IN ({sql_list(PLACEHOLDERS_ANY_CASE)})
      AND anon NOT IN ({sql_list(PLACEHOLDERS_EXACT)})
      AND NOT regexp_matches(anon, '{ZEROS_AND_DASHES}')"""


def chdb_merges(events: str) -> str:
    """The same in ClickHouse SQL (`events` is a table or a file(...) call)."""
    return f"""
    SELECT DISTINCT trim(JSONExtractString(properties, '$anon_distinct_id')) AS anon, distinct_id AS person
    FROM {events}
    WHERE event = '$identify' AND timestamp < parseDateTime64BestEffort('{AS_OF}', 6, 'UTC')
      AND anon != '' AND anon != person
      AND lower(anon) NOT IN ({sql_list(PLACEHOLDERS_ANY_CASE)})
      AND anon NOT IN ({sql_list(PLACEHOLDERS_EXACT)})
      AND NOT match(anon, '{ZEROS_AND_DASHES}')"""


def polars_merges(events):
    """The same as a Polars LazyFrame (anon, person) over a LazyFrame of events already cut at as_of."""
    import polars as pl
    anon = pl.col("anon")
    return (
        events.filter(pl.col("event") == "$identify")
        .select(anon=pl.col("properties").str.json_path_match("$['$anon_distinct_id']").str.strip_chars(),
                person=pl.col("distinct_id"))
        .filter((anon != "") & (anon != pl.col("person"))
                & ~anon.str.to_lowercase().is_in(PLACEHOLDERS_ANY_CASE)
                & ~anon.is_in(PLACEHOLDERS_EXACT)
                & ~anon.str.contains(ZEROS_AND_DASHES))
        .unique()
    )


def chdb_rows(con, sql: str) -> list:
    out = con.query(sql, "JSONCompact")
    return json.loads(out.bytes())["data"]


# --- Data preparation -------------------------------------------------------------------------------------------
def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def pop_days() -> int | None:
    """Takes `--days D` out of the command line (the data set of `liucun gen --days D`), and hands it to the cold
    children through LIUCUN_BENCH_DAYS, so that a script may shape its cases by the history's length."""
    argv = sys.argv[1:]
    if "--days" in argv:
        i = argv.index("--days")
        os.environ["LIUCUN_BENCH_DAYS"] = argv[i + 1]
        del argv[i:i + 2]
        sys.argv[1:] = argv
    days = os.environ.get("LIUCUN_BENCH_DAYS")
    return int(days) if days else None


def prepare(events: int, days: int | None = None) -> tuple[Path, Path, str, dict]:
    """Generates and imports the data set once; later runs reuse it (delete its directory to start over): the
    90-day data of `liucun gen` in bench/data/EVENTS, or with `days` that of `liucun gen --days D` in
    bench/data/EVENTS-dD."""
    base = BENCH / "data" / (str(events) if days is None else f"{events}-d{days}")
    parquet = base / "events.parquet"
    meta_path = base / "dataset.json"
    if not meta_path.exists():
        base.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        cmd = [str(LIUCUN), "gen", "--events", str(events), "--seed", "42", "--apps", "1",
               "--out", str(parquet)] + ([] if days is None else ["--days", str(days)])
        # One line per app: project, events file, "N events", persons file.
        project, _path, n = run(cmd).stdout.strip().split("\t")[:3]
        meta = {"project": project, "events": int(n.split()[0]), "gen_s": time.perf_counter() - started,
                "parquet_bytes": parquet.stat().st_size, "days": days or 90}
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
    merged into two persons and no kept id is itself merged away; stop if the data breaks either rule. Personless
    events (`$process_person_profile: false`) would need the personless rule of retention.md §5.4, which the peers
    do not implement: stop if there are any."""
    import duckdb
    bad = duckdb.connect().execute(f"""
        WITH m AS (SELECT DISTINCT json_extract_string(properties, '$."$anon_distinct_id"') AS anon,
                                   distinct_id AS person
                   FROM read_parquet('{parquet}') WHERE event = '$identify')
        SELECT (SELECT count(*) FROM (SELECT anon FROM m GROUP BY anon HAVING count(*) > 1)),
               (SELECT count(*) FROM m WHERE person IN (SELECT anon FROM m)),
               (SELECT count(*) FROM read_parquet('{parquet}')
                WHERE event IN ('$create_alias', '$merge_dangerously')),
               (SELECT count(*) FROM read_parquet('{parquet}')
                WHERE properties LIKE '%$process_person_profile%')""").fetchone()
    if any(bad):
        raise SystemExit(f"the one-hop identity map is not exact for this data: {bad[0]} anonymous ids merged "
                         f"twice, {bad[1]} kept ids merged away, {bad[2]} alias/merge events, "
                         f"{bad[3]} events naming $process_person_profile")


def machine() -> dict:
    def sh(cmd):
        return subprocess.run(cmd, shell=True, text=True, capture_output=True).stdout.strip()
    import duckdb, polars, pyarrow
    return {"nproc": sh("nproc"), "cpu": sh("lscpu | grep -m1 'Model name' | sed 's/.*: *//'"),
            "memory": sh("free -h | awk '/^Mem/ {print $2}'"), "python": platform.python_version(),
            "commit": sh(f"git -C {ROOT} rev-parse --short HEAD"),
            "versions": {"liucun": sh(f"{LIUCUN} --version"), "duckdb": duckdb.__version__,
                         "polars": polars.__version__, "chdb": sh(f"{sys.executable} -c 'import chdb; "
                                                                  f"print(chdb.__version__)'"),
                         "pyarrow": pyarrow.__version__}}


# --- A report, as the harness runs it ---------------------------------------------------------------------------
@dataclass
class Case:
    """One report computed by every engine.

    `liucun_args` is the CLI command (without --data and -p); `want` reads liucun's JSON report into the value
    every engine must match; `got` reads a peer's rows into that shape; `diff` returns the first difference as
    text, or None when they are equal."""
    name: str
    liucun_args: list[str]
    want: Callable[[dict], Any]
    got: Callable[[list], Any]
    diff: Callable[[str, Any, Any], str | None]


# A peer: cold(parquet, case name) -> rows, run in a fresh process; warm_load(parquet) -> (query(case name) -> rows,
# close), the table loaded into memory once (untimed) and queried for every case.
Peer = tuple[Callable[[str, str], list], Callable[[str], tuple[Callable[[str], list], Callable[[], None]]]]
ENGINE_MODULES = {"duckdb": "duckdb", "chdb": "chdb", "polars": "polars"}


def liucun_cold(data_dir: Path, project: str, args: list[str], reps: int) -> tuple[list[float], dict]:
    """Whole-process time of the CLI, `reps` times; returns the times (ms) and the report."""
    times, report = [], None
    for _ in range(reps):
        started = time.perf_counter()
        out = run([str(LIUCUN), "--data", str(data_dir), *args, "-p", project]).stdout
        times.append((time.perf_counter() - started) * 1e3)
        report = json.loads(out, parse_float=decimal.Decimal)  # liucun writes exact decimals
    return times, report


def liucun_warm(data_dir: Path, project: str, args: list[str], reps: int) -> tuple[float, list[float]]:
    """In-process times from `--repeat`: run 1 reads the data directory, runs 2.. read in-memory tables (warm).
    Returns run 1 and the warm runs."""
    repeat = max(5, reps + 1)
    err = run([str(LIUCUN), "--data", str(data_dir), *args, "-p", project, "--repeat", str(repeat)]).stderr
    times = [float(line.split(":")[1].split()[0]) for line in err.splitlines() if line.startswith("run ")]
    assert len(times) == repeat, err
    return times[0], times[1:]


def cold_child(peers: dict[str, Peer], engine: str, parquet: str, case: str) -> None:
    """The fresh process of a cold run: import the engine, then time from connect to the result."""
    cold, _ = peers[engine]
    __import__(ENGINE_MODULES[engine])
    started = time.perf_counter()
    rows = cold(parquet, case)
    ms = (time.perf_counter() - started) * 1e3
    print(json.dumps({"ms": ms, "rows": rows}))


class Mismatch(Exception):
    """A peer's numbers differ from liucun's."""


def time_peer(name: str, peer: Peer, script: str, parquet: Path, cases: list[Case], wants: dict, results: dict,
              reps: int, warm: bool) -> None:
    """Cold runs of every case (fresh processes), then (with `warm`) one warm load and the warm runs; checks every
    answer."""
    for case in cases:
        cold_ms, cold_process_ms = [], []
        for _ in range(reps):
            started = time.perf_counter()
            child = json.loads(run([sys.executable, script, "--cold", name, str(parquet), case.name]).stdout)
            cold_process_ms.append((time.perf_counter() - started) * 1e3)
            cold_ms.append(child["ms"])
            diff = case.diff(f"{case.name}: {name} (cold)", case.got(child["rows"]), wants[case.name])
            if diff:
                raise Mismatch(diff)
        results[case.name][name] = {"cold_ms": cold_ms, "cold_process_ms": cold_process_ms}
        print(f"{case.name}: {name} cold {statistics.median(cold_ms):.0f} ms (identical)", flush=True)
    if not warm:
        return
    query, close = peer[1](str(parquet))  # load the table / DataFrame (untimed)
    try:
        for case in cases:
            # One untimed warm-up query first (like liucun's run 1); its result is checked too.
            diff = case.diff(f"{case.name}: {name} (warm)", case.got(query(case.name)), wants[case.name])
            if diff:
                raise Mismatch(diff)
            warm_ms = []
            for _ in range(reps):
                started = time.perf_counter()
                query(case.name)
                warm_ms.append((time.perf_counter() - started) * 1e3)
            results[case.name][name]["warm_ms"] = warm_ms
            print(f"{case.name}: {name} warm {statistics.median(warm_ms):.1f} ms (identical)", flush=True)
    finally:
        close()


def print_fastest_peer(results: dict[str, dict[str, dict]]) -> None:
    """One line per case: liucun against the fastest peer that ran, cold and warm (ratio = peer / liucun)."""
    print("\n| case | liucun cold (ms) | fastest peer cold | cold ratio | liucun warm (ms) | fastest peer warm "
          "| warm ratio |")
    print("|---|---:|---|---:|---:|---|---:|")
    for case, per_engine in results.items():
        lc, lw = per_engine["liucun"]["cold_median_ms"], per_engine["liucun"]["warm_median_ms"]
        peers = {n: r for n, r in per_engine.items() if n != "liucun"}
        cells = []
        for key, base in (("cold_median_ms", lc), ("warm_median_ms", lw)):
            timed = [(r[key], n) for n, r in peers.items() if key in r]
            if timed:
                t, n = min(timed)
                cells += [f"{n} {t:,.1f} ms", f"{t / base:.2f}x"]
            else:
                cells += ["–", "–"]
        print(f"| {case} | {lc:,.1f} | {cells[0]} | {cells[1]} | {lw:,.2f} | {cells[2]} | {cells[3]} |")


def main(description: str, script: str, cases: list[Case], peers: dict[str, Peer], results_name: str,
         summary: Callable[[dict[str, Any]], dict] = lambda wants: {}) -> int:
    """Runs `cases` on liucun and on the chosen peers, checks the numbers, prints one table per case and writes
    bench/data/EVENTS/`results_name`. `summary` turns liucun's answers (case name -> value) into extra fields of
    that file. Also answers the `--cold ENGINE PARQUET CASE` child mode."""
    if len(sys.argv) == 5 and sys.argv[1] == "--cold":
        cold_child(peers, sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events", type=int, help="number of generated events (1000000, 10000000, ...)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per engine and mode (default 3)")
    ap.add_argument("--engines", default="duckdb,chdb,polars", help="peers to run (comma-separated)")
    ap.add_argument("--cold-only", default="", help="peers timed cold only, without loading a warm table "
                    "(comma-separated; chDB's Memory table of 100M events does not fit in 23 GiB)")
    ap.add_argument("--cases", default="", help="run only these cases (comma-separated names; default all)")
    days = pop_days()  # `--days D`: the data set of `liucun gen --days D`, taken out before the parse
    args = ap.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    if args.cases:
        chosen = set(args.cases.split(","))
        unknown = chosen - {c.name for c in cases}
        if unknown:
            raise SystemExit(f"unknown cases {sorted(unknown)}; the cases are {[c.name for c in cases]}")
        cases = [c for c in cases if c.name in chosen]

    parquet, data_dir, project, meta = prepare(args.events, days)
    check_identity_shape(parquet)
    print(f"data: {meta['events']:,} events, project {project}, parquet {meta['parquet_bytes'] / 2**20:.0f} MiB; "
          f"import {meta['import_s']:.1f} s ({meta['import_events_per_s']:,.0f} events/s), "
          f"compact {meta['compact_s']:.1f} s", flush=True)

    results: dict[str, dict[str, dict]] = {c.name: {} for c in cases}
    wants = {}
    for case in cases:
        cold, report = liucun_cold(data_dir, project, case.liucun_args, args.reps)
        wants[case.name] = case.want(report)
        run1, warm = liucun_warm(data_dir, project, case.liucun_args, args.reps)
        results[case.name]["liucun"] = {"cold_ms": cold, "warm_ms": warm, "first_run_in_process_ms": run1}
        print(f"{case.name}: liucun cold {statistics.median(cold):.0f} ms (in-process run 1: {run1:.0f} ms), "
              f"warm {statistics.median(warm):.2f} ms", flush=True)

    failed = {}
    for name in engines:
        try:
            time_peer(name, peers[name], script, parquet, cases, wants, results, args.reps,
                      warm=name not in args.cold_only.split(","))
        except Mismatch as e:
            print(e, file=sys.stderr)
            return 1
        except Exception as e:  # an engine that cannot run a case (memory, say) leaves the others to run
            detail = e.stderr.strip().splitlines()[-1] if isinstance(e, subprocess.CalledProcessError) and e.stderr \
                else repr(e)
            failed[name] = detail[:500]
            print(f"{name} failed: {failed[name]}", file=sys.stderr, flush=True)

    ran = 1 + len(engines) - len(failed)
    print(f"\nall {ran} engines that ran give identical numbers in every case they ran\n")
    print(f"{meta['events']:,} events; median of {args.reps} (liucun warm: of {max(5, args.reps + 1) - 1})")
    for case in cases:
        per_engine = results[case.name]
        base_cold = statistics.median(per_engine["liucun"]["cold_ms"])
        base_warm = statistics.median(per_engine["liucun"]["warm_ms"])
        if len(cases) > 1:
            print(f"\n{case.name}\n")
        print("| engine | cold (ms) | cold vs liucun | warm (ms) | warm vs liucun | cold, whole process (ms) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, r in per_engine.items():
            c = statistics.median(r["cold_ms"])
            r.update(cold_median_ms=c, cold_ratio=c / base_cold)
            process = statistics.median(r.get("cold_process_ms", r["cold_ms"]))
            warm = "| – | – "
            if "warm_ms" in r:  # an engine that failed on its warm load has cold figures only
                w = statistics.median(r["warm_ms"])
                r.update(warm_median_ms=w, warm_ratio=w / base_warm)
                warm = f"| {w:,.2f} | {w / base_warm:.2f}x "
            print(f"| {name} | {c:,.0f} | {c / base_cold:.2f}x {warm}| {process:,.0f} |")
    print_fastest_peer(results)
    for name, detail in failed.items():
        print(f"\n{name} did not finish: {detail}")
    out = {"dataset": meta, "machine": machine(), "reps": args.reps, "results": results, "failed": failed,
           **summary(wants)}
    (parquet.parent / results_name).write_text(json.dumps(out, indent=2, default=str) + "\n")
    return 0
