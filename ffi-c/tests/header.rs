//! `include/iop.h` is generated from this crate by cbindgen; this test regenerates it in memory
//! and fails on any difference with the committed file. `make header` (that is,
//! `IOP_BLESS=1 cargo test -p iop-ffi --test header`) writes it instead.
//!
//! The version macros (`IOP_VERSION`, `IOP_VERSION_MAJOR/MINOR/PATCH`) come from the workspace
//! version, like `iop_version()`: a version bump without `make header` fails here.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

/// The version macros, placed after the standard includes.
fn version_macros() -> String {
    format!(
        "\n/**\n * The version of this header, the same as iop_version() of the library built with it.\n \
         * Compare at compile time: `#if IOP_VERSION_MAJOR == 0 && IOP_VERSION_MINOR >= 1`.\n */\n\
         #define IOP_VERSION \"{}\"\n#define IOP_VERSION_MAJOR {}\n#define IOP_VERSION_MINOR {}\n\
         #define IOP_VERSION_PATCH {}",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    )
}

fn generate(crate_dir: &Path) -> String {
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("ffi-c/cbindgen.toml: {e}"));
    config.after_includes = Some(version_macros());
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

/// The header's version macros and the library's `iop_version()` say the same version (the
/// committed header is the generated one: `header_matches_the_sources`).
#[test]
fn version_macros_match_the_library() {
    let header = generate(&PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let macro_value = |name: &str| -> String {
        let prefix = format!("#define {name} ");
        header
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("include/iop.h has no {name}"))
            .to_owned()
    };
    // SAFETY: iop_version returns static NUL-terminated text.
    let library = unsafe { CStr::from_ptr(iop::iop_version()) }
        .to_str()
        .unwrap()
        .to_owned();
    let parts = format!(
        "{}.{}.{}",
        macro_value("IOP_VERSION_MAJOR"),
        macro_value("IOP_VERSION_MINOR"),
        macro_value("IOP_VERSION_PATCH")
    );
    assert_eq!(library, env!("CARGO_PKG_VERSION"));
    assert_eq!(parts, library);
    assert_eq!(macro_value("IOP_VERSION"), format!("\"{library}\""));
}
