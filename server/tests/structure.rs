//! The server's floor plan, checked against its code: every `crate::` import
//! of a top-level module points down (or across) the layer list in
//! `docs/ARCHITECTURE.md`, every module is on that list, and no modules
//! import each other in a circle. An import that
//! points up is a module in the wrong place; it fails here with the file and
//! line, so the plan and the code cannot drift apart.
//!
//! The check reads the source text: `crate::NAME` outside comments and outside
//! the `#[cfg(test)]` part of a file (a unit test may reach anywhere).
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Imports that still point up, each with the work that removes it. The list
/// may only shrink: an entry that no longer occurs fails the test too.
const KNOWN_UPWARD: &[(&str, &str, &str)] = &[];

/// The layer list: the first fenced block after "Imports point down this list",
/// one floor per line, top first; a floor's names before the two-space gap.
fn floors(architecture: &str) -> Vec<Vec<String>> {
    let start = architecture.find("Imports point down this list").expect("the layer list's heading");
    let block = &architecture[start..];
    let open = block.find("```").expect("the layer list's block") + 3;
    let body = &block[open..];
    let body = &body[body.find('\n').unwrap() + 1..body.find("```").unwrap()];
    body.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with(' '))
        .map(|line| {
            let names = line.split("  ").next().unwrap_or_default();
            names.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect()
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`http/edge/host.rs` -> `http`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// `(imported module, line number)` for each `crate::NAME` in the file's
/// non-test code.
fn imports(text: &str) -> Vec<(String, usize)> {
    let code = text.find("#[cfg(test)]").map_or(text, |i| &text[..i]);
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() {
                found.push((name, n + 1));
            }
        }
    }
    found
}

#[test]
fn imports_point_down_the_layer_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("../docs/ARCHITECTURE.md")).unwrap();
    let floors = floors(&architecture);
    assert!(floors.len() > 10, "the layer list was not found whole: {floors:?}");
    let height = floors.len();
    let floor_of: BTreeMap<String, usize> =
        floors.iter().enumerate().flat_map(|(i, names)| names.iter().map(move |n| (n.clone(), height - i))).collect();

    let src = root.join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut unlisted = BTreeSet::new();
    let mut upward = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut known_seen = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" {
            continue;
        }
        let Some(&from) = floor_of.get(&module) else {
            unlisted.insert(module);
            continue;
        };
        for (target, line) in imports(&std::fs::read_to_string(file).unwrap()) {
            if target == module {
                continue;
            }
            graph.entry(module.clone()).or_default().insert(target.clone());
            let Some(&to) = floor_of.get(&target) else {
                unlisted.insert(target);
                continue;
            };
            if to <= from {
                continue;
            }
            if KNOWN_UPWARD.iter().any(|(a, b, _)| *a == module && *b == target) {
                known_seen.insert((module.clone(), target.clone()));
                continue;
            }
            upward.push(format!("{}:{line}: {module} imports {target}, a higher floor", file.display()));
        }
    }
    assert!(unlisted.is_empty(), "modules missing from the layer list in docs/ARCHITECTURE.md: {unlisted:?}");
    assert!(upward.is_empty(), "imports pointing up:\n{}", upward.join("\n"));
    let gone: Vec<_> = KNOWN_UPWARD
        .iter()
        .filter(|(a, b, _)| !known_seen.contains(&((*a).to_owned(), (*b).to_owned())))
        .map(|(a, b, _)| format!("{a} -> {b}"))
        .collect();
    assert!(gone.is_empty(), "fixed, so take them off KNOWN_UPWARD: {gone:?}");
    // Modules of one floor may import each other, but not in a circle.
    assert_eq!(cycle(&graph), None, "modules importing each other in a circle");
}

/// A circle of imports in `graph`, if there is one (depth-first search).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The module path of a file (`http/api.rs` -> `http::api`, `http/mod.rs` -> `http`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
        parts.pop();
    }
    parts
}

/// Paths named in the file's non-test code: `crate::a::b`, `super::x`,
/// `self::y`, resolved to absolute module paths (items included).
fn referenced_paths(module: &[String], text: &str) -> Vec<Vec<String>> {
    let code = text.find("#[cfg(test)]").map_or(text, |i| &text[..i]);
    let mut found = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < line.len() {
            if !line.is_char_boundary(i) {
                i += 1;
                continue;
            }
            let rest = &line[i..];
            let start = ["crate::", "super::", "self::"].iter().find(|p| rest.starts_with(**p));
            let boundary =
                i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
            let (Some(prefix), true) = (start, boundary) else {
                i += 1;
                continue;
            };
            let mut path: Vec<String> = match *prefix {
                "crate::" => Vec::new(),
                "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module.to_vec(),
            };
            let mut tail = &rest[prefix.len()..];
            loop {
                if let Some(more) = tail.strip_prefix("super::") {
                    path.pop();
                    tail = more;
                    continue;
                }
                let name: String = tail.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if name.is_empty() {
                    break;
                }
                tail = &tail[name.len()..];
                path.push(name);
                match tail.strip_prefix("::") {
                    Some(more) => tail = more,
                    None => break,
                }
            }
            found.push(path);
            i += prefix.len();
        }
    }
    found
}

/// Inside each module too, files that are not each other's ancestors do not
/// import each other in a circle (`telegram::alerts` and `telegram::delivery`
/// did; so did `http::api` and the route modules it merges).
#[test]
fn no_circle_of_imports_between_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_path(&src, file);
        for path in referenced_paths(&from, &std::fs::read_to_string(file).unwrap()) {
            // The longest prefix that is a file of ours is the module named.
            let Some(to) = (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p)) else {
                continue;
            };
            let related = from.starts_with(&to) || to.starts_with(&from);
            if !related {
                graph.entry(from.join("::")).or_default().insert(to.join("::"));
            }
        }
    }
    assert!(graph.len() > 20, "the import graph was not read: {graph:?}");
    assert_eq!(cycle(&graph), None, "files importing each other in a circle");
}

#[test]
fn paths_resolve_from_the_file_that_names_them() {
    let module = vec!["http".to_owned(), "api".to_owned()];
    let text =
        "use super::error::ApiError;\nuse crate::storage::bars;\nfn f() { self::g(); super::super::symbol::x(); }\n";
    let found = referenced_paths(&module, text);
    let as_text: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(as_text, ["http::error::ApiError", "storage::bars", "http::api::g", "symbol::x"]);
}

#[test]
fn a_circle_of_imports_is_found() {
    let edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")];
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(from.to_owned()).or_default().insert(to.to_owned());
    }
    assert_eq!(cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    graph.get_mut("c").unwrap().remove("a");
    assert_eq!(cycle(&graph), None);
}

/// The check itself: an upward import is found, with its line.
#[test]
fn the_check_sees_imports_and_skips_comments_and_tests() {
    let text = "use crate::storage::Db;\n// crate::http in a comment\nfn f() { crate::bus::Bus::new(1); }\n\
                #[cfg(test)]\nmod tests { use crate::serve; }\n";
    let found: Vec<(String, usize)> = imports(text);
    assert_eq!(found, vec![("storage".to_owned(), 1), ("bus".to_owned(), 3)]);
    let plan =
        "Imports point down this list:\n\n```\nmain, cli    top\n             more words\nstorage      bottom\n```\n";
    assert_eq!(floors(plan), vec![vec!["main".to_owned(), "cli".to_owned()], vec!["storage".to_owned()]]);
}
