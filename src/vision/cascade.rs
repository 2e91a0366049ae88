//! Haar cascades: loading one, the full-frame scan of plain OpenCV, and plain Haar as a
//! [`FaceDetector`] (what `eval-detect` compares with).

use opencv::core::{Mat, Rect, Size, Vector};
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;

use crate::vision::detector::{Detection, FaceBox, FaceDetector, ScanPlan};
use crate::vision::error::DetectError;
use crate::vision::settings::DetectorSettings;

/// The full scan takes Haar's groups with this many neighbouring hits fewer than the setting:
/// every new face it finds must still pass the verifier (and keep clear of bars), which removes
/// the extra false faces, while a weak real face is picked up at its first full scan instead of
/// waiting for one that happens to group enough hits on it. Measured with `eval-detect`.
pub(crate) const FULL_SCAN_NEIGHBOR_RELIEF: i32 = 1;

/// The full scan: the whole frame at full resolution like plain OpenCV Haar (no downscaling and
/// no histogram equalisation: both lost faces in group scenes, measured with `eval-detect`),
/// groups `FULL_SCAN_NEIGHBOR_RELIEF` weaker than asked (new faces must pass the verifier).
pub fn full_scan(cascade: &mut CascadeClassifier, grey: &Mat, settings: &DetectorSettings, min_face_px: f32) -> opencv::Result<Vec<Rect>> {
    let min_side = min_face_px.round() as i32;
    let mut found = Vector::<Rect>::new();
    cascade.detect_multi_scale(
        grey,
        &mut found,
        settings.scale_factor,
        (settings.min_neighbors - FULL_SCAN_NEIGHBOR_RELIEF).max(1),
        0,
        Size::new(min_side, min_side),
        Size::default(),
    )?;
    Ok(found.to_vec())
}

/// Loads a cascade file, checking that OpenCV understood it.
pub fn load_cascade(path: &std::path::Path) -> Result<CascadeClassifier, DetectError> {
    if !path.is_file() {
        return Err(DetectError::CascadeNotFound(path.to_path_buf()));
    }
    let cascade = CascadeClassifier::new(path).map_err(|_| DetectError::InvalidCascade(path.to_path_buf()))?;
    if cascade.empty().unwrap_or(true) {
        return Err(DetectError::InvalidCascade(path.to_path_buf()));
    }
    Ok(cascade)
}

/// Plain OpenCV Haar on every frame: the cascade and settings given, the whole frame, nothing
/// verified or carried over (the baseline of `eval-detect`).
pub struct PlainHaar {
    cascade: CascadeClassifier,
    settings: DetectorSettings,
}

impl PlainHaar {
    pub fn new(settings: &DetectorSettings) -> Result<Self, DetectError> {
        Ok(Self { cascade: load_cascade(&settings.cascade_path())?, settings: settings.clone() })
    }
}

impl FaceDetector for PlainHaar {
    fn detect_all(&mut self, frame: &Mat, plan: &ScanPlan) -> Result<Vec<Detection>, DetectError> {
        let grey = crate::vision::face::to_grey(frame)?;
        let min_side = plan.min_face_px.round() as i32;
        let mut found = Vector::<Rect>::new();
        self.cascade.detect_multi_scale(
            &grey,
            &mut found,
            self.settings.scale_factor,
            self.settings.min_neighbors,
            0,
            Size::new(min_side, min_side),
            Size::default(),
        )?;
        Ok(found.iter().map(|r| Detection { bbox: FaceBox::from_rect(r), score: 1.0, keypoints: None }).collect())
    }

    fn detect_near(&mut self, frame: &Mat, _around: &[FaceBox]) -> Result<Vec<Detection>, DetectError> {
        // Plain Haar knows no "near": it scans the whole frame every time.
        let min_face_px = self.settings.min_face_px(Size::new(frame.cols(), frame.rows()), 24.0);
        self.detect_all(frame, &ScanPlan::everything(min_face_px))
    }
}
