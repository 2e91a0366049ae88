//! The models installed: the `.onnx` files of a models folder and the one its `default.txt`
//! names, and how a `--model` value (a path or a name) becomes a file.

use std::path::{Path, PathBuf};

/// File in the models folder naming the default model.
pub const DEFAULT_MODEL_FILE: &str = "default.txt";

/// Why a requested model can't be found.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no model '{name}': not a file, and no {}", in_dir.display())]
    NoSuchModel { name: String, in_dir: PathBuf },
    #[error("no default model: cannot read {} (pass --model)", .path.display())]
    NoDefault {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read models folder {}", .path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The `.onnx` files in `dir`, sorted by name.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Folder { path: dir.to_path_buf(), source })?;
    let mut models: Vec<PathBuf> =
        entries.filter_map(|entry| entry.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"))).collect();
    models.sort();
    Ok(models)
}

/// A `--model` value: a path, a name in `models_dir`, or (none) the folder's default.
pub fn resolve_model(requested: Option<&str>, models_dir: &Path) -> Result<PathBuf, CatalogError> {
    if let Some(name) = requested {
        let as_path = PathBuf::from(name);
        if as_path.exists() || name.contains('/') || name.ends_with(".onnx") {
            return Ok(as_path);
        }
        let in_dir = models_dir.join(format!("{name}.onnx"));
        if in_dir.is_file() {
            return Ok(in_dir);
        }
        return Err(CatalogError::NoSuchModel { name: name.to_string(), in_dir });
    }
    let default_file = models_dir.join(DEFAULT_MODEL_FILE);
    let name = std::fs::read_to_string(&default_file).map_err(|source| CatalogError::NoDefault { path: default_file.clone(), source })?;
    Ok(models_dir.join(name.trim()))
}
