//! Why finding faces failed: one error type for every detector and finder.

use std::path::PathBuf;

/// Why the detector can't start.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("Haar cascade {0} not found")]
    CascadeNotFound(PathBuf),
    #[error("{0} is not a valid Haar cascade file")]
    InvalidCascade(PathBuf),
    #[error("bad detector settings: {0}")]
    Settings(String),
    #[error("face detection failed")]
    OpenCv(#[from] opencv::Error),
    #[error("cannot start the full-scan thread")]
    Thread(#[source] std::io::Error),
    #[error("the full-scan thread ended unexpectedly")]
    ScanThreadGone,
    #[error("face detector model {0} not found (it ships in assets/blazeface/; scripts/blazeface/convert.sh makes it)")]
    DetectorModelNotFound(PathBuf),
    #[error("cannot load the face detector model {path}")]
    DetectorModel {
        path: PathBuf,
        #[source]
        source: ort::Error,
    },
    #[error("the face detector model {path} failed")]
    DetectorRun {
        path: PathBuf,
        #[source]
        source: ort::Error,
    },
    #[error("the face detector model {0} does not give BlazeFace's outputs (a box regressor and a score per anchor)")]
    DetectorOutputs(PathBuf),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}
