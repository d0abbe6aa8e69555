//! `include/iop.h` is generated from this crate by cbindgen; this test regenerates it in memory
//! and fails on any difference with the committed file. `make header` (that is,
//! `IOP_BLESS=1 cargo test -p iop-ffi --test header`) writes it instead.

use std::path::{Path, PathBuf};

fn generate(crate_dir: &Path) -> String {
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("ffi-c/cbindgen.toml: {e}"));
    let mut builder = cbindgen::Builder::new().with_config(config);
    // Parsing from lib.rs follows the `mod` declarations; no `cargo metadata` run needed.
    builder = builder.with_src(crate_dir.join("src").join("lib.rs"));
    let mut out = Vec::new();
    builder
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed: {e}"))
        .write(&mut out);
    String::from_utf8(out).unwrap_or_else(|e| panic!("cbindgen wrote invalid UTF-8: {e}"))
}

#[test]
fn header_matches_the_sources() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let header_path = crate_dir.join("../include/iop.h");
    let generated = generate(&crate_dir);
    if std::env::var_os("IOP_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&header_path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&header_path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "include/iop.h differs from what ffi-c/src generates (first difference at line {}).\n\
             Regenerate it with: make header",
            first + 1
        );
    }
}
