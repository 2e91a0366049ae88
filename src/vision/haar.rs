//! Haar-cascade face detection, made cheap by following faces already found (`--detector haar`,
//! the detector of the FER-2013 study).
//!
//! [`HaarFinder`] scans the whole frame with Haar (like plain OpenCV: full resolution, no
//! equalisation) only every `full_scan_interval_frames` frames, and besides:
//! - at once when every face is lost, in the same frame (everybody left, or nobody yet);
//! - on a scene cut, told by the correlation of 32x24 thumbnails of consecutive frames (a pan or
//!   a zoom keeps most of the picture, a cut none of it); the old faces are dropped first, so
//!   that no template or windowed scan latches on to something of the new scene where a face
//!   used to be;
//! - once the view has moved by 3/4 of the smallest followed face's side since the last scan
//!   (the largest move of a followed face: a pan, a zoom out, people walking). New faces enter
//!   across the frame's edge while others are followed, and can be found once wholly in view;
//!   this finds them within about a face's move of that. A still view never triggers it.
//!
//! While full scans keep finding nothing new and no face is lost, the interval doubles, up to 8
//! times the setting (a still scene costs little; a new face then waits up to 80 frames at the
//! default, unless the view moves). Every face found is followed frame to frame on its own
//! (one [`TrackedFace`] each): by Haar in a window around its last box over a narrow range of
//! sizes, with fewer neighbouring hits than a new face needs, and between those Haar refreshes
//! (every [`HAAR_REFRESH_FRAMES`] frames; a windowed scan costs 1-3 ms a face) by matching a small
//! template of its last Haar box (normalised cross-correlation, about 0.1 ms). The template also
//! holds a face through a few frames that Haar misses, and a lost face is looked for in a window
//! that grows for a few frames before it is forgotten. A face the full scan misses keeps its
//! track; one the full scan finds refreshes it. So a face is found in every frame that plain Haar
//! finds it in a full scan, and in most frames between.
//!
//! Plain Haar's false faces are mostly weak, so a new face is reported once a second,
//! differently trained cascade ([`VERIFIER_CASCADE`]) also groups enough hits on it; a face it
//! turns down several times is never reported, and so is a new face on the edge of a flat bar
//! (letterboxed video, a photo on a plain background), where Haar often fires. A spot where new
//! faces were turned down until they were lost asks one more neighbouring hit per refusal of the
//! next new face there, for a while: a face-like patch of the background comes back scan after
//! scan, and the verifier accepts it now and then (the demo's astronaut photo has one). Still
//! images get the full scan alone, each face checked by the verifier.
//! The figures behind these choices come from `emocam eval-detect` (see the README): on the
//! clips of `../shared/faces` the view-motion scans and the cut detection took recall at
//! 640x480 from 0.792 to 0.808 with no false face.

use opencv::core::{Mat, Point, Rect, Size, Vector};
use opencv::imgproc;
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;

use crate::vision::background_scan::BackgroundScanner;
use crate::vision::cascade::{full_scan, load_cascade};
use crate::vision::detect::FoundFace;
use crate::vision::detector::ScanPlan;
use crate::vision::error::DetectError;
use crate::vision::overlap::iou;
use crate::vision::scene::SceneCuts;
use crate::vision::settings::{DetectorSettings, VIEW_MOTION_SCAN_FRACTION};
use crate::vision::template::FaceTemplate;

/// The smallest face looked for, in pixels: the 24 px Haar model.
const MIN_FACE_PX: f32 = 24.0;
/// The search window of a lost face grows by `TRACK_SEARCH_MARGIN` per missed frame, to this.
const MAX_SEARCH_MARGIN: f32 = 1.0;
/// Frames a confirmed face may stay lost (searched for, not reported) before it is forgotten.
const MAX_MISSED_FRAMES_CONFIRMED: u32 = 5;
/// The same for a face not confirmed yet.
const MAX_MISSED_FRAMES_NEW: u32 = 3;
/// Times the verifier is asked about a new face before the face is taken to be false.
const MAX_VERIFY_ATTEMPTS: u32 = 6;
/// How far around a tracked face to look for it in the next frame, as a fraction of its side.
/// Faces move a few pixels between frames; a face that jumps further is found by the full scan
/// that a lost face triggers.
const TRACK_SEARCH_MARGIN: f32 = 0.3;
/// Size range, relative to the tracked box, accepted when re-finding a face.
const TRACK_SIZE_RANGE: (f32, f32) = (0.8, 1.25);

/// A confirmed face is re-detected with Haar every this many frames, and followed by its
/// template in between.
pub const HAAR_REFRESH_FRAMES: u32 = 4;
/// Frames a confirmed face may be followed by its template alone when Haar keeps missing it;
/// after that it counts as lost.
const MAX_FRAMES_WITHOUT_HAAR: u32 = 6;

/// Frames a new face must be found in before it is reported (video only).
pub const CONFIRMATION_HITS: u32 = 1;
/// The cascade that double-checks new faces in video (skipped if the file is missing).
pub const VERIFIER_CASCADE: &str = "frontalface_alt2";
/// Margin around a new face's box searched by the verifier, as a fraction of its side.
const VERIFY_MARGIN: f32 = 0.25;
/// Sizes, relative to the face's box, and scale step of the verifier's scan.
const VERIFY_SIZE_RANGE: (f32, f32) = (0.7, 1.5);
const VERIFY_SCALE_FACTOR: f64 = 1.05;
/// Windows the verifier must group on a new face in video. Haar's candidates in clips of
/// annotated group photos (`emocam eval-detect`): real faces mostly gather 25-45, false faces
/// mostly 0-2, a few up to 11.
const VERIFY_MIN_NEIGHBORS: i32 = 3;
/// The same for still images, which have no later frames to hold a face in. Stricter than for
/// video: 6 keeps all of plain Haar's faces in the annotated photos and drops its weaker false
/// faces; 12 would drop every false face measured but also a quarter of the real ones.
const STILL_VERIFY_MIN_NEIGHBORS: i32 = 6;
/// A bar along the frame's edge is a line of pixels whose grey levels span at most this (video
/// compression adds a little noise to black bars).
const BAR_MAX_GREY_RANGE: f64 = 6.0;
/// A new face must keep this fraction of its side clear of a bar's edge: Haar's false faces
/// on such an edge straddle it or hug it from inside.
const PICTURE_EDGE_CLEARANCE: f32 = 0.05;
/// Frames for which a spot the verifier turned down stays suspect: the longest full-scan
/// interval at the default setting, so that the next scan still remembers it.
const TURNED_DOWN_MEMORY_FRAMES: u64 = 80;
/// Neighbouring hits that re-find a face already followed (see `search_near`).
const TRACKED_FACE_MIN_NEIGHBORS: i32 = 3;

/// One face followed from frame to frame.
struct TrackedFace {
    /// The id shown to users, given when the face is confirmed: unconfirmed (mostly false)
    /// detections don't use up numbers, so faces are #1, #2, #3 in order of appearance.
    shown_id: Option<u64>,
    bbox: Rect,
    /// Frames in which Haar found this face (in a full scan or around its last box).
    haar_hits: u32,
    /// Consecutive frames in which the face was not found.
    missed_frames: u32,
    /// The face's look at its last Haar detection.
    template: Option<FaceTemplate>,
    /// Whether the verifier cascade has seen a face here yet, and how often it was asked.
    verified: bool,
    verify_attempts: u32,
    /// Found in this frame by the full scan (then it needs no search of its own).
    found_by_full_scan: bool,
    /// Where the box's centre was at the last full scan (or when the face was first found).
    centre_at_full_scan: Point,
}

impl TrackedFace {
    fn new(grey: &Mat, bbox: Rect) -> opencv::Result<Self> {
        Ok(Self {
            shown_id: None,
            bbox,
            haar_hits: 1,
            missed_frames: 0,
            template: FaceTemplate::capture(grey, bbox)?,
            verified: false,
            verify_attempts: 0,
            found_by_full_scan: true,
            centre_at_full_scan: centre(bbox),
        })
    }

    fn is_confirmed(&self) -> bool {
        self.shown_id.is_some()
    }

    /// Haar found the face at `bbox`: a new box and a fresh template.
    fn found_by_haar(&mut self, grey: &Mat, bbox: Rect) -> opencv::Result<()> {
        self.bbox = bbox;
        self.haar_hits += 1;
        self.missed_frames = 0;
        self.template = FaceTemplate::capture(grey, bbox)?;
        Ok(())
    }

    /// The template found the face at `bbox`.
    fn found_by_template(&mut self, bbox: Rect) {
        self.bbox = bbox;
        self.missed_frames = 0;
        if let Some(template) = &mut self.template {
            template.frames_since_haar += 1;
        }
    }

    fn frames_since_haar(&self) -> u32 {
        self.template.as_ref().map_or(u32::MAX, |t| t.frames_since_haar)
    }
}

fn centre(r: Rect) -> Point {
    Point::new(r.x + r.width / 2, r.y + r.height / 2)
}

/// A new face that the verifier turned down until it was lost.
struct TurnedDown {
    /// Its last box.
    bbox: Rect,
    /// When it was lost, in frames since the last reset.
    frame: u64,
    /// How often the verifier turned it down.
    refusals: u32,
}

/// Whether two boxes are the same face: they overlap well, or one's centre lies in the other
/// and their sizes are alike (Haar's box for one face varies by a step of the scan).
fn same_face(a: Rect, b: Rect) -> bool {
    if iou(a, b) >= 0.3 {
        return true;
    }
    let ratio = f64::from(a.width.max(1)) / f64::from(b.width.max(1));
    (a.contains(centre(b)) || b.contains(centre(a))) && (0.6..=1.67).contains(&ratio)
}

/// Finds and tracks faces frame after frame with Haar cascades.
pub struct HaarFinder {
    cascade: CascadeClassifier,
    verifier: Option<CascadeClassifier>,
    settings: DetectorSettings,
    faces: Vec<TrackedFace>,
    next_shown_id: u64,
    frames_since_full_scan: u32,
    /// Full scans in a row that found no face not already followed, with none lost since: the
    /// scan interval doubles with each, to `MAX_QUIET_SCAN_DOUBLINGS` doublings.
    quiet_full_scans: u32,
    /// Live use: full scans on their own thread (see `background_scan`); `None`: in line.
    background: Option<BackgroundScanner<Vec<Rect>>>,
    /// Video frames looked at since the last reset.
    frames_seen: u64,
    /// New faces that the verifier turned down until they were lost.
    turned_down: Vec<TurnedDown>,
    /// Tells a new scene from the frame before.
    scene: SceneCuts,
    /// Scratch images reused between frames.
    equalized: Mat,
    small: Mat,
}

impl HaarFinder {
    pub fn new(settings: DetectorSettings) -> Result<Self, DetectError> {
        settings.check()?;
        let cascade = load_cascade(&settings.cascade_path())?;
        let verifier = load_cascade(&crate::resources::cascade_path(VERIFIER_CASCADE)).ok();
        Ok(Self {
            cascade,
            verifier,
            settings,
            faces: Vec::new(),
            next_shown_id: 1,
            frames_since_full_scan: 0,
            quiet_full_scans: 0,
            background: None,
            frames_seen: 0,
            turned_down: Vec::new(),
            scene: SceneCuts::default(),
            equalized: Mat::default(),
            small: Mat::default(),
        })
    }

    /// Runs the full scans on a thread of their own from now on (live use: the frame being
    /// tracked never waits for a scan). Still images are scanned in line all the same.
    pub fn scan_in_background(mut self) -> Result<Self, DetectError> {
        // The scan thread has its own copy of the cascade (a cascade is not shared between threads).
        let mut cascade = load_cascade(&self.settings.cascade_path())?;
        let settings = self.settings.clone();
        self.background = Some(BackgroundScanner::start(move |grey, plan| Ok(full_scan(&mut cascade, grey, &settings, plan.min_face_px)?))?);
        Ok(self)
    }

    /// Forget tracked faces (when the source changes).
    pub fn reset(&mut self) {
        self.faces.clear();
        self.next_shown_id = 1;
        self.frames_since_full_scan = 0;
        self.quiet_full_scans = 0;
        self.scene = SceneCuts::default();
        self.frames_seen = 0;
        self.turned_down.clear();
        if let Some(background) = &mut self.background {
            background.forget();
        }
    }

    /// Frames until the next full scan (see `DetectorSettings::full_scan_interval`).
    fn full_scan_interval(&self) -> u32 {
        self.settings.full_scan_interval(self.quiet_full_scans)
    }

    /// Runs the full scan of this frame if `due` (in line), or hands it to the scan thread and
    /// merges the last scan it finished (live). True if a scan of this frame started.
    fn full_scan_step(&mut self, grey: &Mat, min_face_px: f32, due: bool) -> Result<bool, DetectError> {
        // A scan with no face followed (nobody in view, a new scene) says nothing about how
        // settled the scene is: it never makes the interval grow.
        let following = !self.faces.is_empty();
        let started = match &mut self.background {
            None if due => {
                let detections = self.scan_full_frame(grey, min_face_px)?;
                let new_faces = self.merge_full_scan(grey, &detections, ScanAge::ThisFrame)?;
                self.quiet_full_scans = if new_faces == 0 && following { self.quiet_full_scans + 1 } else { 0 };
                true
            }
            None => false,
            Some(background) => {
                let finished = background.take_result()?;
                let started = due && background.submit(grey, ScanPlan::everything(min_face_px))?;
                if let Some(detections) = finished {
                    let new_faces = self.merge_full_scan(grey, &detections, ScanAge::EarlierFrame)?;
                    self.quiet_full_scans = if new_faces == 0 && following { self.quiet_full_scans + 1 } else { 0 };
                }
                started
            }
        };
        if started {
            self.frames_since_full_scan = 0;
            for face in &mut self.faces {
                face.centre_at_full_scan = centre(face.bbox);
            }
        }
        Ok(started)
    }

    /// Whether the view has moved by about a face since the last full scan: some followed face
    /// has moved by `VIEW_MOTION_SCAN_FRACTION` of the smallest followed face's side. A face that
    /// the camera brings in across the frame's edge (a pan, or a zoom out), or that walks in, can
    /// be found once it is wholly in view; after the view moves by a face's side, every face cut
    /// by the edge at the last scan is. The faces nearest the edges move the most in a zoom, as
    /// much as the picture that comes in there. A still view never triggers this.
    fn view_moved_a_face_since_full_scan(&self) -> bool {
        let followed = || self.faces.iter().filter(|face| face.is_confirmed() && face.missed_frames == 0);
        let Some(smallest_side) = followed().map(|face| face.bbox.width.min(face.bbox.height)).min() else {
            return false;
        };
        let largest_move = followed()
            .map(|face| {
                let now = centre(face.bbox);
                (now.x - face.centre_at_full_scan.x).abs().max((now.y - face.centre_at_full_scan.y).abs())
            })
            .max()
            .unwrap_or(0);
        largest_move as f32 >= smallest_side as f32 * VIEW_MOTION_SCAN_FRACTION
    }

    /// Faces in a grey video frame, with stable track ids.
    pub fn find(&mut self, grey: &Mat) -> Result<Vec<FoundFace>, DetectError> {
        let frame = Rect::new(0, 0, grey.cols(), grey.rows());
        let min_face_px = self.min_face_px(grey);
        self.frames_since_full_scan += 1;
        self.frames_seen += 1;
        // A new scene shares nothing with the faces followed so far: a face's template or a
        // windowed scan could only latch on to something else where a face used to be.
        if self.scene.is_cut(grey)? {
            self.faces.clear();
            self.turned_down.clear();
            self.quiet_full_scans = 0;
        }
        // With every face lost (nobody yet, or everybody gone in the last frame) there is
        // nothing to follow: look everywhere at once rather than wait for the next scheduled scan.
        let all_lost = self.faces.iter().all(|face| face.missed_frames > 0);
        let scan_due = all_lost || self.frames_since_full_scan >= self.full_scan_interval() || self.view_moved_a_face_since_full_scan();
        let scanned = self.full_scan_step(grey, min_face_px, scan_due)?;
        for index in 0..self.faces.len() {
            if !self.faces[index].found_by_full_scan {
                self.search_near(grey, frame, min_face_px, index)?;
            }
        }
        // Every face followed into this frame is gone (they left, or a cut too gentle for the
        // thumbnails): scan this frame rather than the next, so that faces still in view, or
        // those of the new scene, are boxed without a frame's delay.
        if !scanned && !self.faces.is_empty() && self.faces.iter().all(|face| face.missed_frames > 0) {
            self.full_scan_step(grey, min_face_px, true)?;
        }
        self.drop_lost_and_duplicate_faces();
        if self.faces.iter().any(|face| face.missed_frames > 0) {
            self.quiet_full_scans = 0;
        }
        self.confirm_new_faces(grey, frame)?;
        for face in &mut self.faces {
            face.found_by_full_scan = false;
        }
        Ok(self
            .faces
            .iter()
            .filter(|face| face.missed_frames == 0)
            .filter_map(|face| Some(FoundFace { track_id: face.shown_id?, bbox: face.bbox, keypoints: None }))
            .collect())
    }

    /// Faces in a still image: the full scan, each face checked by the verifier, nothing
    /// carried over.
    pub fn find_in_still(&mut self, grey: &Mat) -> Result<Vec<FoundFace>, DetectError> {
        self.reset();
        let frame = Rect::new(0, 0, grey.cols(), grey.rows());
        let min_face_px = self.min_face_px(grey);
        let mut faces = Vec::new();
        let detections = self.scan_full_frame(grey, min_face_px)?;
        let picture = if detections.is_empty() { frame } else { picture_area(grey)? };
        for bbox in detections {
            if self.verify(grey, frame, picture, bbox, STILL_VERIFY_MIN_NEIGHBORS)? {
                faces.push(FoundFace { track_id: self.next_shown_id, bbox, keypoints: None });
                self.next_shown_id += 1;
            }
        }
        Ok(faces)
    }

    /// Full-scan boxes update the faces they belong to; the others are new faces, counted.
    /// Boxes of an earlier frame (a background scan) only add faces: the tracker knows better
    /// where the known ones are now, and a new face is looked for around its box, in this frame.
    fn merge_full_scan(&mut self, grey: &Mat, detections: &[Rect], age: ScanAge) -> opencv::Result<usize> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (f, face) in self.faces.iter().enumerate() {
            for (d, &detection) in detections.iter().enumerate() {
                if same_face(face.bbox, detection) {
                    pairs.push((iou(face.bbox, detection), f, d));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut detection_used = vec![false; detections.len()];
        let mut face_matched = vec![false; self.faces.len()];
        for (_, f, d) in pairs {
            if !face_matched[f] && !detection_used[d] {
                face_matched[f] = true;
                detection_used[d] = true;
                if age == ScanAge::ThisFrame {
                    self.faces[f].found_by_haar(grey, detections[d])?;
                    self.faces[f].found_by_full_scan = true;
                }
            }
        }
        let mut new_faces = 0;
        for (&detection, _) in detections.iter().zip(&detection_used).filter(|(_, &used)| !used) {
            let mut face = TrackedFace::new(grey, detection)?;
            face.found_by_full_scan = age == ScanAge::ThisFrame;
            self.faces.push(face);
            new_faces += 1;
        }
        Ok(new_faces)
    }

    /// Looks for face `index` near its last box: by template between Haar refreshes, by Haar
    /// otherwise, in a window that grows while the face stays lost.
    fn search_near(&mut self, grey: &Mat, frame: Rect, min_face_px: f32, index: usize) -> Result<(), DetectError> {
        let (bbox, missed_frames, confirmed, frames_since_haar) = {
            let face = &self.faces[index];
            (face.bbox, face.missed_frames, face.is_confirmed(), face.frames_since_haar())
        };
        let margin = (TRACK_SEARCH_MARGIN * (1 + missed_frames) as f32).min(MAX_SEARCH_MARGIN);
        let window = grown_window(bbox, margin, frame);
        if window.width <= 0 || window.height <= 0 {
            self.faces[index].missed_frames += 1;
            return Ok(());
        }
        // Between Haar refreshes the template follows a confirmed face (unconfirmed faces always
        // get Haar: a template would follow a false face as faithfully as a real one).
        let template_may_follow = |limit: u32| confirmed && missed_frames == 0 && frames_since_haar < limit;
        if template_may_follow(HAAR_REFRESH_FRAMES - 1) {
            if let Some(found) = self.follow_template(index, grey, window)? {
                self.faces[index].found_by_template(found);
                return Ok(());
            }
        }
        if let Some(found) = self.haar_near(grey, bbox, window, min_face_px)? {
            self.faces[index].found_by_haar(grey, found)?;
            return Ok(());
        }
        // Haar misses a face now and then (a blink, a turn): the template holds it for a few
        // frames before it counts as lost.
        if template_may_follow(MAX_FRAMES_WITHOUT_HAAR) {
            if let Some(found) = self.follow_template(index, grey, window)? {
                self.faces[index].found_by_template(found);
                return Ok(());
            }
        }
        self.faces[index].missed_frames += 1;
        Ok(())
    }

    /// Where face `index`'s template finds it in `window`.
    fn follow_template(&mut self, index: usize, grey: &Mat, window: Rect) -> opencv::Result<Option<Rect>> {
        let face = &self.faces[index];
        match &face.template {
            Some(template) => template.follow(grey, face.bbox, window, &mut self.small),
            None => Ok(None),
        }
    }

    /// Forgets faces lost for too long, and the weaker of two tracks on one face.
    fn drop_lost_and_duplicate_faces(&mut self) {
        let frames_seen = self.frames_seen;
        for face in &self.faces {
            if !face.is_confirmed() && face.verify_attempts > 0 && face.missed_frames > MAX_MISSED_FRAMES_NEW {
                self.turned_down.push(TurnedDown { bbox: face.bbox, frame: frames_seen, refusals: face.verify_attempts });
            }
        }
        self.faces.retain(|face| face.missed_frames <= if face.is_confirmed() { MAX_MISSED_FRAMES_CONFIRMED } else { MAX_MISSED_FRAMES_NEW });
        // Stronger first: confirmed, then more Haar hits; a face found now beats a lost one.
        let mut order: Vec<usize> = (0..self.faces.len()).collect();
        order.sort_by_key(|&i| {
            let face = &self.faces[i];
            (face.missed_frames > 0, !face.is_confirmed(), std::cmp::Reverse(face.haar_hits))
        });
        let mut keep = vec![true; self.faces.len()];
        for (rank, &i) in order.iter().enumerate() {
            if keep[i] {
                for &j in &order[rank + 1..] {
                    keep[j] &= !same_face(self.faces[i].bbox, self.faces[j].bbox);
                }
            }
        }
        let mut keep = keep.into_iter();
        self.faces.retain(|_| keep.next().unwrap_or(true));
    }

    /// Gives an id to each new face found by Haar in enough frames that the verifier accepts.
    fn confirm_new_faces(&mut self, grey: &Mat, frame: Rect) -> Result<(), DetectError> {
        let frames_seen = self.frames_seen;
        self.turned_down.retain(|spot| frames_seen - spot.frame <= TURNED_DOWN_MEMORY_FRAMES);
        // Found once per frame, and only when some face is to be verified.
        let mut picture = None;
        for index in 0..self.faces.len() {
            let face = &self.faces[index];
            let haar_now = face.missed_frames == 0 && face.frames_since_haar() == 0;
            if face.is_confirmed() || !haar_now || face.haar_hits < CONFIRMATION_HITS {
                continue;
            }
            if !face.verified && face.verify_attempts < MAX_VERIFY_ATTEMPTS {
                let bbox = face.bbox;
                let picture = match picture {
                    Some(picture) => picture,
                    None => *picture.insert(picture_area(grey)?),
                };
                // A spot where the verifier turned new faces down until they were lost keeps
                // what made Haar fire there (a face-like patch of the background comes back scan
                // after scan, and the verifier accepts it now and then): each refusal there asks
                // one more neighbouring hit of a new face there, up to what a still image needs.
                // A face that stays in view keeps its own count and is asked the usual evidence.
                let refusals_here: u32 = self.turned_down.iter().filter(|spot| same_face(spot.bbox, bbox)).map(|spot| spot.refusals).sum();
                let refusals_here = i32::try_from(refusals_here).unwrap_or(i32::MAX);
                let min_neighbors = VERIFY_MIN_NEIGHBORS.saturating_add(refusals_here).min(STILL_VERIFY_MIN_NEIGHBORS);
                let verified = self.verify(grey, frame, picture, bbox, min_neighbors)?;
                let face = &mut self.faces[index];
                face.verify_attempts += 1;
                face.verified = verified;
            }
            if self.faces[index].verified {
                self.faces[index].shown_id = Some(self.next_shown_id);
                self.next_shown_id += 1;
            }
        }
        Ok(())
    }

    /// Whether the verifier cascade is also confident of a face at `bbox` (true without a
    /// verifier): its best group of hits around the box must have `VERIFY_MIN_NEIGHBORS` windows.
    /// `picture` is `frame` less its flat bars ([`picture_area`]).
    fn verify(&mut self, grey: &Mat, frame: Rect, picture: Rect, bbox: Rect, min_neighbors: i32) -> Result<bool, DetectError> {
        // Haar fires on the edge of a letterbox or pillarbox bar (and of a photo shown on a
        // plain background); a face is inside the picture.
        let surround = grown_window(bbox, PICTURE_EDGE_CLEARANCE, frame);
        if (surround & picture) != surround {
            return Ok(false);
        }
        let Some(verifier) = &mut self.verifier else { return Ok(true) };
        let side = bbox.width.max(bbox.height) as f32;
        let window = grown_window(bbox, VERIFY_MARGIN, frame);
        if window.width <= 0 || window.height <= 0 {
            return Ok(false);
        }
        imgproc::equalize_hist(&Mat::roi(grey, window)?, &mut self.equalized)?;
        let mut found = Vector::<Rect>::new();
        let mut neighbors = Vector::<i32>::new();
        let (min_side, max_side) = ((side * VERIFY_SIZE_RANGE.0) as i32, (side * VERIFY_SIZE_RANGE.1) as i32);
        verifier.detect_multi_scale2(
            &self.equalized,
            &mut found,
            &mut neighbors,
            VERIFY_SCALE_FACTOR,
            1,
            0,
            Size::new(min_side, min_side),
            Size::new(max_side, max_side),
        )?;
        Ok(neighbors.iter().max().unwrap_or(0) >= min_neighbors)
    }

    /// The smallest face side to look for, in pixels of `grey`.
    fn min_face_px(&self, grey: &Mat) -> f32 {
        self.settings.min_face_px(opencv::core::Size::new(grey.cols(), grey.rows()), MIN_FACE_PX)
    }

    /// The full scan of `grey`, in line (see [`full_scan`]).
    fn scan_full_frame(&mut self, grey: &Mat, min_face_px: f32) -> Result<Vec<Rect>, DetectError> {
        Ok(full_scan(&mut self.cascade, grey, &self.settings, min_face_px)?)
    }

    /// The Haar hit in `window` closest to the tracked box `bbox`, over a narrow range of sizes.
    fn haar_near(&mut self, grey: &Mat, bbox: Rect, window: Rect, min_face_px: f32) -> Result<Option<Rect>, DetectError> {
        let side = bbox.width.max(bbox.height) as f32;
        let min_side = (side * TRACK_SIZE_RANGE.0).max(min_face_px).round() as i32;
        let max_side = (side * TRACK_SIZE_RANGE.1).round() as i32;
        let mut found = Vector::<Rect>::new();
        // A face found before needs less evidence than a new one: the window holds little else,
        // and a weak face is found again in more frames.
        let min_neighbors = self.settings.min_neighbors.min(TRACKED_FACE_MIN_NEIGHBORS);
        self.cascade.detect_multi_scale(
            &Mat::roi(grey, window)?,
            &mut found,
            self.settings.scale_factor,
            min_neighbors,
            0,
            Size::new(min_side, min_side),
            Size::new(max_side, max_side),
        )?;
        // The hit closest to the tracked box is the same face; others are left to the next full scan.
        Ok(found.iter().map(|r| Rect::new(r.x + window.x, r.y + window.y, r.width, r.height)).max_by(|a, b| iou(*a, bbox).total_cmp(&iou(*b, bbox))))
    }
}

/// Which frame a full scan's boxes belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScanAge {
    ThisFrame,
    /// A frame or more before this one: a background scan.
    EarlierFrame,
}

/// The frame less any bars of one flat grey along its edges (letterboxed or pillarboxed video,
/// a photo on a plain background).
fn picture_area(grey: &Mat) -> opencv::Result<Rect> {
    let (width, height) = (grey.cols(), grey.rows());
    let is_flat = |line: Rect| -> opencv::Result<bool> {
        let (mut min, mut max) = (0.0, 0.0);
        opencv::core::min_max_loc(&Mat::roi(grey, line)?, Some(&mut min), Some(&mut max), None, None, &opencv::core::no_array())?;
        Ok(max - min <= BAR_MAX_GREY_RANGE)
    };
    let bar = |line_at: &dyn Fn(i32) -> Rect, lines: i32| -> opencv::Result<i32> {
        let mut count = 0;
        while count < lines / 2 && is_flat(line_at(count))? {
            count += 1;
        }
        Ok(count)
    };
    let left = bar(&|x| Rect::new(x, 0, 1, height), width)?;
    let right = bar(&|x| Rect::new(width - 1 - x, 0, 1, height), width)?;
    let top = bar(&|y| Rect::new(0, y, width, 1), height)?;
    let bottom = bar(&|y| Rect::new(0, height - 1 - y, width, 1), height)?;
    Ok(Rect::new(left, top, width - left - right, height - top - bottom))
}

/// `bbox` grown by `fraction` of its longer side on every edge, clipped to `frame`.
fn grown_window(bbox: Rect, fraction: f32, frame: Rect) -> Rect {
    let margin = (bbox.width.max(bbox.height) as f32 * fraction) as i32;
    Rect::new(bbox.x - margin, bbox.y - margin, bbox.width + 2 * margin, bbox.height + 2 * margin) & frame
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::source::DemoSource;
    use crate::vision::face::to_grey;
    use crate::vision::settings::MAX_QUIET_SCAN_DOUBLINGS;

    /// Frame `index` of the demo, grey (also used by the template's tests).
    pub(in crate::vision) fn demo_grey(index: u64) -> Mat {
        let (_, frame) = DemoSource::new(false).expect("demo photos").render(index).expect("demo frame");
        to_grey(&frame).expect("grey")
    }

    /// Settings for the demo's one large face: a min face of 10% skips the small false faces
    /// that a still scan of some demo frames finds at the default 6%.
    fn one_large_face() -> DetectorSettings {
        DetectorSettings { min_face_fraction: 0.1, ..DetectorSettings::default() }
    }

    fn haar_face(finder: &mut HaarFinder, grey: &Mat) -> Rect {
        let faces = finder.find_in_still(grey).expect("detect");
        assert_eq!(faces.len(), 1, "the demo frame shows one face: {faces:?}");
        faces[0].bbox
    }

    #[test]
    fn template_follows_a_moving_face() {
        let mut finder = HaarFinder::new(one_large_face()).expect("cascade");
        let (first, later) = (demo_grey(100), demo_grey(115));
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
        let mut finder = HaarFinder::new(one_large_face()).expect("cascade");
        let first = demo_grey(20);
        let face = haar_face(&mut finder, &first);
        let template = FaceTemplate::capture(&first, face).expect("template").expect("face inside the frame");
        let mut noise = Mat::new_rows_cols_with_default(first.rows(), first.cols(), opencv::core::CV_8UC1, 0.into()).expect("image");
        opencv::core::randu(&mut noise, &0.0, &255.0).expect("noise");
        let window = grown_window(face, TRACK_SEARCH_MARGIN, Rect::new(0, 0, noise.cols(), noise.rows()));
        assert_eq!(template.follow(&noise, face, window, &mut Mat::default()).expect("match"), None);
    }

    #[test]
    fn picture_area_leaves_out_flat_bars_along_the_edges() {
        let photo = demo_grey(0);
        assert_eq!(picture_area(&photo).expect("area"), Rect::new(0, 0, photo.cols(), photo.rows()), "the demo has no bars");
        // The photo windowboxed on black: bars left, right and at the top.
        let mut framed = Mat::new_rows_cols_with_default(photo.rows() + 40, photo.cols() + 200, opencv::core::CV_8UC1, 0.into()).expect("image");
        photo.copy_to(&mut Mat::roi_mut(&mut framed, Rect::new(120, 40, photo.cols(), photo.rows())).expect("inside")).expect("copy");
        assert_eq!(picture_area(&framed).expect("area"), Rect::new(120, 40, photo.cols(), photo.rows()));
    }

    #[test]
    fn no_new_face_on_the_edge_of_a_bar() {
        let photo = demo_grey(0);
        let mut framed = Mat::new_rows_cols_with_default(photo.rows(), photo.cols() + 200, opencv::core::CV_8UC1, 96.into()).expect("image");
        photo.copy_to(&mut Mat::roi_mut(&mut framed, Rect::new(200, 0, photo.cols(), photo.rows())).expect("inside")).expect("copy");
        let mut finder = HaarFinder::new(one_large_face()).expect("cascade");
        let frame = Rect::new(0, 0, framed.cols(), framed.rows());
        let face = haar_face(&mut finder, &photo);
        let moved = Rect::new(face.x + 200, face.y, face.width, face.height);
        let picture = picture_area(&framed).expect("area");
        assert!(finder.verify(&framed, frame, picture, moved, VERIFY_MIN_NEIGHBORS).expect("verify"), "the face itself, inside the picture");
        for straddling in [Rect::new(180, 100, 80, 80), Rect::new(202, 100, 80, 80)] {
            assert!(!finder.verify(&framed, frame, picture, straddling, 0).expect("verify"), "{straddling:?} on the bar's edge");
        }
    }

    #[test]
    fn full_scans_grow_rare_while_they_find_nothing_new_and_return_when_a_face_is_lost() {
        let mut finder = HaarFinder::new(one_large_face()).expect("cascade");
        let base = one_large_face().full_scan_interval_frames;
        let face = demo_grey(20);
        for _ in 0..(base * 20) {
            finder.find(&face).expect("detect");
        }
        assert_eq!(finder.full_scan_interval(), base << MAX_QUIET_SCAN_DOUBLINGS, "one still face: nothing new to find");
        let empty = Mat::new_rows_cols_with_default(face.rows(), face.cols(), opencv::core::CV_8UC1, 128.into()).expect("image");
        finder.find(&empty).expect("detect");
        finder.find(&empty).expect("detect");
        assert_eq!(finder.full_scan_interval(), base, "the face is gone: look for faces at the set interval again");
    }

    #[test]
    fn a_full_scan_is_due_once_the_view_has_moved_by_a_face() {
        let mut finder = HaarFinder::new(one_large_face()).expect("cascade");
        // A picture 200 px wider than the frame, looked at through a window that can pan.
        const PAN_PX: i32 = 200;
        let photo = demo_grey(20);
        let mut wide = Mat::new_rows_cols_with_default(photo.rows(), photo.cols() + PAN_PX, opencv::core::CV_8UC1, 128.into()).expect("image");
        photo.copy_to(&mut Mat::roi_mut(&mut wide, Rect::new(PAN_PX, 0, photo.cols(), photo.rows())).expect("inside")).expect("copy");
        let view = |panned: i32| Mat::roi(&wide, Rect::new(PAN_PX - panned, 0, photo.cols(), photo.rows())).expect("inside").try_clone().expect("copy");
        // A still view until the scans have grown rare, up to a scan.
        for _ in 0..(one_large_face().full_scan_interval_frames * 20) {
            finder.find(&view(0)).expect("detect");
        }
        while finder.frames_since_full_scan != 0 {
            finder.find(&view(0)).expect("detect");
        }
        assert_eq!(finder.full_scan_interval(), one_large_face().full_scan_interval_frames << MAX_QUIET_SCAN_DOUBLINGS);
        let face = finder.faces.iter().find(|face| face.is_confirmed()).map(|face| face.bbox).expect("the demo face is followed");
        assert!(!finder.view_moved_a_face_since_full_scan(), "a still view");
        // The view pans by 4 px a frame: a scan comes once the face has moved by its side (times
        // the fraction), long before the interval would ask for one.
        const STEP_PX: i32 = 4;
        let needed = face.width as f32 * VIEW_MOTION_SCAN_FRACTION;
        assert!(needed < PAN_PX as f32, "the test pans too little for a {} px face", face.width);
        let mut panned_at_scan = None;
        for panned in (STEP_PX..=PAN_PX).step_by(STEP_PX as usize) {
            finder.find(&view(panned)).expect("detect");
            if finder.frames_since_full_scan == 0 {
                panned_at_scan = Some(panned);
                break;
            }
        }
        let panned = panned_at_scan.expect("a full scan while the view moved");
        // The move is seen in the frame after it reaches the fraction: one step late at most.
        assert!((needed..=needed + 2.0 * STEP_PX as f32).contains(&(panned as f32)), "scanned after {panned} px; face side {}", face.width);
    }

    #[test]
    fn tracked_faces_keep_one_id_through_template_frames() {
        let mut finder = HaarFinder::new(one_large_face()).expect("cascade");
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

    /// Live use: what a background scan finds joins the tracker a few frames later, with the
    /// same faces and boxes as a scan in line and one id each. One still frame over and over,
    /// so that the result does not depend on which frames the scan thread happened to get.
    #[test]
    fn a_background_scan_finds_what_a_scan_in_line_finds() {
        let grey = demo_grey(10);
        let mut in_line = HaarFinder::new(one_large_face()).expect("cascade");
        let mut expected = Vec::new();
        for _ in 0..10 {
            expected = in_line.find(&grey).expect("detect");
        }
        assert!(!expected.is_empty(), "the demo frame shows a face");
        let mut background = HaarFinder::new(one_large_face()).expect("cascade").scan_in_background().expect("thread");
        let mut found = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for _ in 0..200 {
            found = background.find(&grey).expect("detect");
            ids.extend(found.iter().map(|f| f.track_id));
            if found.len() == expected.len() && ids.len() == expected.len() {
                break;
            }
            // Give the scan thread a moment: this checks the merging, not the speed.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Then, for a while, the same faces under the same ids.
        for _ in 0..20 {
            found = background.find(&grey).expect("detect");
            ids.extend(found.iter().map(|f| f.track_id));
        }
        assert_eq!(found.len(), expected.len(), "{found:?} vs {expected:?}");
        assert_eq!(ids.len(), expected.len(), "one id per face: {ids:?}");
        for face in &expected {
            assert!(found.iter().any(|f| iou(f.bbox, face.bbox) > 0.7), "{face:?} not in {found:?}");
        }
        // A reset drops the scan in flight: nothing of the old scene comes back from it.
        background.reset();
        let flat = Mat::new_rows_cols_with_default(grey.rows(), grey.cols(), opencv::core::CV_8UC1, opencv::core::Scalar::all(128.0)).expect("grey");
        for _ in 0..20 {
            assert!(background.find(&flat).expect("detect").is_empty());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
