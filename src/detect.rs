//! Haar-cascade face detection, made cheap by following faces already found.
//!
//! A full-frame multi-scale Haar scan of 640x480 costs 20-45 ms here. [`FaceFinder`] instead
//! scans the whole frame (at a reduced resolution that still resolves the smallest face
//! allowed) only every `full_scan_interval_frames` frames or when a face was lost, and in
//! between looks for each tracked face in a small window around its last box, over a narrow
//! range of sizes. Track ids come from [`crate::track::Tracker`].
//!
//! Haar cascades produce occasional false faces, so in video a new face is reported once it was
//! found in [`CONFIRMATION_HITS`] frames and a second, differently trained cascade
//! ([`VERIFIER_CASCADE`]) also sees a face there; a track that fails the check stays hidden. When a
//! confirmed face is not re-found around its box, the whole frame is scanned at once, so a
//! moving face is not dropped for a frame. Still images are scanned whole and reported
//! without confirmation.

use std::path::PathBuf;

use opencv::core::{Mat, Rect, Size, Vector};
use opencv::imgproc;
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;

use crate::track::{iou, Tracker};

/// Detector options (the app's "sensitivity" is `min_neighbors`).
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorSettings {
    pub cascade: PathBuf,
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
            cascade: crate::resources::cascade_path("frontalface_default"),
            scale_factor: 1.1,
            min_neighbors: 5,
            min_face_fraction: 0.1,
            full_scan_interval_frames: 15,
        }
    }
}

/// Why the detector can't start.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("Haar cascade {0} not found")]
    CascadeNotFound(PathBuf),
    #[error("{0} is not a valid Haar cascade file")]
    InvalidCascade(PathBuf),
    #[error("bad detector settings: {0}")]
    Settings(String),
    #[error("face detection failed: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// Smallest window the full-frame scan needs to resolve: a little above the 24 px Haar model.
const FULL_SCAN_MIN_FACE_PX: f32 = 30.0;
/// How far around a tracked face to look for it in the next frame, as a fraction of its side.
/// Faces move a few pixels between frames; a face that jumps further is found by the full scan
/// that a lost face triggers.
const TRACK_SEARCH_MARGIN: f32 = 0.3;
/// Size range, relative to the tracked box, accepted when re-finding a face.
const TRACK_SIZE_RANGE: (f32, f32) = (0.8, 1.25);

/// Frames a new face must be found in before it is reported (video only).
pub const CONFIRMATION_HITS: u32 = 2;
/// The cascade that double-checks new faces in video (skipped if the file is missing).
pub const VERIFIER_CASCADE: &str = "frontalface_alt2";
/// Margin around a new face's box searched by the verifier, as a fraction of its side.
const VERIFY_MARGIN: f32 = 0.2;

/// A face found in a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FoundFace {
    pub track_id: u64,
    pub bbox: Rect,
}

/// Finds and tracks faces frame after frame.
pub struct FaceFinder {
    cascade: CascadeClassifier,
    verifier: Option<CascadeClassifier>,
    /// Tracks the verifier turned down: never reported.
    rejected: std::collections::HashSet<u64>,
    settings: DetectorSettings,
    tracker: Tracker,
    /// Ids shown to users, given when a track is confirmed, so that unconfirmed (mostly false)
    /// detections don't use up numbers: faces are #1, #2, #3 in order of appearance.
    shown_ids: std::collections::HashMap<u64, u64>,
    next_shown_id: u64,
    frames_since_full_scan: u32,
    /// Scratch images reused between frames.
    equalized: Mat,
    small: Mat,
}

impl FaceFinder {
    pub fn new(settings: DetectorSettings) -> Result<Self, DetectError> {
        if settings.scale_factor <= 1.0 || !settings.scale_factor.is_finite() {
            return Err(DetectError::Settings(format!("scale factor must be above 1, got {}", settings.scale_factor)));
        }
        if !(0.0..1.0).contains(&settings.min_face_fraction) {
            return Err(DetectError::Settings(format!("min face size must be a fraction below 1, got {}", settings.min_face_fraction)));
        }
        let cascade = load_cascade(&settings.cascade)?;
        let verifier = load_cascade(&crate::resources::cascade_path(VERIFIER_CASCADE)).ok();
        Ok(Self {
            cascade,
            verifier,
            rejected: std::collections::HashSet::new(),
            settings,
            tracker: Tracker::default(),
            shown_ids: std::collections::HashMap::new(),
            next_shown_id: 1,
            frames_since_full_scan: 0,
            equalized: Mat::default(),
            small: Mat::default(),
        })
    }

    pub fn settings(&self) -> &DetectorSettings {
        &self.settings
    }

    /// Forget tracked faces (when the source changes).
    pub fn reset(&mut self) {
        self.tracker.reset();
        self.shown_ids.clear();
        self.rejected.clear();
        self.next_shown_id = 1;
        self.frames_since_full_scan = 0;
    }

    /// The user-facing id of a confirmed track.
    fn shown_id(&mut self, track_id: u64) -> u64 {
        let next = &mut self.next_shown_id;
        *self.shown_ids.entry(track_id).or_insert_with(|| {
            *next += 1;
            *next - 1
        })
    }

    /// Faces in a grey video frame, with stable track ids.
    pub fn find(&mut self, grey: &Mat) -> Result<Vec<FoundFace>, DetectError> {
        let min_face_px = self.min_face_px(grey);
        let frame = Rect::new(0, 0, grey.cols(), grey.rows());
        let due = self.frames_since_full_scan + 1 >= self.settings.full_scan_interval_frames.max(1);
        let mut detections = None;
        if !self.tracker.tracks().is_empty() && !due {
            let (found, lost_confirmed_face) = self.scan_around_tracks(grey, frame, min_face_px)?;
            if !lost_confirmed_face {
                self.frames_since_full_scan += 1;
                detections = Some(found);
            }
        }
        let detections = match detections {
            Some(found) => found,
            None => {
                self.frames_since_full_scan = 0;
                self.scan_full_frame(grey, min_face_px)?
            }
        };
        let ids = self.tracker.update(&detections);
        let tracker = &self.tracker;
        self.shown_ids.retain(|id, _| tracker.track(*id).is_some());
        self.rejected.retain(|id| tracker.track(*id).is_some());
        let mut faces = Vec::new();
        for (id, bbox) in ids.into_iter().zip(detections) {
            let hits = self.tracker.track(id).map_or(0, |t| t.hits);
            if hits < CONFIRMATION_HITS || self.rejected.contains(&id) {
                continue;
            }
            if !self.shown_ids.contains_key(&id) && !self.verify(grey, frame, bbox)? {
                self.rejected.insert(id);
                continue;
            }
            faces.push(FoundFace { track_id: self.shown_id(id), bbox });
        }
        Ok(faces)
    }

    /// Whether the verifier cascade also finds a face at `bbox` (true without a verifier).
    fn verify(&mut self, grey: &Mat, frame: Rect, bbox: Rect) -> Result<bool, DetectError> {
        let Some(verifier) = &mut self.verifier else { return Ok(true) };
        let side = bbox.width.max(bbox.height) as f32;
        let window = grown_window(bbox, VERIFY_MARGIN, frame);
        if window.width <= 0 || window.height <= 0 {
            return Ok(false);
        }
        imgproc::equalize_hist(&Mat::roi(grey, window)?, &mut self.equalized)?;
        let mut found = Vector::<Rect>::new();
        let (min_side, max_side) = ((side * TRACK_SIZE_RANGE.0) as i32, (side * TRACK_SIZE_RANGE.1 * 1.2) as i32);
        verifier.detect_multi_scale(&self.equalized, &mut found, 1.1, 3, 0, Size::new(min_side, min_side), Size::new(max_side, max_side))?;
        Ok(!found.is_empty())
    }

    /// Faces in a still image: a full scan, every face reported, nothing carried over.
    pub fn find_in_still(&mut self, grey: &Mat) -> Result<Vec<FoundFace>, DetectError> {
        self.reset();
        let min_face_px = self.min_face_px(grey);
        let detections = self.scan_full_frame(grey, min_face_px)?;
        let ids = self.tracker.update(&detections);
        Ok(ids.into_iter().zip(detections).map(|(id, bbox)| FoundFace { track_id: self.shown_id(id), bbox }).collect())
    }

    /// The smallest face side to look for, in pixels of `grey`.
    fn min_face_px(&self, grey: &Mat) -> f32 {
        (self.settings.min_face_fraction * grey.cols().min(grey.rows()) as f32).max(FULL_SCAN_MIN_FACE_PX)
    }

    /// Scans the whole frame, downscaled as far as the smallest face allows. Histogram
    /// equalisation (the usual Haar preprocessing) runs on the downscaled image only.
    fn scan_full_frame(&mut self, grey: &Mat, min_face_px: f32) -> Result<Vec<Rect>, DetectError> {
        let scale = (FULL_SCAN_MIN_FACE_PX / min_face_px).clamp(0.25, 1.0);
        if scale < 1.0 {
            let size = Size::new((grey.cols() as f32 * scale) as i32, (grey.rows() as f32 * scale) as i32);
            imgproc::resize(grey, &mut self.small, size, 0.0, 0.0, imgproc::INTER_AREA)?;
            imgproc::equalize_hist(&self.small, &mut self.equalized)?;
        } else {
            imgproc::equalize_hist(grey, &mut self.equalized)?;
        }
        let image = &self.equalized;
        let min_side = (min_face_px * scale).round() as i32;
        let mut found = Vector::<Rect>::new();
        self.cascade.detect_multi_scale(
            image,
            &mut found,
            self.settings.scale_factor,
            self.settings.min_neighbors,
            0,
            Size::new(min_side, min_side),
            Size::default(),
        )?;
        let inverse = 1.0 / scale;
        Ok(found
            .iter()
            .map(|r| {
                Rect::new(
                    (r.x as f32 * inverse).round() as i32,
                    (r.y as f32 * inverse).round() as i32,
                    (r.width as f32 * inverse).round() as i32,
                    (r.height as f32 * inverse).round() as i32,
                )
            })
            .collect())
    }

    /// Looks for each tracked face near its last box. Also says whether a confirmed face was
    /// not found (then the caller scans the whole frame).
    fn scan_around_tracks(&mut self, grey: &Mat, frame: Rect, min_face_px: f32) -> Result<(Vec<Rect>, bool), DetectError> {
        let mut detections: Vec<Rect> = Vec::new();
        let mut lost_confirmed_face = false;
        let tracked: Vec<(Rect, bool)> = self
            .tracker
            .tracks()
            .iter()
            .filter(|t| t.missed_frames == 0)
            .map(|t| (t.bbox, t.hits >= CONFIRMATION_HITS))
            .collect();
        for (bbox, confirmed) in tracked {
            let window = grown_window(bbox, TRACK_SEARCH_MARGIN, frame);
            if window.width <= 0 || window.height <= 0 {
                lost_confirmed_face |= confirmed;
                continue;
            }
            let side = bbox.width.max(bbox.height) as f32;
            let min_side = (side * TRACK_SIZE_RANGE.0).max(min_face_px).round() as i32;
            let max_side = (side * TRACK_SIZE_RANGE.1).round() as i32;
            imgproc::equalize_hist(&Mat::roi(grey, window)?, &mut self.equalized)?;
            let mut found = Vector::<Rect>::new();
            self.cascade.detect_multi_scale(
                &self.equalized,
                &mut found,
                self.settings.scale_factor,
                self.settings.min_neighbors,
                0,
                Size::new(min_side, min_side),
                Size::new(max_side, max_side),
            )?;
            // The hit closest to the tracked box is the same face; others are left to the next full scan.
            let best = found
                .iter()
                .map(|r| Rect::new(r.x + window.x, r.y + window.y, r.width, r.height))
                .max_by(|a, b| iou(*a, bbox).total_cmp(&iou(*b, bbox)));
            match best {
                Some(face) if detections.iter().all(|d| iou(*d, face) < 0.5) => detections.push(face),
                Some(_) => {}
                None => lost_confirmed_face |= confirmed,
            }
        }
        Ok((detections, lost_confirmed_face))
    }
}

/// `bbox` grown by `fraction` of its longer side on every edge, clipped to `frame`.
fn grown_window(bbox: Rect, fraction: f32, frame: Rect) -> Rect {
    let margin = (bbox.width.max(bbox.height) as f32 * fraction) as i32;
    Rect::new(bbox.x - margin, bbox.y - margin, bbox.width + 2 * margin, bbox.height + 2 * margin) & frame
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
