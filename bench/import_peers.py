#!/usr/bin/env python3
"""DuckDB and Polars doing the work of `liucun import` on the same files, as peers for bench/import_peers.sh.

    import_peers.py import ENGINE INPUT OUT          # ENGINE: duckdb or polars; INPUT: *.ndjson or *.parquet
    import_peers.py check ENGINE OUT [--expect N]    # read OUT back with ENGINE and print what it holds

`import` is the process bench/import_peers.sh times. It
  1. reads INPUT: NDJSON lines or Parquet rows with the fields uuid, distinct_id, event, timestamp and properties
     (NDJSON: timestamp is RFC 3339 text, properties a JSON object; Parquet, as written by `liucun gen`: timestamp
     is timestamp[us, UTC], properties JSON text);
  2. parses timestamp into a UTC timestamp (Parquet: already one) and keeps properties as JSON text;
  3. extracts two properties into typed columns with the engine's JSON functions: ai_model (text, `$ai_model`) and
     ai_input_tokens (int64, `$ai_input_tokens`; null when absent or not an integer);
  4. drops duplicate uuids, keeping one copy;
  5. writes zstd-compressed Parquet into OUT (new or empty), hive-partitioned by UTC day
     (OUT/day=YYYY-MM-DD/*.parquet, the day only in the directory name), every file's rows sorted by
     (distinct_id, timestamp).
Both engines use their default thread counts, i.e. every core.

What `liucun import` does that the peers do not:
  - validate each event and quarantine bad rows with a reason (the peers take every row as it comes, and a
    malformed line fails the whole run);
  - canonicalise the properties JSON. From NDJSON both peers write back their engine's own serialisation of the
    parsed object (members in input order; DuckDB compact, e.g. 10.350 becomes 10.35; Polars with a space after
    each colon and comma); from Parquet they copy the text as is;
  - compute a SHA-256 content digest per event. liucun uses it to tell a repeated event from a conflicting one with
    the same uuid (the smaller digest wins) and dedupes against what is already stored; the peers keep an arbitrary
    copy per uuid and write into an empty directory;
  - extract its full set of typed columns (the peers: two), record identity merges in the segments, sort ties on
    (distinct_id, timestamp) by uuid, write a manifest;
  - fsync: neither peer calls fsync, so part of their output may still be in the page cache when they exit.

Choices per engine:
  - DuckDB: read_json with the columns declared (properties as JSON, written out as text) and
    CAST(timestamp AS TIMESTAMPTZ) in a UTC session; one COPY ... TO with PARTITION_BY (day) and the COPY option
    ORDER_BY, which sorts each written file (an ORDER BY in the query is not kept by a partitioned write).
  - Polars: the lazy API and the streaming sink. scan_ndjson with a schema of strings: the reader hands the nested
    properties object back as JSON text, which avoids inferring a struct type from the first lines. Timestamps are
    parsed with str.to_datetime("%+") (RFC 3339, any offset, to UTC). The frame is sorted by
    (day, distinct_id, timestamp) and sink_parquet(pl.PartitionBy(OUT, key="day")) cuts it into the day
    directories, keeping that order.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

# The Parquet columns every peer writes (plus the `day` partition, in the directory names).
COLUMNS = ["uuid", "distinct_id", "event", "timestamp", "properties", "ai_model", "ai_input_tokens"]


# --- DuckDB -----------------------------------------------------------------------------------------------------
def duckdb_connect(spill_dir: str | None = None):
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # CAST(timestamptz AS DATE) gives the UTC day
    con.execute("SET enable_progress_bar = false")
    if spill_dir:
        con.execute(f"SET temp_directory = {sql_str(spill_dir)}")  # an in-memory database spills to ./.tmp
    return con


def duckdb_import(src: str, out: str) -> None:
    if src.endswith(".ndjson"):
        events = (f"read_json({sql_str(src)}, format = 'newline_delimited', columns = {{uuid: 'VARCHAR', "
                  "distinct_id: 'VARCHAR', event: 'VARCHAR', timestamp: 'VARCHAR', properties: 'JSON'})")
        timestamp = "CAST(timestamp AS TIMESTAMPTZ)"  # RFC 3339 text, any offset, to UTC
    else:
        events = f"read_parquet({sql_str(src)})"
        timestamp = "timestamp"  # already TIMESTAMPTZ
    # Spill files (if the sort outgrows memory) go next to OUT, on the same disk, and are removed afterwards.
    spill = tempfile.mkdtemp(prefix=".duckdb-spill-", dir=Path(out).parent)
    try:
        con = duckdb_connect(spill)
        con.execute(f"""
            COPY (
                SELECT uuid, distinct_id, event, timestamp, properties,
                       properties ->> '$."$ai_model"' AS ai_model,
                       TRY_CAST(properties -> '$."$ai_input_tokens"' AS BIGINT) AS ai_input_tokens,
                       CAST(timestamp AS DATE) AS day  -- UTC: the session time zone
                FROM (
                    SELECT DISTINCT ON (uuid) uuid, distinct_id, event, {timestamp} AS timestamp,
                           CAST(properties AS VARCHAR) AS properties
                    FROM {events}
                )
            ) TO {sql_str(out)}
              (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day), ORDER_BY (distinct_id, timestamp))
        """)
        con.close()
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def duckdb_check(out: str) -> dict:
    con = duckdb_connect()
    files = f"read_parquet({sql_str(out + '/*/*.parquet')}, hive_partitioning = true, filename = true, " \
            "file_row_number = true)"
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {files})").fetchall())
    rows, uuids, days, nfiles, unsorted, wrong_day, models, tokens = con.execute(f"""
        WITH f AS (
            SELECT *, lag(distinct_id) OVER w AS prev_id, lag(timestamp) OVER w AS prev_ts
            FROM {files}
            WINDOW w AS (PARTITION BY filename ORDER BY file_row_number)
        )
        SELECT count(*), count(DISTINCT uuid), count(DISTINCT day), count(DISTINCT filename),
               count(*) FILTER (WHERE prev_id > distinct_id OR (prev_id = distinct_id AND prev_ts > timestamp)),
               count(*) FILTER (WHERE CAST(timestamp AS DATE) <> day),
               count(ai_model), count(ai_input_tokens)
        FROM f
    """).fetchone()
    want = {"timestamp": "TIMESTAMP WITH TIME ZONE", "properties": "VARCHAR", "ai_model": "VARCHAR",
            "ai_input_tokens": "BIGINT", "day": "DATE"}
    bad_types = {c: types.get(c) for c, t in want.items() if types.get(c) != t}
    return dict(rows=rows, uuids=uuids, days=days, files=nfiles, unsorted=unsorted, wrong_day=wrong_day,
                models=models, tokens=tokens, columns=[c for c in types if c not in ("filename", "file_row_number")],
                bad_types=bad_types)


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# --- Polars -----------------------------------------------------------------------------------------------------
def polars_import(src: str, out: str) -> None:
    import polars as pl
    if src.endswith(".ndjson"):
        # A string schema for `properties` makes the reader return the object as JSON text.
        events = pl.scan_ndjson(src, schema={c: pl.String for c in COLUMNS[:5]}).with_columns(
            timestamp=pl.col("timestamp").str.to_datetime(format="%+", time_unit="us", time_zone="UTC"))
    else:
        events = pl.scan_parquet(src)  # timestamp is already Datetime(us, UTC)
    props = pl.col("properties")
    (
        events.unique(subset="uuid", keep="any")
        .with_columns(
            ai_model=props.str.json_path_match("$['$ai_model']"),
            ai_input_tokens=props.str.json_path_match("$['$ai_input_tokens']").cast(pl.Int64, strict=False),
            day=pl.col("timestamp").dt.date(),  # UTC
        )
        # Day first: the sink receives one day after another, each sorted by (distinct_id, timestamp).
        .sort("day", "distinct_id", "timestamp")
        .sink_parquet(pl.PartitionBy(out, key="day", include_key=False), compression="zstd", mkdir=True)
    )


def polars_check(out: str) -> dict:
    import polars as pl
    f = pl.scan_parquet(out, hive_partitioning=True, include_file_paths="file")
    types = {c: str(t) for c, t in f.collect_schema().items()}
    prev_id, prev_ts = pl.col("distinct_id").shift().over("file"), pl.col("timestamp").shift().over("file")
    r = f.select(
        rows=pl.len(), uuids=pl.col("uuid").n_unique(), days=pl.col("day").n_unique(),
        files=pl.col("file").n_unique(),
        unsorted=((prev_id > pl.col("distinct_id"))
                  | ((prev_id == pl.col("distinct_id")) & (prev_ts > pl.col("timestamp")))).sum(),
        wrong_day=(pl.col("timestamp").dt.date() != pl.col("day")).sum(),
        models=pl.col("ai_model").count(), tokens=pl.col("ai_input_tokens").count(),
    ).collect().row(0, named=True)
    want = {"timestamp": "Datetime(time_unit='us', time_zone='UTC')", "properties": "String", "ai_model": "String",
            "ai_input_tokens": "Int64", "day": "Date"}
    r.update(columns=[c for c in types if c != "file"],
             bad_types={c: types.get(c) for c, t in want.items() if types.get(c) != t})
    return r


ENGINES = {"duckdb": (duckdb_import, duckdb_check), "polars": (polars_import, polars_check)}


# --- Command line -----------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import INPUT into the new or empty directory OUT")
    imp.add_argument("engine", choices=ENGINES)
    imp.add_argument("input", help="events file: *.ndjson or *.parquet")
    imp.add_argument("out", help="output directory (new or empty)")
    chk = sub.add_parser("check", help="read OUT back and print rows, days, files and order")
    chk.add_argument("engine", choices=ENGINES)
    chk.add_argument("out")
    chk.add_argument("--expect", type=int, help="exit 1 unless OUT holds exactly this many rows")
    args = ap.parse_args()

    if args.command == "import":
        if not args.input.endswith((".ndjson", ".parquet")):
            ap.error(f"{args.input}: expected a .ndjson or .parquet file")
        out = Path(args.out)
        if out.exists() and any(out.iterdir()):
            ap.error(f"{out} is not empty")
        out.mkdir(parents=True, exist_ok=True)
        ENGINES[args.engine][0](args.input, str(out.resolve()))
        return 0

    r = ENGINES[args.engine][1](str(Path(args.out).resolve()))
    problems = []
    if r["uuids"] != r["rows"]:
        problems.append(f"{r['rows'] - r['uuids']} duplicate uuids")
    if r["unsorted"]:
        problems.append(f"{r['unsorted']} rows out of (distinct_id, timestamp) order within their file")
    if r["wrong_day"]:
        problems.append(f"{r['wrong_day']} rows in the directory of another day")
    if r["columns"] != COLUMNS + ["day"]:
        problems.append(f"columns {r['columns']}")
    if r["bad_types"]:
        problems.append(f"unexpected column types {r['bad_types']}")
    if args.expect is not None and r["rows"] != args.expect:
        problems.append(f"expected {args.expect} rows")
    # The row count comes first: bench/import_peers.sh reads it from there.
    print(f"{r['rows']} rows, {r['uuids']} distinct uuids, {r['days']} days in {r['files']} files, "
          f"ai_model set on {r['models']} rows and ai_input_tokens on {r['tokens']}; "
          + ("; ".join(problems) if problems else "each file sorted by (distinct_id, timestamp)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
