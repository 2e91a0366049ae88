//! Finding faces frame after frame, with the detector the settings choose: [`FaceFinder`] is the
//! one entry point (the capture thread, the app's rescoring, `eval-detect`, `measure-framing`).
//!
//! - `--detector blazeface` (the default): MediaPipe's BlazeFace in ONNX Runtime
//!   (`blazeface`), faces followed by `learned::LearnedFinder` and given ids by `tracker`;
//! - `--detector haar`: the FER-2013 study's Haar cascades with their own tracking
//!   (`haar::HaarFinder`), as before BlazeFace.

use opencv::core::{Mat, Rect};

use crate::vision::blazeface::BlazeFace;
use crate::vision::detector::{Detection, Keypoints};
use crate::vision::haar::HaarFinder;
use crate::vision::learned::LearnedFinder;

pub use crate::vision::cascade::load_cascade;
pub use crate::vision::error::DetectError;
pub use crate::vision::settings::{
    DetectorKind, DetectorOverrides, DetectorSettings, DEFAULT_CASCADE, FULL_SCAN_INTERVAL_RANGE, MIN_FACE_FRACTION_RANGE, MIN_NEIGHBORS_RANGE,
    SCALE_FACTOR_RANGE,
};

/// A face found in a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FoundFace {
    pub track_id: u64,
    pub bbox: Rect,
    /// Eyes, nose, mouth and ears (BlazeFace finds them; Haar does not).
    pub keypoints: Option<Keypoints>,
}

impl FoundFace {
    pub fn from_detection(track_id: u64, detection: &Detection) -> Self {
        Self { track_id, bbox: detection.bbox.to_rect(), keypoints: detection.keypoints }
    }
}

/// Finds faces and keeps their ids, with the detector the settings name.
pub struct FaceFinder {
    finder: Finder,
    settings: DetectorSettings,
}

enum Finder {
    Haar(HaarFinder),
    Learned(LearnedFinder),
}

impl FaceFinder {
    pub fn new(settings: DetectorSettings) -> Result<Self, DetectError> {
        settings.check()?;
        let finder = match settings.detector {
            DetectorKind::Haar => Finder::Haar(HaarFinder::new(settings.clone())?),
            DetectorKind::Blazeface => Finder::Learned(LearnedFinder::new(Box::new(BlazeFace::load_default()?), settings.clone())),
        };
        Ok(Self { finder, settings })
    }

    pub fn settings(&self) -> &DetectorSettings {
        &self.settings
    }

    /// Runs the full scans on a thread of their own from now on (live use: the frame being
    /// tracked never waits for a scan). Still images are scanned in line all the same.
    pub fn scan_in_background(self) -> Result<Self, DetectError> {
        let finder = match self.finder {
            Finder::Haar(haar) => Finder::Haar(haar.scan_in_background()?),
            Finder::Learned(learned) => Finder::Learned(learned.scan_in_background(Box::new(BlazeFace::load_default()?))?),
        };
        Ok(Self { finder, ..self })
    }

    /// Forgets the faces followed (a new source, a seek): ids start again.
    pub fn reset(&mut self) {
        match &mut self.finder {
            Finder::Haar(haar) => haar.reset(),
            Finder::Learned(learned) => learned.reset(),
        }
    }

    /// Faces in the next frame of a video (`image` in colour or grey, `grey` the same in grey),
    /// with ids kept from the frames before.
    pub fn find(&mut self, image: &Mat, grey: &Mat) -> Result<Vec<FoundFace>, DetectError> {
        match &mut self.finder {
            Finder::Haar(haar) => haar.find(grey),
            Finder::Learned(learned) => learned.find(image, grey),
        }
    }

    /// Faces in a still image: nothing carried over from earlier frames.
    pub fn find_in_still(&mut self, image: &Mat, grey: &Mat) -> Result<Vec<FoundFace>, DetectError> {
        match &mut self.finder {
            Finder::Haar(haar) => haar.find_in_still(grey),
            Finder::Learned(learned) => learned.find_in_still(image),
        }
    }
}
