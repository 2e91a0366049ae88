//! Face ids over frames: the [`Tracker`] only associates each frame's detections with the faces
//! of the frames before; it never finds, moves or invents a box. A face keeps its id while it is
//! found again within [`MAX_MISSED_FRAMES`] frames; a scene cut or a seek (`reset`) ends every
//! id. Model switches and pauses don't touch it.

use crate::vision::detector::{Detection, FaceBox};

/// Frames a face may go unfound and keep its id (a blink of the detector, a hand in front).
pub const MAX_MISSED_FRAMES: u32 = 5;
/// Boxes of one face in consecutive frames overlap at least this much (IoU)...
const SAME_FACE_MIN_IOU: f32 = 0.3;
/// ...or one's centre lies in the other and their sides differ by at most this factor (a fast
/// move of a small face).
const SAME_FACE_MAX_SIDE_RATIO: f32 = 1.67;

/// A face found in this frame, with its id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackedDetection {
    pub id: u64,
    pub detection: Detection,
}

struct Track {
    id: u64,
    bbox: FaceBox,
    missed_frames: u32,
}

/// Keeps ids for faces from frame to frame.
#[derive(Default)]
pub struct Tracker {
    tracks: Vec<Track>,
    last_id: u64,
}

/// How alike two boxes are as one face in consecutive frames, if at all (higher: more alike).
pub(crate) fn likeness(a: &FaceBox, b: &FaceBox) -> Option<f32> {
    let iou = a.iou(b);
    if iou >= SAME_FACE_MIN_IOU {
        return Some(iou);
    }
    let inside =
        |outer: &FaceBox, point: (f32, f32)| point.0 >= outer.x && point.0 <= outer.x + outer.width && point.1 >= outer.y && point.1 <= outer.y + outer.height;
    let ratio = a.width.max(1e-3) / b.width.max(1e-3);
    let alike_size = (1.0 / SAME_FACE_MAX_SIDE_RATIO..=SAME_FACE_MAX_SIDE_RATIO).contains(&ratio);
    (alike_size && (inside(a, b.centre()) || inside(b, a.centre()))).then_some(iou)
}

impl Tracker {
    /// Forgets every face: the next faces get new ids (numbering goes on, so an id is never
    /// reused for another person).
    pub fn reset(&mut self) {
        self.tracks.clear();
    }

    /// Where the faces followed are (found in one of the last frames), to look near next.
    pub fn boxes(&self) -> Vec<FaceBox> {
        self.tracks.iter().map(|t| t.bbox).collect()
    }

    /// The faces found in the last frame, by id.
    pub fn found_in_last_frame(&self) -> impl Iterator<Item = (u64, FaceBox)> + '_ {
        self.tracks.iter().filter(|t| t.missed_frames == 0).map(|t| (t.id, t.bbox))
    }

    /// Whether a face followed was not found in the last frame.
    pub fn any_missed(&self) -> bool {
        self.tracks.iter().any(|t| t.missed_frames > 0)
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// This frame's detections, each with the id of the face it continues or a new one; the
    /// most alike pairs are matched first, each face and detection once.
    pub fn update(&mut self, detections: &[Detection]) -> Vec<TrackedDetection> {
        let mut pairs = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            for (d, detection) in detections.iter().enumerate() {
                if let Some(score) = likeness(&track.bbox, &detection.bbox) {
                    pairs.push((score, t, d));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of = vec![None; detections.len()];
        let mut track_taken = vec![false; self.tracks.len()];
        for (_, t, d) in pairs {
            if !track_taken[t] && track_of[d].is_none() {
                track_taken[t] = true;
                track_of[d] = Some(t);
            }
        }
        for (track, taken) in self.tracks.iter_mut().zip(&track_taken) {
            track.missed_frames = if *taken { 0 } else { track.missed_frames + 1 };
        }
        let mut found = Vec::with_capacity(detections.len());
        for (detection, track) in detections.iter().zip(track_of) {
            let id = match track {
                Some(t) => {
                    self.tracks[t].bbox = detection.bbox;
                    self.tracks[t].id
                }
                None => {
                    self.last_id += 1;
                    self.tracks.push(Track { id: self.last_id, bbox: detection.bbox, missed_frames: 0 });
                    self.last_id
                }
            };
            found.push(TrackedDetection { id, detection: *detection });
        }
        self.tracks.retain(|t| t.missed_frames <= MAX_MISSED_FRAMES);
        found.sort_by_key(|f| f.id);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, y: f32, side: f32) -> Detection {
        Detection { bbox: FaceBox { x, y, width: side, height: side }, score: 0.9, keypoints: None }
    }

    fn ids(found: &[TrackedDetection]) -> Vec<u64> {
        found.iter().map(|f| f.id).collect()
    }

    #[test]
    fn two_faces_moving_keep_their_ids() {
        let mut tracker = Tracker::default();
        assert_eq!(ids(&tracker.update(&[at(0.0, 0.0, 50.0), at(200.0, 0.0, 50.0)])), vec![1, 2]);
        for step in 1..30 {
            let dx = step as f32 * 2.0;
            // Given in the other order: matching is by place, not by position in the list.
            let found = tracker.update(&[at(200.0 - dx, 0.0, 50.0), at(dx, 0.0, 50.0)]);
            assert_eq!(found.len(), 2);
            assert_eq!(found[0].id, 1);
            assert!((found[0].detection.bbox.x - dx).abs() < 1e-3, "step {step}: {found:?}");
        }
    }

    #[test]
    fn a_face_missed_for_a_few_frames_keeps_its_id_and_one_gone_longer_does_not() {
        let mut tracker = Tracker::default();
        tracker.update(&[at(0.0, 0.0, 50.0)]);
        for _ in 0..MAX_MISSED_FRAMES {
            assert!(tracker.update(&[]).is_empty(), "nothing is reported for a face not found");
        }
        assert_eq!(ids(&tracker.update(&[at(2.0, 0.0, 50.0)])), vec![1]);
        for _ in 0..=MAX_MISSED_FRAMES {
            tracker.update(&[]);
        }
        assert_eq!(ids(&tracker.update(&[at(2.0, 0.0, 50.0)])), vec![2], "forgotten: a new id");
    }

    #[test]
    fn a_reset_ends_every_id_and_ids_are_never_reused() {
        let mut tracker = Tracker::default();
        tracker.update(&[at(0.0, 0.0, 50.0), at(100.0, 0.0, 50.0)]);
        tracker.reset();
        assert_eq!(ids(&tracker.update(&[at(0.0, 0.0, 50.0)])), vec![3]);
    }

    #[test]
    fn a_new_face_beside_a_known_one_gets_its_own_id() {
        let mut tracker = Tracker::default();
        tracker.update(&[at(0.0, 0.0, 50.0)]);
        let found = tracker.update(&[at(1.0, 0.0, 50.0), at(60.0, 0.0, 50.0)]);
        assert_eq!(ids(&found), vec![1, 2]);
        assert_eq!(found[0].detection.bbox.x, 1.0);
    }
}
