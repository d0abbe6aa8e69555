//! The modules of the crate form layers (issue: an import loop between the casting layer and
//! the handle types, and between `result` and `error`). This test reads the sources and fails
//! on any cycle of `crate::` references between modules, and on a handle type named by the
//! casting layer (`ffi.rs`) or the panic boundary (`boundary.rs`).

// Helpers outside #[test] functions: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Each module's source without its `#[cfg(test)]` part (tests may look anywhere).
fn modules() -> BTreeMap<String, String> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .to_owned();
        modules.insert(name, code);
    }
    modules
}

/// The modules `code` refers to as `crate::name`.
fn references(code: &str, names: &BTreeSet<String>, own: &str) -> BTreeSet<String> {
    names
        .iter()
        .filter(|n| *n != own && code.contains(&format!("crate::{n}")))
        .cloned()
        .collect()
}

#[test]
fn module_references_have_no_cycle() {
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|(n, code)| (n.clone(), references(code, &names, n)))
        .collect();
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == n) {
            panic!("import cycle: {} -> {n}", path[at..].join(" -> "));
        }
        if done.contains(n) {
            return;
        }
        path.push(n.to_owned());
        for next in &graph[n] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(n.to_owned());
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
    assert!(
        graph["result"].is_empty(),
        "result imports {:?}",
        graph["result"]
    );
    assert!(!graph["error"].contains("result") || !graph["result"].contains("error"));
}

#[test]
fn the_casting_layer_and_the_boundary_name_no_handle_type() {
    let modules = modules();
    for module in ["ffi", "boundary"] {
        let code = &modules[module];
        for handle in [
            "iop_client",
            "iop_token",
            "iop_error",
            "iop_manager",
            "ClientHandle",
            "TokenHandle",
            "ErrorHandle",
            "ManagerHandle",
        ] {
            let named = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains(handle));
            assert!(!named, "{module}.rs names {handle}");
        }
    }
}
