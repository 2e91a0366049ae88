//! The crate's shape, checked from its source: the layers of ARCHITECTURE.md import only
//! downwards, nothing imports the command line, and no error is a bare string.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::root;

/// The top-level modules from the bottom layer up: each may use those before it, never those
/// after it. `errors`, `interrupt`, `resources`, `runtime` and `stats` serve every layer.
const LAYERS: &[&str] = &["errors", "interrupt", "resources", "runtime", "stats", "source", "vision", "inference", "pipeline", "output", "app", "cli"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs` and `main.rs`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Which top-level modules each top-level module names as `crate::<module>`.
fn imports_between_modules() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = top_module(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let used = imports.entry(module.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            let name: String = text[at + "crate::".len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name != module && LAYERS.contains(&name.as_str()) {
                used.insert(name);
            }
        }
    }
    imports
}

#[test]
fn every_top_level_module_is_in_a_layer() {
    let imports = imports_between_modules();
    let unknown: Vec<&String> = imports.keys().filter(|m| !LAYERS.contains(&m.as_str())).collect();
    assert!(unknown.is_empty(), "modules missing from LAYERS (and from ARCHITECTURE.md): {unknown:?}");
    assert!(imports.len() >= LAYERS.len() - 1, "too few modules found: {imports:?}");
}

#[test]
fn layers_import_only_downwards_so_there_is_no_cycle() {
    let rank = |name: &str| LAYERS.iter().position(|l| *l == name);
    let mut upward = Vec::new();
    for (module, used) in imports_between_modules() {
        for other in used {
            if let (Some(from), Some(to)) = (rank(&module), rank(&other)) {
                if to > from {
                    upward.push(format!("{module} -> {other}"));
                }
            }
        }
    }
    assert!(upward.is_empty(), "imports against the layers: {upward:?}");
}

#[test]
fn nothing_outside_the_command_line_imports_it() {
    let users: Vec<String> = imports_between_modules().into_iter().filter(|(module, used)| module != "cli" && used.contains("cli")).map(|(m, _)| m).collect();
    assert!(users.is_empty(), "{users:?} import cli");
}

#[test]
fn no_error_is_a_bare_string() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("Result<") && (code.contains(", String>") || code.contains(",String>")) {
                found.push(format!("{}:{}: {}", file.display(), number + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "errors as strings (use a typed error):\n{}", found.join("\n"));
}
