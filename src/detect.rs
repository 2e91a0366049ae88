//! Haar-cascade face detection, made cheap by following faces already found.
//!
//! A full-frame multi-scale Haar scan of 640x480 costs 20-45 ms here. [`FaceFinder`] instead
//! scans the whole frame (at a reduced resolution that still resolves the smallest face
//! allowed) only every `full_scan_interval_frames` frames or when a face was lost, and in
//! between looks for each tracked face in a small window around its last box, over a narrow
//! range of sizes. Track ids come from [`crate::track::Tracker`].
//!
//! Even that windowed Haar scan costs 2-3 ms per face, because the windows on and around a
//! face run through most of the cascade's 25 stages. So a confirmed face is re-detected with
//! Haar only every [`HAAR_REFRESH_FRAMES`] frames; in between it is followed by matching a small
//! template of its last Haar box (normalised cross-correlation, about 0.1 ms), which also keeps
//! the face when Haar misses it for a frame or two.
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

/// A confirmed face is re-detected with Haar every this many frames, and followed by its
/// template in between.
pub const HAAR_REFRESH_FRAMES: u32 = 3;
/// Frames a confirmed face may be followed by its template alone when Haar keeps missing it;
/// after that it counts as lost.
const MAX_FRAMES_WITHOUT_HAAR: u32 = 6;
/// Side of a face template, in pixels: faces are matched at this scale whatever their size.
const TEMPLATE_SIDE_PX: i32 = 32;
/// Normalised correlation below which the template is taken to have lost the face (the same
/// face between frames scores above 0.9).
const TEMPLATE_MIN_SCORE: f64 = 0.7;

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

/// How a face was found in this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FoundBy {
    Haar,
    Template,
}

/// The look of a tracked face at its last Haar detection.
struct FaceTemplate {
    /// The face box scaled to `TEMPLATE_SIDE_PX` square, grey.
    patch: Mat,
    /// Frames followed by template matching since the last Haar detection.
    frames_since_haar: u32,
}

impl FaceTemplate {
    /// The template of the face at `bbox`; `None` when the box lies outside the image.
    fn capture(grey: &Mat, bbox: Rect) -> opencv::Result<Option<Self>> {
        // Boxes scaled up from the reduced full scan can overhang the frame by a pixel.
        let inside = bbox & Rect::new(0, 0, grey.cols(), grey.rows());
        if inside.width <= 0 || inside.height <= 0 {
            return Ok(None);
        }
        let mut patch = Mat::default();
        let side = Size::new(TEMPLATE_SIDE_PX, TEMPLATE_SIDE_PX);
        imgproc::resize(&Mat::roi(grey, inside)?, &mut patch, side, 0.0, 0.0, imgproc::INTER_AREA)?;
        Ok(Some(Self { patch, frames_since_haar: 0 }))
    }

    /// Where the face of `bbox` is now, searched in `window` (which contains `bbox`); `None`
    /// when the best match is too weak. The box keeps its size: Haar refreshes correct it.
    fn follow(&self, grey: &Mat, bbox: Rect, window: Rect, scratch: &mut Mat) -> opencv::Result<Option<Rect>> {
        let scale = TEMPLATE_SIDE_PX as f64 / bbox.width.max(1) as f64;
        let size = Size::new((window.width as f64 * scale).round() as i32, (window.height as f64 * scale).round() as i32);
        if size.width < TEMPLATE_SIDE_PX || size.height < TEMPLATE_SIDE_PX {
            return Ok(None);
        }
        imgproc::resize(&Mat::roi(grey, window)?, scratch, size, 0.0, 0.0, imgproc::INTER_AREA)?;
        let mut scores = Mat::default();
        imgproc::match_template(&*scratch, &self.patch, &mut scores, imgproc::TM_CCOEFF_NORMED, &opencv::core::no_array())?;
        let mut best_score = 0.0;
        let mut best_at = opencv::core::Point::default();
        opencv::core::min_max_loc(&scores, None, Some(&mut best_score), None, Some(&mut best_at), &opencv::core::no_array())?;
        if best_score < TEMPLATE_MIN_SCORE {
            return Ok(None);
        }
        let x = window.x + (best_at.x as f64 / scale).round() as i32;
        let y = window.y + (best_at.y as f64 / scale).round() as i32;
        // Rounding can put the box a pixel past the window's edge.
        Ok(Some(Rect::new(x, y, bbox.width, bbox.height) & window))
    }
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
    /// Templates of tracked faces, by tracker id.
    templates: std::collections::HashMap<u64, FaceTemplate>,
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
            templates: std::collections::HashMap::new(),
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
        self.templates.clear();
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
        let found = match detections {
            Some(found) => found,
            None => {
                self.frames_since_full_scan = 0;
                self.scan_full_frame(grey, min_face_px)?.into_iter().map(|bbox| (bbox, FoundBy::Haar)).collect()
            }
        };
        let detections: Vec<Rect> = found.iter().map(|(bbox, _)| *bbox).collect();
        let ids = self.tracker.update(&detections);
        let tracker = &self.tracker;
        self.shown_ids.retain(|id, _| tracker.track(*id).is_some());
        self.rejected.retain(|id| tracker.track(*id).is_some());
        self.templates.retain(|id, _| tracker.track(*id).is_some());
        for (&id, &(bbox, found_by)) in ids.iter().zip(&found) {
            match found_by {
                FoundBy::Haar => match FaceTemplate::capture(grey, bbox)? {
                    Some(template) => {
                        self.templates.insert(id, template);
                    }
                    None => {
                        self.templates.remove(&id);
                    }
                },
                FoundBy::Template => {
                    if let Some(template) = self.templates.get_mut(&id) {
                        template.frames_since_haar += 1;
                    }
                }
            }
        }
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

    /// Looks for each tracked face near its last box: by template between Haar refreshes, by
    /// Haar otherwise. Also says whether a confirmed face was not found (then the caller scans
    /// the whole frame).
    fn scan_around_tracks(&mut self, grey: &Mat, frame: Rect, min_face_px: f32) -> Result<(Vec<(Rect, FoundBy)>, bool), DetectError> {
        let mut detections: Vec<(Rect, FoundBy)> = Vec::new();
        let mut lost_confirmed_face = false;
        let tracked: Vec<(u64, Rect, bool)> = self
            .tracker
            .tracks()
            .iter()
            .filter(|t| t.missed_frames == 0)
            .map(|t| (t.id, t.bbox, t.hits >= CONFIRMATION_HITS))
            .collect();
        for (id, bbox, confirmed) in tracked {
            let window = grown_window(bbox, TRACK_SEARCH_MARGIN, frame);
            if window.width <= 0 || window.height <= 0 {
                lost_confirmed_face |= confirmed;
                continue;
            }
            // Between Haar refreshes the template follows the face. Unconfirmed faces always get
            // Haar: a template would follow a false face as faithfully as a real one.
            let mut found = None;
            if confirmed {
                found = self.follow_template(id, HAAR_REFRESH_FRAMES - 1, grey, bbox, window)?.map(|face| (face, FoundBy::Template));
            }
            if found.is_none() {
                found = match self.haar_near(grey, bbox, window, min_face_px)? {
                    Some(face) => Some((face, FoundBy::Haar)),
                    // Haar misses a face now and then (a blink, a turn): the template holds it
                    // for a few frames before it counts as lost.
                    None if confirmed => self.follow_template(id, MAX_FRAMES_WITHOUT_HAAR, grey, bbox, window)?.map(|face| (face, FoundBy::Template)),
                    None => None,
                };
            }
            match found {
                Some((face, found_by)) if detections.iter().all(|(d, _)| iou(*d, face) < 0.5) => detections.push((face, found_by)),
                Some(_) => {}
                None => lost_confirmed_face |= confirmed,
            }
        }
        Ok((detections, lost_confirmed_face))
    }

    /// Where track `id`'s template finds its face now, if it has a template and no more than
    /// `max_frames_since_haar` frames have passed since its last Haar detection.
    fn follow_template(&mut self, id: u64, max_frames_since_haar: u32, grey: &Mat, bbox: Rect, window: Rect) -> Result<Option<Rect>, DetectError> {
        match self.templates.get(&id) {
            Some(template) if template.frames_since_haar < max_frames_since_haar => Ok(template.follow(grey, bbox, window, &mut self.small)?),
            _ => Ok(None),
        }
    }

    /// The Haar hit in `window` closest to the tracked box `bbox`, over a narrow range of sizes.
    fn haar_near(&mut self, grey: &Mat, bbox: Rect, window: Rect, min_face_px: f32) -> Result<Option<Rect>, DetectError> {
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
        Ok(found
            .iter()
            .map(|r| Rect::new(r.x + window.x, r.y + window.y, r.width, r.height))
            .max_by(|a, b| iou(*a, bbox).total_cmp(&iou(*b, bbox))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::to_grey;
    use crate::source::DemoSource;

    fn demo_grey(index: u64) -> Mat {
        let (_, frame) = DemoSource::new(false).expect("demo photos").render(index).expect("demo frame");
        to_grey(&frame).expect("grey")
    }

    fn haar_face(finder: &mut FaceFinder, grey: &Mat) -> Rect {
        let faces = finder.find_in_still(grey).expect("detect");
        assert_eq!(faces.len(), 1, "the demo frame shows one face");
        faces[0].bbox
    }

    #[test]
    fn template_follows_a_moving_face() {
        let mut finder = FaceFinder::new(DetectorSettings::default()).expect("cascade");
        let (first, later) = (demo_grey(40), demo_grey(55));
        let (then, now) = (haar_face(&mut finder, &first), haar_face(&mut finder, &later));
        assert!(iou(then, now) < 0.95, "the demo should move the face between these frames");
        let frame = Rect::new(0, 0, later.cols(), later.rows());
        let template = FaceTemplate::capture(&first, then).expect("template").expect("face inside the frame");
        let window = grown_window(then, TRACK_SEARCH_MARGIN, frame);
        let followed = template.follow(&later, then, window, &mut Mat::default()).expect("match").expect("face followed");
        assert!(iou(followed, now) > iou(then, now), "followed {followed:?} is no closer than {then:?} to {now:?}");
        assert!(iou(followed, now) > 0.8, "followed {followed:?}, Haar found {now:?}");
    }

    #[test]
    fn template_does_not_follow_a_face_into_noise() {
        let mut finder = FaceFinder::new(DetectorSettings::default()).expect("cascade");
        let first = demo_grey(20);
        let face = haar_face(&mut finder, &first);
        let template = FaceTemplate::capture(&first, face).expect("template").expect("face inside the frame");
        let mut noise = Mat::new_rows_cols_with_default(first.rows(), first.cols(), opencv::core::CV_8UC1, 0.into()).expect("image");
        opencv::core::randu(&mut noise, &0.0, &255.0).expect("noise");
        let window = grown_window(face, TRACK_SEARCH_MARGIN, Rect::new(0, 0, noise.cols(), noise.rows()));
        assert_eq!(template.follow(&noise, face, window, &mut Mat::default()).expect("match"), None);
    }

    #[test]
    fn template_of_a_box_overhanging_the_frame_is_clipped() {
        let grey = demo_grey(0);
        let overhanging = Rect::new(grey.cols() - 40, grey.rows() - 40, 41, 41);
        let template = FaceTemplate::capture(&grey, overhanging).expect("capture").expect("part inside");
        assert_eq!(template.patch.size().expect("size"), Size::new(TEMPLATE_SIDE_PX, TEMPLATE_SIDE_PX));
        assert!(FaceTemplate::capture(&grey, Rect::new(grey.cols(), 0, 10, 10)).expect("capture").is_none());
    }

    #[test]
    fn tracked_faces_keep_one_id_through_template_frames() {
        let mut finder = FaceFinder::new(DetectorSettings::default()).expect("cascade");
        let mut ids = std::collections::BTreeSet::new();
        let mut frames_with_face = 0;
        // Two full Haar-refresh cycles and more, with the template between refreshes.
        for index in 0..(4 * HAAR_REFRESH_FRAMES as u64 + 10) {
            let faces = finder.find(&demo_grey(index)).expect("detect");
            assert!(faces.len() <= 1, "frame {index}: {faces:?}");
            frames_with_face += faces.len();
            ids.extend(faces.iter().map(|f| f.track_id));
        }
        assert_eq!(ids.len(), 1, "one face, one id: {ids:?}");
        // Only the first frame lacks the face: new faces are confirmed over two frames.
        assert!(frames_with_face as u64 >= 4 * HAAR_REFRESH_FRAMES as u64 + 8, "face in only {frames_with_face} frames");
    }
}
