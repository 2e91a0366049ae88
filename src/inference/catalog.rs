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
    let name = read_default_file(&default_file).map_err(|source| CatalogError::NoDefault { path: default_file.clone(), source })?;
    Ok(models_dir.join(name.trim()))
}

/// `default.txt` holds one file name: more than this is not such a file.
const MAX_DEFAULT_FILE_BYTES: u64 = 4096;

/// The text of a models folder's `default.txt`: a regular file (a link to one is followed) of at
/// most `MAX_DEFAULT_FILE_BYTES`. Anything else (a FIFO that never ends or blocks, a link to
/// `/dev/zero`, a huge file) is an error, never read: it would hang or take all memory.
pub fn read_default_file(path: &Path) -> std::io::Result<String> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if metadata.len() > MAX_DEFAULT_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} bytes; a model's file name is at most {MAX_DEFAULT_FILE_BYTES}", metadata.len()),
        ));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(std::fs::File::open(path)?, MAX_DEFAULT_FILE_BYTES), &mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_default_file_that_never_ends_is_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join(DEFAULT_MODEL_FILE)).expect("link");
        assert!(matches!(resolve_model(None, dir.path()), Err(CatalogError::NoDefault { .. })), "a link to /dev/zero");
        let fifo_dir = tempfile::tempdir().expect("tempdir");
        let fifo = fifo_dir.path().join(DEFAULT_MODEL_FILE);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
        assert!(matches!(resolve_model(None, fifo_dir.path()), Err(CatalogError::NoDefault { .. })), "a FIFO would block");
        let big_dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(big_dir.path().join(DEFAULT_MODEL_FILE), vec![b'a'; 10_000]).expect("write");
        assert!(matches!(resolve_model(None, big_dir.path()), Err(CatalogError::NoDefault { .. })), "10,000 bytes");
        std::fs::write(big_dir.path().join(DEFAULT_MODEL_FILE), "m.onnx\n").expect("write");
        assert_eq!(resolve_model(None, big_dir.path()).expect("default"), big_dir.path().join("m.onnx"));
    }
}
