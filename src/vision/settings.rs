//! Detector options, shared by the command line, the app and its saved settings, and the ranges
//! they must keep to.

use std::path::PathBuf;

use crate::vision::error::DetectError;

/// The face detectors emocam has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// MediaPipe's BlazeFace in ONNX Runtime: a learned detector, with faces tracked by id.
    #[default]
    Blazeface,
    /// OpenCV's Haar cascades, as in the FER-2013 study, with their own tracking.
    Haar,
}

impl DetectorKind {
    pub const ALL: [DetectorKind; 2] = [DetectorKind::Blazeface, DetectorKind::Haar];

    /// The name used on the command line, in records and in the app.
    pub fn name(self) -> &'static str {
        match self {
            Self::Blazeface => "blazeface",
            Self::Haar => "haar",
        }
    }
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The cascade that finds faces unless told otherwise (OpenCV's frontal face model).
pub const DEFAULT_CASCADE: &str = "frontalface_default";

/// Detector options: the one set the command line, the app and its saved settings share
/// (stored by serde under these field names).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DetectorSettings {
    /// Which detector finds faces: BlazeFace (learned, the default) or Haar (the study's).
    pub detector: DetectorKind,
    /// A short cascade name (`frontalface_default`, a file of `haarcascades/`) or a path.
    pub cascade: String,
    /// Step between scan scales (OpenCV's `scaleFactor`), > 1.
    pub scale_factor: f64,
    /// Neighbouring hits needed to accept a face: higher means fewer false faces.
    pub min_neighbors: i32,
    /// Smallest face side as a fraction of the frame's shorter side.
    pub min_face_fraction: f32,
    /// Frames between full-frame scans (new faces appear at the latest after this many).
    pub full_scan_interval_frames: u32,
}

impl Default for DetectorSettings {
    fn default() -> Self {
        Self {
            detector: DetectorKind::default(),
            cascade: DEFAULT_CASCADE.into(),
            scale_factor: 1.1,
            min_neighbors: 5,
            min_face_fraction: 0.06,
            full_scan_interval_frames: 10,
        }
    }
}

impl DetectorSettings {
    /// Every number within the range a detector accepts, else the error that names it.
    pub fn check(&self) -> Result<(), DetectError> {
        check_range("scale factor", self.scale_factor, SCALE_FACTOR_RANGE)?;
        check_range("min neighbours", self.min_neighbors, MIN_NEIGHBORS_RANGE)?;
        check_range("min face size", self.min_face_fraction, MIN_FACE_FRACTION_RANGE)?;
        check_range("full-scan interval", self.full_scan_interval_frames, FULL_SCAN_INTERVAL_RANGE)
    }

    /// The smallest face looked for in a frame of `size`, in pixels (`min_face_fraction` of its
    /// shorter side, and never under `floor_px`).
    pub fn min_face_px(&self, size: opencv::core::Size, floor_px: f32) -> f32 {
        (self.min_face_fraction * size.width.min(size.height) as f32).max(floor_px)
    }

    /// Frames until the next full scan, for either finder: the set interval while faces come and
    /// go, up to `2^MAX_QUIET_SCAN_DOUBLINGS` times longer after `quiet_full_scans` scans in a row
    /// that found nothing new.
    pub fn full_scan_interval(&self, quiet_full_scans: u32) -> u32 {
        self.full_scan_interval_frames.max(1).saturating_mul(1 << quiet_full_scans.min(MAX_QUIET_SCAN_DOUBLINGS))
    }

    /// The cascade file these settings name.
    pub fn cascade_path(&self) -> PathBuf {
        crate::resources::cascade_path(&self.cascade)
    }

    /// Every number brought into the range a detector accepts (NaN takes the default): for
    /// settings read from a file anyone can edit, so that the app still starts.
    pub fn within_ranges(self) -> Self {
        let defaults = Self::default();
        let clamp_f64 = |v: f64, range: std::ops::RangeInclusive<f64>, default: f64| if v.is_nan() { default } else { v.clamp(*range.start(), *range.end()) };
        let clamp_f32 = |v: f32, range: std::ops::RangeInclusive<f32>, default: f32| if v.is_nan() { default } else { v.clamp(*range.start(), *range.end()) };
        Self {
            scale_factor: clamp_f64(self.scale_factor, SCALE_FACTOR_RANGE, defaults.scale_factor),
            min_neighbors: self.min_neighbors.clamp(*MIN_NEIGHBORS_RANGE.start(), *MIN_NEIGHBORS_RANGE.end()),
            min_face_fraction: clamp_f32(self.min_face_fraction, MIN_FACE_FRACTION_RANGE, defaults.min_face_fraction),
            full_scan_interval_frames: self.full_scan_interval_frames.clamp(*FULL_SCAN_INTERVAL_RANGE.start(), *FULL_SCAN_INTERVAL_RANGE.end()),
            ..self
        }
    }
}

/// The detector options given on a command line: each one given replaces that setting alone,
/// so the app keeps its saved values for the rest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectorOverrides {
    pub detector: Option<DetectorKind>,
    pub cascade: Option<String>,
    pub scale_factor: Option<f64>,
    pub min_neighbors: Option<i32>,
    pub min_face_fraction: Option<f32>,
    pub full_scan_interval_frames: Option<u32>,
}

impl DetectorOverrides {
    /// `base` with every given option in its place.
    pub fn apply(&self, base: DetectorSettings) -> DetectorSettings {
        DetectorSettings {
            detector: self.detector.unwrap_or(base.detector),
            cascade: self.cascade.clone().unwrap_or(base.cascade),
            scale_factor: self.scale_factor.unwrap_or(base.scale_factor),
            min_neighbors: self.min_neighbors.unwrap_or(base.min_neighbors),
            min_face_fraction: self.min_face_fraction.unwrap_or(base.min_face_fraction),
            full_scan_interval_frames: self.full_scan_interval_frames.unwrap_or(base.full_scan_interval_frames),
        }
    }
}

/// How often the full-scan interval may double while full scans find no new face: new faces
/// then appear after at most 8 intervals (80 frames at the default 10, under 3 s at 30 fps).
/// A face lost or found resets it. Both finders keep this schedule.
pub const MAX_QUIET_SCAN_DOUBLINGS: u32 = 3;
/// A full scan is due once the view has moved by this fraction of the smallest followed face's
/// side since the last one (a face brought in across the frame's edge is then wholly in view).
/// Measured with the Haar finder on the 640x480 clips of `eval-detect`: 1 gave recall 0.804
/// with 22 full scans in 240 frames, 0.75 0.808 with 26, 0.5 0.827 with 34 (too slow: about 5x
/// plain Haar's speed); with BlazeFace, 1 gave 0.991 against 0.995 (docs/detection-blazeface.md).
pub const VIEW_MOTION_SCAN_FRACTION: f32 = 0.75;

/// The settings a detector accepts (the command line and the app check against these):
/// outside them a scan never ends (a scale step of 1.0000001), takes all memory (1e9) or means
/// nothing (negative neighbours).
pub const SCALE_FACTOR_RANGE: std::ops::RangeInclusive<f64> = 1.01..=2.0;
pub const MIN_NEIGHBORS_RANGE: std::ops::RangeInclusive<i32> = 0..=100;
pub const MIN_FACE_FRACTION_RANGE: std::ops::RangeInclusive<f32> = 0.01..=0.9;
pub const FULL_SCAN_INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 1..=10_000;

/// `value` of the setting `what` within `range`, else the error that says so.
pub(crate) fn check_range<T: PartialOrd + std::fmt::Display>(what: &str, value: T, range: std::ops::RangeInclusive<T>) -> Result<(), DetectError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(DetectError::Settings(format!("{what} must be between {} and {}, got {value}", range.start(), range.end())))
}
