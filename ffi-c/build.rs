//! Gives libiop.so its soname (`libiop.so.<major>`), as distributions expect: programs linked
//! against it record `libiop.so.0` and keep working across compatible updates. `make install`
//! installs the file as `libiop.so.<version>` with the `libiop.so.0` and `libiop.so` links.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".to_owned());
    if os == "linux" || os == "freebsd" || os == "netbsd" || os == "openbsd" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libiop.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
