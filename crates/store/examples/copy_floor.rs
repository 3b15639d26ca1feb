//! The floor under Parquet import: reads a Parquet file and writes its columns back with the segment writer's
//! settings, every row group on its own core, with nothing in between (no validation, dedupe or sort). An import
//! of the same file cannot be faster than this on the same machine.
//!
//! ```sh
//! cargo run --release -p liucun-store --example copy_floor -- events.parquet OUT_DIR
//! ```
//!
//! Prints the rows copied, the wall time and the rows per second. `bench/import_floor.sh` runs it next to
//! `liucun import` on the same file.

use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use rayon::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out] = args.as_slice() else {
        bail!("usage: copy_floor INPUT.parquet OUT_DIR");
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let started = Instant::now();
    let file = File::open(input).with_context(|| format!("opening {input}"))?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .with_context(|| format!("reading the footer of {input}"))?;
    let groups = meta.metadata().num_row_groups();
    let rows: Vec<u64> = (0..groups)
        .into_par_iter()
        .map(|g| -> Result<u64> {
            // A file of its own: clones of one descriptor would share its offset.
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
                File::open(input)?,
                meta.clone(),
            )
            .with_row_groups(vec![g])
            .with_batch_size(64 * 1024)
            .build()?;
            let path = out.join(format!("rg{g:05}.parquet"));
            let props = liucun_store::segment::writer_properties(Vec::new());
            let mut writer =
                ArrowWriter::try_new(File::create(&path)?, meta.schema().clone(), Some(props))?;
            let mut n = 0u64;
            for batch in reader {
                let batch = batch?;
                n += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
            writer.close()?;
            Ok(n)
        })
        .collect::<Result<_>>()?;
    let rows: u64 = rows.iter().sum();
    let secs = started.elapsed().as_secs_f64();
    let line = format!(
        "copied {rows} rows in {groups} row groups in {secs:.2} s = {:.0} rows/s on {} threads",
        rows as f64 / secs,
        rayon::current_num_threads()
    );
    std::io::Write::write_all(&mut std::io::stdout(), format!("{line}\n").as_bytes())?;
    Ok(())
}
