//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emocam::inference::classifier::{Classifier, ClassifierOptions};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

pub fn asset(name: &str) -> PathBuf {
    root().join("assets").join(name)
}

/// The built `emocam` binary.
pub fn emocam() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_emocam"));
    command.current_dir(root());
    command
}

/// Runs `emocam` with `args`.
pub fn run(args: &[&str]) -> Output {
    match emocam().args(args).output() {
        Ok(output) => output,
        Err(e) => panic!("could not run emocam: {e}"),
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// True when ONNX Runtime loads; otherwise says why the calling test is skipped (a failure
/// under `CI=true`, see [`missing_data`]).
pub fn onnx_runtime_available() -> bool {
    match emocam::runtime::environment() {
        Ok(_) => true,
        Err(e) => {
            missing_data(&e.to_string());
            false
        }
    }
}

/// FER-2013 in the image-folder layout: `$FER2013_DIR`, else `../shared/fer2013`.
pub fn fer2013_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FER2013_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("../shared/fer2013"));
    if dir.join("test").is_dir() {
        Some(dir)
    } else {
        missing_data(&format!("FER-2013 not found at {} (set FER2013_DIR)", dir.display()));
        None
    }
}

pub use crate::skipped::missing_data;

/// Annotated group photos: `$EMOCAM_FACES_DIR`, else `../shared/faces`.
pub fn faces_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("EMOCAM_FACES_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("../shared/faces"));
    if dir.join(emocam::vision::evaluate::ANNOTATIONS_FILE).is_file() {
        Some(dir)
    } else {
        missing_data(&format!("annotated photos not found at {} (set EMOCAM_FACES_DIR)", dir.display()));
        None
    }
}

/// The shipped default model (models/default.txt), if the checkout has one.
pub fn default_model() -> Option<PathBuf> {
    emocam::inference::catalog::resolve_model(None, &root().join("models")).ok().filter(|p| p.is_file())
}

/// Parses JSON Lines output.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"))).collect()
}

/// Asserts a failed run with exactly one `emocam: error:` line and no panic.
pub fn assert_clean_failure(output: &Output, expected_in_message: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "expected failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("emocam: error:")).collect();
    assert_eq!(error_lines.len(), 1, "expected one error line, got: {err}");
    assert!(error_lines[0].to_lowercase().contains(&expected_in_message.to_lowercase()), "error {:?} does not mention {expected_in_message:?}", error_lines[0]);
}

pub fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"))
}

/// Loads a model with the default options; a model that does not load fails the test with its error.
pub fn load_model(path: &Path) -> Classifier {
    Classifier::load(path, ClassifierOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}
