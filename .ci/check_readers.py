"""Checks that liucun's Parquet segments are readable as they are by DuckDB, Polars and PyArrow.

Usage: python check_readers.py DATA_DIR INSPECT_JSON
Compares each project's event count and distinct-id count, as read by every reader, with `liucun inspect --json`,
and checks that the `uuid` column reads as a UUID: Parquet's UUID logical type, DuckDB's UUID, PyArrow's
`arrow.uuid` extension type, and in Polars (which has no UUID type) the same 16 bytes DuckDB shows as that UUID.
"""

import glob
import json
import sys

import uuid

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq

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

    # The uuid column, as each reader types it.
    logical = str(pq.ParquetFile(files[0]).schema.column(0).logical_type)
    duck_type = duckdb.sql(f"describe select uuid from read_parquet({files[:1]!r})").fetchall()[0][1]
    arrow_type = str(table.schema.field("uuid").type)
    first = duckdb.sql(
        f"select uuid from read_parquet({files!r}) order by distinct_id, timestamp, uuid limit 1"
    ).fetchall()[0][0]
    polars_bytes = (
        pl.scan_parquet(files).sort("distinct_id", "timestamp", "uuid").select("uuid").head(1).collect().item()
    )
    checks = (
        ("parquet", logical, logical == "UUID"),
        ("duckdb", duck_type, duck_type == "UUID" and isinstance(first, uuid.UUID)),
        ("pyarrow", arrow_type, arrow_type == "extension<arrow.uuid>"),
        ("polars", f"{len(polars_bytes)} bytes", isinstance(first, uuid.UUID) and polars_bytes == first.bytes),
    )
    for reader, got, ok in checks:
        if not ok:
            failures += 1
        print(f"{name:<12} {reader:<8} uuid column: {got} {'ok' if ok else 'NOT A UUID'}")

sys.exit(1 if failures else 0)
