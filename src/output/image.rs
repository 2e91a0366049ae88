//! Still images written complete or not at all.

use std::path::{Path, PathBuf};

use opencv::core::{Mat, Vector};
use opencv::imgcodecs;

use super::pending_file::{OutputError, PendingFile};

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ImageWriteError {
    #[error(transparent)]
    Output(#[from] OutputError),
    /// OpenCV refused the format or the image (it gives no reason beyond `false`).
    #[error("cannot write image {0} (OpenCV could not encode it in this format)")]
    Encode(PathBuf),
    #[error("cannot write image {path}")]
    OpenCv {
        path: PathBuf,
        #[source]
        source: opencv::Error,
    },
}

/// Writes `image` to `path` in the format its extension names, complete or not at all.
pub fn write_image(path: &Path, image: &Mat) -> Result<(), ImageWriteError> {
    let file = PendingFile::beside(path)?;
    let written = imgcodecs::imwrite(file.path(), image, &Vector::new()).map_err(|source| ImageWriteError::OpenCv { path: path.to_path_buf(), source })?;
    if !written {
        return Err(ImageWriteError::Encode(path.to_path_buf()));
    }
    Ok(file.commit()?)
}
