//! The Rust code blocks of the docs, run as doctests (`cargo test -p iop-doctests`, part of the
//! `rust` stage of `scripts/test`): each item below carries one Markdown file, so rustdoc
//! compiles and runs its `rust` blocks (`rust,no_run` ones are compiled only) and an example
//! that drifts from the code fails. `docs/check/blocks.py inventory` fails when a Markdown file
//! with Rust blocks is missing here.
#![allow(
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls
)]

/// `README.md`
#[doc = include_str!("../../README.md")]
pub mod readme {}

/// `core/README.md`
#[doc = include_str!("../../core/README.md")]
pub mod core_readme {}

/// `emulator/README.md`
#[doc = include_str!("../../emulator/README.md")]
pub mod emulator_readme {}

/// The protocol chapter.
#[doc = include_str!("../src/concepts/protocol.md")]
pub mod protocol {}

/// The tokens chapter.
#[doc = include_str!("../src/concepts/tokens.md")]
pub mod tokens {}

/// The lifecycle chapter.
#[doc = include_str!("../src/concepts/lifecycle.md")]
pub mod lifecycle {}

/// The stores chapter.
#[doc = include_str!("../src/concepts/stores.md")]
pub mod stores {}

/// The Rust guide.
#[doc = include_str!("../src/guides/rust.md")]
pub mod rust_guide {}
