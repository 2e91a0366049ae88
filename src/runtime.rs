//! Finding and loading the ONNX Runtime shared library.
//!
//! emocam links ONNX Runtime at run time (`ort`'s `load-dynamic`), so a missing library is an
//! ordinary error with advice, not a crash at start-up. The library is looked for, in order:
//! `$EMOCAM_ORT_LIB`, `$ORT_DYLIB_PATH`, next to the executable, `third_party/onnxruntime/` of
//! the source tree (where `scripts/setup.sh` puts it), then the system library folders.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ort::environment::Environment;

/// File name of the library on this platform.
pub const LIBRARY_FILE: &str = if cfg!(target_os = "windows") {
    "onnxruntime.dll"
} else if cfg!(target_os = "macos") {
    "libonnxruntime.dylib"
} else {
    "libonnxruntime.so"
};

/// Why ONNX Runtime is not available.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the ONNX Runtime library ({LIBRARY_FILE}) was not found; looked in: {searched}. \
         Run scripts/setup.sh, or set EMOCAM_ORT_LIB to the library's path"
    )]
    NotFound { searched: String },
    #[error("could not load ONNX Runtime from {path}")]
    Load {
        path: PathBuf,
        #[source]
        /// Shared: the outcome of the one load is cloned to every caller.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

static ENVIRONMENT: OnceLock<Result<Environment, RuntimeError>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment() -> Result<Environment, RuntimeError> {
    ENVIRONMENT.get_or_init(load).clone()
}

/// Where the library would be looked for, in order.
pub fn candidate_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for var in ["EMOCAM_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            // An explicit setting is the only candidate: silently falling back would hide a typo.
            return vec![PathBuf::from(value)];
        }
    }
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        paths.push(exe_dir.join(LIBRARY_FILE));
    }
    paths.push(crate::resources::source_root().join("third_party/onnxruntime").join(LIBRARY_FILE));
    for dir in ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"] {
        paths.push(Path::new(dir).join(LIBRARY_FILE));
    }
    paths
}

fn load() -> Result<Environment, RuntimeError> {
    let candidates = candidate_paths();
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        let searched = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(RuntimeError::NotFound { searched });
    };
    let load_error = |error: Arc<dyn std::error::Error + Send + Sync>| RuntimeError::Load { path: path.clone(), source: error };
    let builder = ort::init_from(path).map_err(|e| load_error(Arc::new(e)))?;
    builder.with_name("emocam").build().map_err(|e| load_error(Arc::new(e)))
}
