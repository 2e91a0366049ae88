//! Output files that are complete or absent: each is written beside its target under a
//! temporary name and renamed into place only once finished, so a run that fails or is
//! interrupted leaves no half-written file and an existing file as it was.

use std::path::{Path, PathBuf};

/// Why an output file can't be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot move the finished output into place at {path}")]
    Commit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A file being written: a temporary file in the target's folder (removed if dropped), renamed
/// to the target by [`PendingFile::commit`].
pub struct PendingFile {
    /// `None` when the target is not a regular file (`/dev/null`, a named pipe, `/dev/stdout`):
    /// renaming over it would replace the device, so such a target is written directly.
    temp: Option<tempfile::TempPath>,
    target: PathBuf,
}

impl PendingFile {
    /// A new, empty temporary file beside `target`, with the same extension (OpenCV chooses
    /// image and video formats by it).
    pub fn beside(target: &Path) -> Result<Self, OutputError> {
        if std::fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            return Ok(Self { temp: None, target: target.to_path_buf() });
        }
        let dir = target.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let suffix = target.extension().map(|ext| format!(".{}", ext.to_string_lossy())).unwrap_or_default();
        let mut builder = tempfile::Builder::new();
        builder.prefix(".emocam-").suffix(&suffix);
        // An ordinary file once in place: readable by others as the umask allows (temporary
        // files are otherwise private to their owner).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        // The reason only (tempfile's error names its random file, which would confuse).
        let temp = builder.tempfile_in(dir).map_err(|error| OutputError::Create { path: target.to_path_buf(), source: error.kind().into() })?.into_temp_path();
        Ok(Self { temp: Some(temp), target: target.to_path_buf() })
    }

    /// Where to write now.
    pub fn path(&self) -> &Path {
        self.temp.as_deref().unwrap_or(&self.target)
    }

    /// True when writes go straight to the target (a device or a pipe: see `temp`).
    pub fn is_direct(&self) -> bool {
        self.temp.is_none()
    }

    /// Where the file goes when finished.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the finished file to its target, replacing what was there.
    pub fn commit(self) -> Result<(), OutputError> {
        let target = self.target;
        match self.temp {
            Some(temp) => temp.persist(&target).map_err(|error| OutputError::Commit { path: target, source: error.error }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_changes_only_on_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("out.json");
        std::fs::write(&target, b"earlier run").expect("write");
        let pending = PendingFile::beside(&target).expect("pending");
        assert_eq!(pending.path().extension().and_then(|e| e.to_str()), Some("json"));
        std::fs::write(pending.path(), b"new run").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"earlier run");
        pending.commit().expect("commit");
        assert_eq!(std::fs::read(&target).expect("read"), b"new run");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary file left");
    }

    #[test]
    fn a_dropped_file_leaves_nothing_and_the_target_as_it_was() {
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("clip.avi");
        std::fs::write(&target, b"earlier run").expect("write");
        let pending = PendingFile::beside(&target).expect("pending");
        std::fs::write(pending.path(), b"half").expect("write");
        drop(pending);
        assert_eq!(std::fs::read(&target).expect("read"), b"earlier run");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary file left");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place_never_replaced() {
        let pending = PendingFile::beside(Path::new("/dev/null")).expect("pending");
        assert!(pending.is_direct() && pending.path() == Path::new("/dev/null"));
        std::fs::write(pending.path(), b"discarded").expect("write");
        pending.commit().expect("commit");
        let metadata = std::fs::metadata("/dev/null").expect("/dev/null");
        assert!(!metadata.is_file(), "/dev/null is still a device");
    }

    #[test]
    fn an_unwritable_folder_is_reported_with_the_target() {
        let error = PendingFile::beside(Path::new("/nonexistent-dir/x.json")).err().expect("error");
        assert!(error.to_string().contains("/nonexistent-dir/x.json"), "{error}");
    }
}
