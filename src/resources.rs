//! Finding the folders emocam ships with (`models/`, `haarcascades/`, `assets/`).
//!
//! Looked up in order: `$EMOCAM_HOME/<name>`, beside the executable, two levels above it
//! (`target/release/emocam` inside a checkout), the source tree it was built from, and the
//! current folder.

use std::path::{Path, PathBuf};

/// The checkout this binary was built from.
pub fn source_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The first existing folder called `name` among the usual places, or the source tree's one.
pub fn resource_dir(name: &str) -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(home) = std::env::var_os("EMOCAM_HOME") {
        candidates.push(PathBuf::from(home).join(name));
    }
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        candidates.push(exe_dir.join(name));
        if let Some(above) = exe_dir.parent().and_then(Path::parent) {
            candidates.push(above.join(name));
        }
    }
    candidates.push(source_root().join(name));
    candidates.push(PathBuf::from(name));
    candidates.iter().find(|p| p.is_dir()).cloned().unwrap_or_else(|| source_root().join(name))
}

pub fn models_dir() -> PathBuf {
    resource_dir("models")
}

/// BlazeFace's ONNX models (`assets/blazeface/`).
pub fn blazeface_dir() -> PathBuf {
    resource_dir("assets").join("blazeface")
}

pub fn cascades_dir() -> PathBuf {
    resource_dir("haarcascades")
}

/// Resolves a cascade given as a path, a file name in `haarcascades/`, or a short name such
/// as `frontalface_alt2`.
pub fn cascade_path(name_or_path: &str) -> PathBuf {
    let as_path = PathBuf::from(name_or_path);
    if as_path.is_file() {
        return as_path;
    }
    let dir = cascades_dir();
    for candidate in [name_or_path.to_string(), format!("{name_or_path}.xml"), format!("haarcascade_{name_or_path}.xml")] {
        let path = dir.join(&candidate);
        if path.is_file() {
            return path;
        }
    }
    as_path
}

/// Short names of the cascades in `haarcascades/` (`frontalface_default`, ...).
pub fn available_cascades() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cascades_dir())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix("haarcascade_").and_then(|n| n.strip_suffix(".xml")).map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
