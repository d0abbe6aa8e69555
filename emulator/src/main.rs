//! `iop-emulator --listen 127.0.0.1:0 --app-key K --app-secret S`
fn main() {}
