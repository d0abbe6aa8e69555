//! Rust `log` records into Python's `logging`, under the `iop` logger.
//!
//! pyo3-log names Python loggers after the Rust target (`iop_core::client` → `iop_core.client`);
//! this wrapper keeps targets under `iop::` (the core logs with `target: "iop::client"`), renames
//! crate-named targets (`iop_core::manager` → `iop.manager`, `iop_emulator::…` →
//! `iop.emulator.…`), and drops records of other crates (HTTP and TLS internals), which could
//! carry request details. The core never logs a secret. No handler is installed.

use std::borrow::Cow;

use log::{Log, Metadata, Record};
use pyo3::prelude::*;

/// The Python-side target of a Rust target, or `None` to drop the record.
fn python_target(target: &str) -> Option<Cow<'_, str>> {
    let (head, rest) = match target.split_once("::") {
        Some((head, rest)) => (head, Some(rest)),
        None => (target, None),
    };
    let base = match head {
        "iop" | "iop_core" | "_native" | "iop_py" => "iop",
        "iop_emulator" => "iop::emulator",
        _ => return None,
    };
    Some(match rest {
        Some(rest) => Cow::Owned(format!("{base}::{rest}")),
        None => Cow::Borrowed(base),
    })
}

/// Forwards renamed records to pyo3-log.
struct IopLogger {
    inner: pyo3_log::Logger,
}

impl Log for IopLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if crate::aio::worker_skips(metadata.level()) {
            return false;
        }
        match python_target(metadata.target()) {
            Some(target) => self.inner.enabled(
                &Metadata::builder()
                    .level(metadata.level())
                    .target(&target)
                    .build(),
            ),
            None => false,
        }
    }

    fn log(&self, record: &Record<'_>) {
        if crate::aio::worker_skips(record.level()) {
            return;
        }
        let Some(target) = python_target(record.target()) else {
            return;
        };
        self.inner.log(
            &Record::builder()
                .args(*record.args())
                .level(record.level())
                .target(&target)
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {}
}

/// Installs the bridge once per process (a second extension instance keeps the first).
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    // Levels are not cached: changing a logger's level in Python takes effect at once.
    let inner = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers)?;
    if log::set_boxed_logger(Box::new(IopLogger { inner })).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
    Ok(())
}
