//! Any bytes as an uploaded CSV: reading rows and checking each must never panic, however the
//! file is broken (encoding, quotes, delimiters, widths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portal::import::{parse, validate};

fuzz_target!(|data: &[u8]| {
    let Ok(rows) = parse::rows(data) else { return };
    for row in rows.take(1_000) {
        let Ok(row) = row else { break };
        let _ = validate::check_row(&row);
    }
});
