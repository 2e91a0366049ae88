//! Stable ids for faces across frames, by box overlap.
//!
//! Faces move little between consecutive frames, so a greedy match on intersection-over-union
//! is enough; a track survives a few frames without a detection so that one missed frame does
//! not hand the face a new id.

use opencv::core::Rect;

/// Intersection over union of two boxes, 0 when they don't touch.
pub fn iou(a: Rect, b: Rect) -> f32 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.width).min(b.x + b.width);
    let y1 = (a.y + a.height).min(b.y + b.height);
    let inter = (x1 - x0).max(0) as i64 * (y1 - y0).max(0) as i64;
    let union = a.area() as i64 + b.area() as i64 - inter;
    if union <= 0 {
        0.0
    } else {
        inter as f32 / union as f32
    }
}

/// One tracked face.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    pub id: u64,
    pub bbox: Rect,
    /// Consecutive frames without a matching detection.
    pub missed_frames: u32,
    /// Frames with a matching detection since the track began.
    pub hits: u32,
}

/// Assigns track ids to detections frame after frame.
#[derive(Debug)]
pub struct Tracker {
    tracks: Vec<Track>,
    next_id: u64,
    min_iou: f32,
    max_missed_frames: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new(0.3, 5)
    }
}

impl Tracker {
    pub fn new(min_iou: f32, max_missed_frames: u32) -> Self {
        Self { tracks: Vec::new(), next_id: 1, min_iou, max_missed_frames }
    }

    /// Live tracks, including ones that missed the latest frames.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Matches this frame's detections to tracks and returns one track id per detection.
    pub fn update(&mut self, detections: &[Rect]) -> Vec<u64> {
        let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            for (d, det) in detections.iter().enumerate() {
                let overlap = iou(track.bbox, *det);
                if overlap >= self.min_iou {
                    candidates.push((overlap, t, d));
                }
            }
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));

        let mut ids: Vec<Option<u64>> = vec![None; detections.len()];
        let mut track_taken = vec![false; self.tracks.len()];
        for (_, t, d) in candidates {
            if track_taken[t] || ids[d].is_some() {
                continue;
            }
            track_taken[t] = true;
            ids[d] = Some(self.tracks[t].id);
            self.tracks[t].bbox = detections[d];
            self.tracks[t].missed_frames = 0;
            self.tracks[t].hits += 1;
        }
        for (t, taken) in track_taken.iter().enumerate() {
            if !taken {
                self.tracks[t].missed_frames += 1;
            }
        }
        let max_missed = self.max_missed_frames;
        self.tracks.retain(|track| track.missed_frames <= max_missed);

        ids.into_iter()
            .zip(detections)
            .map(|(id, det)| {
                id.unwrap_or_else(|| {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.tracks.push(Track { id, bbox: *det, missed_frames: 0, hits: 1 });
                    id
                })
            })
            .collect()
    }

    pub fn track(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Forgets every track (a new source, say).
    pub fn reset(&mut self) {
        self.tracks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: i32, y: i32, w: i32, h: i32) -> Rect {
        Rect::new(x, y, w, h)
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        assert_eq!(iou(r(0, 0, 10, 10), r(0, 0, 10, 10)), 1.0);
        assert_eq!(iou(r(0, 0, 10, 10), r(20, 20, 10, 10)), 0.0);
        let half = iou(r(0, 0, 10, 10), r(5, 0, 10, 10));
        assert!((half - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn a_moving_face_keeps_its_id() {
        let mut tracker = Tracker::default();
        let first = tracker.update(&[r(100, 100, 80, 80)])[0];
        for step in 1..20 {
            let ids = tracker.update(&[r(100 + step * 4, 100 + step * 2, 80, 80)]);
            assert_eq!(ids, vec![first]);
        }
    }

    #[test]
    fn two_faces_get_distinct_ids_that_follow_them() {
        let mut tracker = Tracker::default();
        let ids = tracker.update(&[r(0, 0, 50, 50), r(300, 0, 50, 50)]);
        assert_ne!(ids[0], ids[1]);
        // Same faces, listed in the other order.
        let swapped = tracker.update(&[r(302, 2, 50, 50), r(2, 2, 50, 50)]);
        assert_eq!(swapped, vec![ids[1], ids[0]]);
    }

    #[test]
    fn a_short_gap_keeps_the_id_and_a_long_one_does_not() {
        let mut tracker = Tracker::new(0.3, 2);
        let id = tracker.update(&[r(10, 10, 40, 40)])[0];
        tracker.update(&[]);
        tracker.update(&[]);
        assert_eq!(tracker.update(&[r(12, 10, 40, 40)]), vec![id]);
        for _ in 0..3 {
            tracker.update(&[]);
        }
        assert!(tracker.tracks().is_empty());
        assert_ne!(tracker.update(&[r(12, 10, 40, 40)]), vec![id]);
    }

    #[test]
    fn hits_count_matched_frames() {
        let mut tracker = Tracker::default();
        let id = tracker.update(&[r(0, 0, 40, 40)])[0];
        assert_eq!(tracker.track(id).map(|t| t.hits), Some(1));
        tracker.update(&[r(1, 0, 40, 40)]);
        tracker.update(&[]);
        tracker.update(&[r(2, 0, 40, 40)]);
        assert_eq!(tracker.track(id).map(|t| t.hits), Some(3));
    }

    #[test]
    fn a_jump_far_away_is_a_new_face() {
        let mut tracker = Tracker::default();
        let id = tracker.update(&[r(0, 0, 40, 40)])[0];
        assert_ne!(tracker.update(&[r(400, 300, 40, 40)])[0], id);
    }
}
