//! Any bytes as a FileStore token file: `load` gives a record or a Store error naming the key,
//! never a panic, and a corrupt file is not overwritten by a read.
#![no_main]

use iop_core::{FileStore, TokenStore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStore::open(dir.path().join("s")).expect("store");
    let path = store.path_of("seller-1").expect("path");
    std::fs::write(&path, body).expect("write");
    let _ = store.load("seller-1");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        body,
        "load changed the file"
    );
});
