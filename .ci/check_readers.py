"""Checks that liucun's Parquet segments are readable as they are by DuckDB, Polars and PyArrow.

Usage: python check_readers.py DATA_DIR INSPECT_JSON
Compares each project's event count and distinct-id count, as read by every reader, with `liucun inspect --json`.
"""

import glob
import json
import sys

import duckdb
import polars as pl
import pyarrow.dataset as ds

data_dir, inspect_path = sys.argv[1], sys.argv[2]
with open(inspect_path) as f:
    inspect = json.load(f)

failures = 0
for p in inspect["projects"]:
    name = p["project"]
    files = sorted(glob.glob(f"{data_dir}/segments/{name}/*/*.parquet"))
    want = (p["events"], p["distinct_ids"])
    duck = duckdb.sql(
        f"select count(*), count(distinct distinct_id) from read_parquet({files!r})"
    ).fetchall()[0]
    polars = pl.scan_parquet(files).select(pl.len(), pl.col("distinct_id").n_unique()).collect().row(0)
    table = ds.dataset(files, format="parquet").to_table(columns=["distinct_id", "timestamp", "uuid"])
    arrow = (table.num_rows, len(set(table.column("distinct_id").to_pylist())))
    for reader, got in (("duckdb", tuple(duck)), ("polars", tuple(polars)), ("pyarrow", arrow)):
        status = "ok" if got == want else "MISMATCH"
        if got != want:
            failures += 1
        print(f"{name:<12} {reader:<8} events={got[0]} ids={got[1]} (liucun: {want[0]} / {want[1]}) {status}")

sys.exit(1 if failures else 0)
