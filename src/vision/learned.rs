//! Faces from a learned detector (BlazeFace), frame after frame: where to look, and ids.
//!
//! [`LearnedFinder`] asks its [`FaceDetector`] for two kinds of looks:
//! - the full scan (`detect_all`: the whole frame, and tiles where faces can be small) finds new
//!   faces. It runs every `full_scan_interval_frames` frames (up to 8 times less often while
//!   scans find nothing new, as the Haar finder does), and at once when there is no face to
//!   follow, when a face followed was not found in the last frame, at a scene cut, and once the
//!   view has moved by 3/4 of the smallest face's side since the last scan (a face brought in
//!   across the frame's edge by a pan is then wholly in view);
//! - in every frame, a look near each face followed (`detect_near`), which is what keeps a
//!   face boxed between full scans, at the cost of one small pass per face.
//!
//! Every box reported is the detector's own in that frame; the [`Tracker`] only gives ids.
//! Offline the full scans run in line (same frames, same faces); live they run on their own
//! thread (`background_scan`), and the faces they find are looked for near their box in the frame
//! being processed, so that a frame never waits for a scan.

use opencv::core::{Mat, Size};
use opencv::prelude::*;

use crate::vision::background_scan::BackgroundScanner;
use crate::vision::detect::FoundFace;
use crate::vision::detector::{weighted_nms, Detection, FaceBox, FaceDetector, ScanPlan, NMS_MIN_IOU};
use crate::vision::error::DetectError;
use crate::vision::scene::SceneCuts;
use crate::vision::settings::{DetectorSettings, VIEW_MOTION_SCAN_FRACTION};
use crate::vision::tracker::{likeness, Tracker};

/// The smallest face looked for, whatever `min_face_fraction` says: under this a 48x48 crop is
/// mostly upscaling, and the full scan's tiles multiply.
pub const MIN_FACE_PX: f32 = 16.0;

/// Every this many full scans look for faces too small for one look at the whole frame (tiles,
/// the bulk of a scan's cost; issue #26 lets them run less often). On `eval-detect`'s 640x480
/// clip: tiles in every scan, recall 0.995 at 111.5 frames/s; in every second scan, 0.989 at
/// 134.4 frames/s (docs/detection-blazeface.md).
const SMALL_FACE_SCAN_EVERY: u32 = 2;

/// Whether two boxes of one frame are one face: they overlap as much as weighted NMS merges.
fn same_place(a: &FaceBox, b: &FaceBox) -> bool {
    a.iou(b) > NMS_MIN_IOU
}

/// Finds faces with a learned detector and keeps their ids.
pub struct LearnedFinder {
    detector: Box<dyn FaceDetector>,
    settings: DetectorSettings,
    tracker: Tracker,
    scene: SceneCuts,
    frames_since_full_scan: u32,
    /// Full scans in a row that found no face not already followed: the interval doubles with
    /// each, up to `MAX_QUIET_SCAN_DOUBLINGS` times.
    quiet_full_scans: u32,
    /// Full scans asked for since the last reset (see `scan_plan`).
    full_scans: u32,
    /// Where each face was at the last full scan, by id (see `view_moved_a_face`).
    at_last_full_scan: Vec<(u64, FaceBox)>,
    /// Live use: full scans on their own thread; `None`: in line.
    background: Option<BackgroundScanner<Vec<Detection>>>,
}

impl LearnedFinder {
    pub fn new(detector: Box<dyn FaceDetector>, settings: DetectorSettings) -> Self {
        Self {
            detector,
            settings,
            tracker: Tracker::default(),
            scene: SceneCuts::default(),
            frames_since_full_scan: 0,
            quiet_full_scans: 0,
            full_scans: 0,
            at_last_full_scan: Vec::new(),
            background: None,
        }
    }

    /// Runs the full scans on a thread of their own from now on, with `scanner` (a second
    /// instance of the detector: one session is not run from two threads at once).
    pub fn scan_in_background(mut self, mut scanner: Box<dyn FaceDetector>) -> Result<Self, DetectError> {
        self.background = Some(BackgroundScanner::start(move |frame, plan| scanner.detect_all(frame, plan))?);
        Ok(self)
    }

    /// Forgets every face (a new source, a seek): the next faces get new ids.
    pub fn reset(&mut self) {
        self.tracker.reset();
        self.scene = SceneCuts::default();
        self.frames_since_full_scan = 0;
        self.quiet_full_scans = 0;
        self.at_last_full_scan.clear();
        if let Some(background) = &mut self.background {
            background.forget();
        }
    }

    /// Whether some face found in the last frame has moved by `VIEW_MOTION_SCAN_FRACTION` of the
    /// smallest such face's side since the last full scan.
    fn view_moved_a_face(&self) -> bool {
        let now: Vec<(u64, FaceBox)> = self.tracker.found_in_last_frame().collect();
        let Some(smallest_side) = now.iter().map(|(_, b)| b.width.min(b.height)).min_by(f32::total_cmp) else {
            return false;
        };
        now.iter().any(|(id, bbox)| {
            self.at_last_full_scan.iter().find(|(old_id, _)| old_id == id).is_some_and(|(_, then)| {
                let ((x0, y0), (x1, y1)) = (then.centre(), bbox.centre());
                (x1 - x0).abs().max((y1 - y0).abs()) >= smallest_side * VIEW_MOTION_SCAN_FRACTION
            })
        })
    }

    /// Counts a full scan that found `found` while `known` were followed: quiet when every face
    /// in it was followed already.
    fn full_scan_done(&mut self, found: &[Detection], known: &[FaceBox]) {
        let anything_new = found.iter().any(|d| !known.iter().any(|k| same_place(k, &d.bbox)));
        self.quiet_full_scans = if anything_new || known.is_empty() { 0 } else { self.quiet_full_scans + 1 };
    }

    /// The next full scan's plan: faces too small for one look at the whole frame are looked
    /// for in every `SMALL_FACE_SCAN_EVERY`th scan, and in every scan while nobody is followed.
    fn scan_plan(&self, min_face_px: f32, known: &[FaceBox]) -> ScanPlan {
        let small_faces = known.is_empty() || (self.full_scans + 1).is_multiple_of(SMALL_FACE_SCAN_EVERY);
        ScanPlan { min_face_px, known: known.to_vec(), small_faces }
    }

    fn min_face_px(&self, frame: &Mat) -> f32 {
        self.settings.min_face_px(Size::new(frame.cols(), frame.rows()), MIN_FACE_PX)
    }

    /// Faces in a video frame (`image` in colour or grey, `grey` the same frame in grey), with
    /// ids kept from the frames before.
    pub fn find(&mut self, image: &Mat, grey: &Mat) -> Result<Vec<FoundFace>, DetectError> {
        let min_face_px = self.min_face_px(image);
        if self.scene.is_cut(grey)? {
            self.tracker.reset();
            // A scan of the old scene would send looks to where its faces were.
            if let Some(background) = &mut self.background {
                background.forget();
            }
        }
        self.frames_since_full_scan += 1;
        if self.tracker.any_missed() {
            self.quiet_full_scans = 0;
        }
        let due = self.tracker.is_empty()
            || self.tracker.any_missed()
            || self.frames_since_full_scan >= self.settings.full_scan_interval(self.quiet_full_scans)
            || self.view_moved_a_face();
        let mut found = Vec::new();
        let mut scanned = false;
        // Faces to look for near their last box: those followed, and those a background scan
        // found in an earlier frame that nobody follows yet.
        let mut near = self.tracker.boxes();
        let plan = due.then(|| self.scan_plan(min_face_px, &near));
        match &mut self.background {
            None => {
                if let Some(plan) = plan {
                    found = self.detector.detect_all(image, &plan)?;
                    self.full_scans += 1;
                    self.full_scan_done(&found, &near);
                    self.frames_since_full_scan = 0;
                    scanned = true;
                    // A face the scan found needs no look of its own.
                    near.retain(|bbox| !found.iter().any(|d| same_place(&d.bbox, bbox)));
                }
            }
            Some(background) => {
                let earlier = background.take_result()?;
                if let Some(plan) = plan {
                    if background.submit(image, plan)? {
                        self.full_scans += 1;
                        self.frames_since_full_scan = 0;
                        scanned = true;
                    }
                }
                if let Some(earlier) = earlier {
                    self.full_scan_done(&earlier, &near);
                    let new_faces: Vec<FaceBox> = earlier.iter().map(|d| d.bbox).filter(|bbox| !near.iter().any(|known| same_place(known, bbox))).collect();
                    near.extend(new_faces);
                }
            }
        }
        if !near.is_empty() {
            // A look near a face only continues that face: whatever else it sees there (a
            // neighbour's half, a pattern on the wall) waits for a full scan, which confirms
            // every new face.
            let continued = self.detector.detect_near(image, &near)?.into_iter().filter(|d| near.iter().any(|b| likeness(b, &d.bbox).is_some()));
            found.extend(continued);
        }
        let faces: Vec<Detection> = weighted_nms(found).into_iter().filter(|d| d.bbox.width.max(d.bbox.height) >= min_face_px).collect();
        let tracked = self.tracker.update(&faces);
        if scanned {
            self.at_last_full_scan = self.tracker.found_in_last_frame().collect();
        }
        Ok(tracked.into_iter().map(|t| FoundFace::from_detection(t.id, &t.detection)).collect())
    }

    /// Faces in a still image: the full scan alone, ids from 1, nothing carried over.
    pub fn find_in_still(&mut self, image: &Mat) -> Result<Vec<FoundFace>, DetectError> {
        let min_face_px = self.min_face_px(image);
        let mut faces = self.detector.detect_in_still(image, min_face_px)?;
        // Reading order: top to bottom, then left to right, so ids follow the picture.
        faces.sort_by(|a, b| (a.bbox.y, a.bbox.x).partial_cmp(&(b.bbox.y, b.bbox.x)).unwrap_or(std::cmp::Ordering::Equal));
        Ok(faces.iter().enumerate().map(|(i, d)| FoundFace::from_detection(i as u64 + 1, d)).collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::vision::detector::Keypoints;

    /// A detector that tests drive: the faces of each frame are scripted, the test says which
    /// frame is being looked at, and the detector records the looks it was asked for.
    pub(crate) struct ScriptedDetector {
        /// The faces of each frame (a frame past the script has none).
        script: Vec<Vec<FaceBox>>,
        /// The frame being looked at, set by the test.
        pub frame: Arc<AtomicUsize>,
        /// "all" for each full scan, "near" for each look near known faces.
        pub log: Arc<Mutex<Vec<&'static str>>>,
    }

    impl ScriptedDetector {
        pub(crate) fn new(script: Vec<Vec<FaceBox>>) -> Self {
            Self { script, frame: Arc::default(), log: Arc::default() }
        }

        fn faces(&self) -> Vec<Detection> {
            let current = self.script.get(self.frame.load(Ordering::SeqCst)).cloned().unwrap_or_default();
            current.into_iter().map(|bbox| Detection { bbox, score: 0.9, keypoints: Some(Keypoints::default()) }).collect()
        }
    }

    impl FaceDetector for ScriptedDetector {
        fn detect_all(&mut self, _frame: &Mat, plan: &ScanPlan) -> Result<Vec<Detection>, DetectError> {
            self.log.lock().expect("log").push(if plan.small_faces { "all" } else { "all but small faces" });
            Ok(self.faces())
        }

        fn detect_near(&mut self, _frame: &Mat, around: &[FaceBox]) -> Result<Vec<Detection>, DetectError> {
            self.log.lock().expect("log").push("near");
            Ok(self.faces().into_iter().filter(|d| around.iter().any(|b| b.iou(&d.bbox) > 0.2)).collect())
        }
    }

    /// The ids found in each frame of `script` (one flat picture throughout), and the looks asked
    /// for.
    fn run(script: Vec<Vec<FaceBox>>, settings: DetectorSettings) -> (Vec<Vec<u64>>, Vec<&'static str>) {
        let count = script.len();
        let detector = ScriptedDetector::new(script);
        let (frame, log) = (detector.frame.clone(), detector.log.clone());
        let mut finder = LearnedFinder::new(Box::new(detector), settings);
        let grey = Mat::new_rows_cols_with_default(480, 640, opencv::core::CV_8UC1, opencv::core::Scalar::all(128.0)).expect("frame");
        let ids = (0..count)
            .map(|index| {
                frame.store(index, Ordering::SeqCst);
                finder.find(&grey, &grey).expect("find").iter().map(|f| f.track_id).collect()
            })
            .collect();
        let log = log.lock().expect("log").clone();
        (ids, log)
    }

    fn face(x: f32) -> FaceBox {
        FaceBox { x, y: 100.0, width: 60.0, height: 60.0 }
    }

    fn full_scans(log: &[&str]) -> usize {
        log.iter().filter(|l| l.starts_with("all")).count()
    }

    fn full_scans_at(log: &[&str]) -> Vec<usize> {
        log.iter().enumerate().filter(|(_, l)| l.starts_with("all")).map(|(i, _)| i).collect()
    }

    #[test]
    fn faces_keep_their_ids_and_full_scans_grow_rare_while_they_find_nothing_new() {
        let script: Vec<Vec<FaceBox>> = (0..45).map(|_| vec![face(100.0), face(400.0)]).collect();
        let (ids, log) = run(script, DetectorSettings { full_scan_interval_frames: 10, ..DetectorSettings::default() });
        assert!(ids.iter().all(|frame| frame == &vec![1, 2]), "{ids:?}");
        let scans_at = full_scans_at(&log);
        // One look per frame: a full scan at the first frame, at the interval (10), then twice
        // the interval and four times, since each found nothing new.
        assert_eq!(scans_at, vec![0, 10, 30], "{log:?}");
    }

    #[test]
    fn small_faces_are_looked_for_in_every_second_scan_and_in_every_scan_while_nobody_is_followed() {
        let mut script: Vec<Vec<FaceBox>> = (0..3).map(|_| vec![]).collect();
        script.extend((0..40).map(|_| vec![face(100.0)]));
        let (_, log) = run(script, DetectorSettings { full_scan_interval_frames: 5, ..DetectorSettings::default() });
        let scans: Vec<&str> = log.iter().copied().filter(|l| l.starts_with("all")).collect();
        assert_eq!(&scans[..4], ["all", "all", "all", "all"], "nobody followed in the first four: {log:?}");
        assert!(scans[4..].windows(2).all(|pair| pair[0] != pair[1]), "then every second one: {scans:?}");
    }

    #[test]
    fn a_full_scan_comes_once_the_view_has_moved_by_most_of_a_face() {
        // A 60 px face panned by 5 px a frame: 3/4 of its side after 9 frames.
        let script: Vec<Vec<FaceBox>> = (0..30).map(|i| vec![face(100.0 + i as f32 * 5.0)]).collect();
        let (ids, log) = run(script, DetectorSettings { full_scan_interval_frames: 100, ..DetectorSettings::default() });
        assert!(ids.iter().all(|frame| frame == &vec![1]), "{ids:?}");
        let scans_at = full_scans_at(&log);
        assert_eq!(scans_at, vec![0, 10, 20], "{log:?}");
    }

    #[test]
    fn a_face_that_leaves_and_a_new_one_that_comes_get_their_own_ids() {
        let mut script: Vec<Vec<FaceBox>> = (0..5).map(|_| vec![face(100.0)]).collect();
        script.extend((0..10).map(|_| vec![]));
        script.extend((0..5).map(|_| vec![face(300.0)]));
        let (ids, _) = run(script, DetectorSettings::default());
        assert_eq!(ids[4], vec![1]);
        assert!(ids[5..15].iter().all(Vec::is_empty), "{ids:?}");
        assert_eq!(ids[15], vec![2], "the face appears in its first frame, as a new face: {ids:?}");
    }

    #[test]
    fn a_face_missed_in_one_frame_is_looked_for_by_a_full_scan_in_the_next() {
        let mut script: Vec<Vec<FaceBox>> = (0..3).map(|_| vec![face(100.0)]).collect();
        script.push(vec![]);
        script.extend((0..3).map(|_| vec![face(104.0)]));
        let (ids, log) = run(script, DetectorSettings::default());
        assert_eq!(ids, vec![vec![1], vec![1], vec![1], vec![], vec![1], vec![1], vec![1]]);
        assert_eq!(full_scans(&log), 2, "the first frame and the one after the miss: {log:?}");
    }

    #[test]
    fn stills_number_faces_in_reading_order() {
        let detector = ScriptedDetector::new(vec![vec![face(400.0), face(100.0)]]);
        let mut finder = LearnedFinder::new(Box::new(detector), DetectorSettings::default());
        let grey = Mat::new_rows_cols_with_default(480, 640, opencv::core::CV_8UC1, opencv::core::Scalar::all(128.0)).expect("frame");
        let faces = finder.find_in_still(&grey).expect("find");
        assert_eq!(faces.iter().map(|f| (f.track_id, f.bbox.x)).collect::<Vec<_>>(), vec![(1, 100), (2, 400)]);
        assert!(faces.iter().all(|f| f.keypoints.is_some()));
    }
}
