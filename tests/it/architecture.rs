//! The layering docs/architecture.md describes, checked on the source: no two
//! modules (files) of the library import each other, directly or through others;
//! neither do two top-level modules (folders), counting every import between
//! their files; and `app` (assembly) is imported only by the binary's commands. Imports are
//! read from code, not comments: `crate::…` and `super::…` paths outside
//! `#[cfg(test)]` modules, resolved to the longest existing module path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/call/mod.rs` → `call`, `src/call/ledger.rs` → `call::ledger`.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// Every `.rs` file below `dir`, into `out`.
pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its test module and comment lines.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths named after `crate::` or `super::` in `code` (`super` resolved
/// against `module`).
fn named_paths(module: &str, code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = rest
                .chars()
                .take_while(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == ':'
                })
                .collect();
            let path = path.trim_end_matches(':');
            let full = if base.is_empty() {
                path.to_string()
            } else {
                format!("{base}::{path}")
            };
            out.push(full);
        }
    }
    out
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

/// Import edges between library modules: `from` → modules it names.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(&root, f), f.clone()))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for path in named_paths(module, &code) {
            let parts: Vec<&str> = path.split("::").collect();
            let target = (1..=parts.len())
                .rev()
                .map(|k| parts[..k].join("::"))
                .find(|candidate| modules.contains_key(candidate));
            if let Some(target) = target {
                let related = target == *module
                    || module.starts_with(&format!("{target}::"))
                    || target.starts_with(&format!("{module}::"));
                if !related {
                    graph.entry(module.clone()).or_default().insert(target);
                }
            }
        }
    }
    graph
}

/// A path `from` → … → `to` in `graph`, if any.
fn path_between(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap().clone();
        if last == to && path.len() > 1 {
            return Some(path);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in graph.get(&last).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next.clone());
            stack.push(longer);
        }
    }
    None
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = import_graph();
    assert!(graph.len() > 50, "the source was not read: {graph:?}");
    // The checker finds a planted cycle.
    let mut planted = graph.clone();
    planted
        .entry("config".into())
        .or_default()
        .insert("call".into());
    planted
        .entry("call".into())
        .or_default()
        .insert("config".into());
    assert!(path_between(&planted, "config", "config").is_some());
    for module in graph.keys() {
        if let Some(cycle) = path_between(&graph, module, module) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

/// `graph` with every module replaced by its top-level module (`call_tree::call`
/// → `call_tree`), edges inside one top-level module dropped.
fn top_level(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph {
        for to in targets {
            if top(from) != top(to) {
                out.entry(top(from)).or_default().insert(top(to));
            }
        }
    }
    out
}

/// The file-level imports behind a top-level edge `from` → `to`, for the message.
fn witnesses(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Vec<String> {
    let under = |m: &str, top: &str| m == top || m.starts_with(&format!("{top}::"));
    graph
        .iter()
        .flat_map(|(f, ts)| ts.iter().map(move |t| (f, t)))
        .filter(|(f, t)| under(f, from) && under(t, to))
        .map(|(f, t)| format!("{f} → {t}"))
        .collect()
}

#[test]
fn no_top_level_module_reaches_itself_through_others() {
    let files = import_graph();
    let graph = top_level(&files);
    assert!(graph.len() > 15, "the source was not read: {graph:?}");
    // The checker finds a planted cycle between folders: `store::db` →
    // `config` and `config` → `store::calls`.
    let mut planted_files = files.clone();
    planted_files
        .entry("store::db".into())
        .or_default()
        .insert("config".into());
    planted_files
        .entry("config".into())
        .or_default()
        .insert("store::calls".into());
    let planted = top_level(&planted_files);
    assert!(path_between(&planted, "store", "store").is_some());
    for module in graph.keys() {
        if let Some(cycle) = path_between(&graph, module, module) {
            let edges: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} → {}: {:?}", w[0], w[1], witnesses(&files, &w[0], &w[1])))
                .collect();
            panic!("top-level import cycle:\n{}", edges.join("\n"));
        }
    }
}

/// The layers of docs/architecture.md, top first: a top-level module imports
/// only modules of layers below its own. `far_end` and `loadtest` (the emulated
/// peers) sit beside the server: only the commands import them.
const LAYERS: &[&[&str]] = &[
    &["main", "cli"],
    &["app"],
    &["http"],
    &["carrier", "messaging"],
    &["call_tree"],
    &["cluster", "tools", "rate_limits", "accounts"],
    &["notify", "calendar", "retention"],
    &["summary"],
    &["actor_messages"],
    &["session_settings"],
    &["rest", "chat", "store", "exposure"],
    &["config"],
    &["tenant"],
    &["model"],
    &[
        "lifecycle",
        "events",
        "metrics",
        "net",
        "http_client",
        "audio",
        "memory",
    ],
];

/// Edges of `graph` that do not go down the layers (or name a module no layer holds).
fn layer_violations(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let beside = ["far_end", "loadtest"];
    let layer = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
    let mut out = Vec::new();
    for (from, targets) in graph {
        for to in targets {
            if beside.contains(&from.as_str()) {
                continue;
            }
            let ok = match (layer(from), layer(to)) {
                (Some(_), None) if beside.contains(&to.as_str()) => {
                    matches!(from.as_str(), "main" | "cli")
                }
                (Some(a), Some(b)) => a < b,
                _ => false,
            };
            if !ok {
                out.push(format!("{from} → {to}"));
            }
        }
    }
    out
}

#[test]
fn top_level_modules_import_only_layers_below_their_own() {
    let graph = top_level(&import_graph());
    let mut planted = graph.clone();
    planted
        .entry("model".into())
        .or_default()
        .insert("tenant".into());
    assert_eq!(
        layer_violations(&planted),
        vec!["model → tenant".to_string()]
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
        if is_module && name != "lib" && !matches!(name.as_str(), "far_end" | "loadtest") {
            assert!(
                LAYERS.iter().any(|l| l.contains(&name.as_str())),
                "src/{name} is in no layer of docs/architecture.md"
            );
        }
    }
    assert_eq!(layer_violations(&graph), Vec::<String>::new());
}

#[test]
fn only_the_binary_commands_import_the_assembly() {
    let graph = import_graph();
    let importers: Vec<&String> = graph
        .iter()
        .filter(|(_, targets)| targets.contains("app"))
        .map(|(module, _)| module)
        .collect();
    assert!(!importers.is_empty(), "nothing imports app: {graph:?}");
    for module in importers {
        assert!(
            module == "main" || module == "cli" || module.starts_with("cli::"),
            "{module} imports app (only main and cli may)"
        );
    }
}
