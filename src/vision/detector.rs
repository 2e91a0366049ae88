//! What a face detector gives, whichever it is: [`Detection`]s in frame pixels, and the
//! [`FaceDetector`] trait that BlazeFace (`blazeface`), plain Haar (`cascade`) and the tests'
//! scripted detector implement. Tracking (`tracker`) and the choice of where to look
//! (`learned`) are apart from it.

use opencv::core::{Mat, Rect};

use crate::vision::detect::DetectError;

/// A box in frame pixels, with fractions (detectors place faces finer than a pixel).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl FaceBox {
    pub fn centre(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union (0 for boxes that do not meet).
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = (self.x + self.width).min(other.x + other.width);
        let bottom = (self.y + self.height).min(other.y + other.height);
        let inter = (right - left).max(0.0) * (bottom - top).max(0.0);
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    /// The whole-pixel box that covers the same face (rounded to the nearest pixel).
    pub fn to_rect(&self) -> Rect {
        let left = self.x.round() as i32;
        let top = self.y.round() as i32;
        Rect::new(left, top, ((self.x + self.width).round() as i32 - left).max(1), ((self.y + self.height).round() as i32 - top).max(1))
    }

    pub fn from_rect(rect: Rect) -> Self {
        Self { x: rect.x as f32, y: rect.y as f32, width: rect.width as f32, height: rect.height as f32 }
    }
}

/// The six face keypoints of BlazeFace, in frame pixels, in MediaPipe's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Keypoints {
    /// The person's right eye (on the left of an unmirrored picture).
    pub right_eye: (f32, f32),
    pub left_eye: (f32, f32),
    pub nose_tip: (f32, f32),
    pub mouth: (f32, f32),
    pub right_ear: (f32, f32),
    pub left_ear: (f32, f32),
}

impl Keypoints {
    pub fn from_points(points: [(f32, f32); 6]) -> Self {
        let [right_eye, left_eye, nose_tip, mouth, right_ear, left_ear] = points;
        Self { right_eye, left_eye, nose_tip, mouth, right_ear, left_ear }
    }

    pub fn points(&self) -> [(f32, f32); 6] {
        [self.right_eye, self.left_eye, self.nose_tip, self.mouth, self.right_ear, self.left_ear]
    }
}

/// A face found in one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub bbox: FaceBox,
    /// The detector's confidence, 0-1 (Haar, which has none, gives 1).
    pub score: f32,
    /// Eyes, nose, mouth and ears, where the detector finds them (BlazeFace does, Haar does not).
    pub keypoints: Option<Keypoints>,
}

/// What a full scan is asked to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanPlan {
    /// The smallest face looked for, in pixels.
    pub min_face_px: f32,
    /// The faces already followed, which a detector may take without the checks it gives a new
    /// face.
    pub known: Vec<FaceBox>,
    /// Whether to look for faces too small for one look at the whole frame (BlazeFace's tiles);
    /// a scan without leaves those to the next that has it.
    pub small_faces: bool,
}

impl ScanPlan {
    /// Every face of at least `min_face_px`, none known.
    pub fn everything(min_face_px: f32) -> Self {
        Self { min_face_px, known: Vec::new(), small_faces: true }
    }
}

/// A face detector: where faces are in one frame, nothing carried over between frames (ids and
/// the choice of where to look belong to the tracker and the finder).
pub trait FaceDetector: Send {
    /// Every face in a BGR (or grey) frame as `plan` asks: the full scan.
    fn detect_all(&mut self, frame: &Mat, plan: &ScanPlan) -> Result<Vec<Detection>, DetectError>;

    /// Every face in a still image: the full scan, where a detector may take more on one
    /// model's word, since nothing found is carried into later frames.
    fn detect_in_still(&mut self, frame: &Mat, min_face_px: f32) -> Result<Vec<Detection>, DetectError> {
        self.detect_all(frame, &ScanPlan::everything(min_face_px))
    }

    /// Faces near each box of `around` (faces of the frame before): the cheap look that follows
    /// known faces from frame to frame. A face not near any of them need not be found.
    fn detect_near(&mut self, frame: &Mat, around: &[FaceBox]) -> Result<Vec<Detection>, DetectError>;
}

/// Boxes of one face overlap more than this (IoU) and are merged (the graphs' NMS setting).
pub const NMS_MIN_IOU: f32 = 0.3;

/// MediaPipe's weighted non-maximum suppression: from the best-scoring box down, every box that
/// overlaps it by more than [`NMS_MIN_IOU`] is merged into it, box and keypoints averaged with
/// the scores as weights (steadier than keeping the best box alone); the score stays the best.
pub fn weighted_nms(mut detections: Vec<Detection>) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut merged = Vec::new();
    while let Some(best) = detections.first().copied() {
        let (cluster, rest): (Vec<Detection>, Vec<Detection>) = detections.into_iter().partition(|d| d.bbox.iou(&best.bbox) > NMS_MIN_IOU);
        detections = rest;
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mean = |value: &dyn Fn(&Detection) -> f32| cluster.iter().map(|d| value(d) * d.score).sum::<f32>() / total;
        let (left, top) = (mean(&|d| d.bbox.x), mean(&|d| d.bbox.y));
        let (right, bottom) = (mean(&|d| d.bbox.x + d.bbox.width), mean(&|d| d.bbox.y + d.bbox.height));
        let keypoints = if cluster.iter().all(|d| d.keypoints.is_some()) {
            let mut points = [(0.0, 0.0); 6];
            for (k, point) in points.iter_mut().enumerate() {
                let of = |d: &Detection| d.keypoints.map(|p| p.points()[k]).unwrap_or_default();
                *point = (mean(&|d| of(d).0), mean(&|d| of(d).1));
            }
            Some(Keypoints::from_points(points))
        } else {
            best.keypoints
        };
        merged.push(Detection { bbox: FaceBox { x: left, y: top, width: right - left, height: bottom - top }, score: best.score, keypoints });
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(x: f32, score: f32) -> Detection {
        Detection { bbox: FaceBox { x, y: 0.0, width: 10.0, height: 10.0 }, score, keypoints: None }
    }

    #[test]
    fn weighted_nms_averages_overlapping_boxes_by_score_and_keeps_the_others() {
        let merged = weighted_nms(vec![detection(0.0, 0.9), detection(2.0, 0.3), detection(50.0, 0.8)]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].score, 0.9);
        assert!((merged[0].bbox.x - 0.5).abs() < 1e-5, "{:?}", merged[0]);
        assert_eq!(merged[1].bbox.x, 50.0);
    }

    #[test]
    fn iou_of_equal_disjoint_and_half_overlapping_boxes() {
        let a = FaceBox { x: 0.0, y: 0.0, width: 10.0, height: 10.0 };
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&FaceBox { x: 20.0, ..a }), 0.0);
        let half = FaceBox { x: 5.0, ..a };
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn rect_rounds_the_edges() {
        let b = FaceBox { x: 1.4, y: 2.6, width: 10.2, height: 9.9 };
        assert_eq!(b.to_rect(), Rect::new(1, 3, 11, 10));
    }
}
