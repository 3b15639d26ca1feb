//! Fuzzes the fast canonicalisation of `properties` text (`liucun_ingest`'s scanner) against the general path
//! (`serde_json` and the canonical writer): for every input the scanner accepts, both must give the same canonical
//! text and the same values for the keys validation reads. The input is the properties text, as lossy UTF-8.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    ingest::fuzz_properties(&text);
});
