//! BlazeFace, MediaPipe's face detector, run in ONNX Runtime.
//!
//! Two models of MediaPipe's (`assets/blazeface/`, converted from the `mediapipe` 0.10.14 wheel
//! by `scripts/blazeface/convert.sh`; the NOTICE there says how): the full-range model sees the
//! picture at 192x192 and is made for faces up to about 5 m away; the short-range model sees
//! 128x128 and is made for faces near the camera (large in the picture, and soft ones, such as an
//! upscaled 48x48 FER-2013 face, which the full-range model misses half the time).
//!
//! A *pass* runs one model on one square region of the frame: the region is letterboxed into the
//! model's input as MediaPipe does it (aspect kept, black borders, sampled bilinearly by an affine
//! warp), the model scores one box per SSD anchor, and the boxes above the score threshold are
//! decoded into frame pixels, keypoints included. The pre- and post-processing follow MediaPipe's graphs
//! (`face_detection_full_range.pbtxt`, `face_detection_short_range.pbtxt`; numbers in
//! `assets/blazeface/README.md`); passes of one frame are merged by MediaPipe's weighted
//! non-maximum suppression (`detector::weighted_nms`).
//!
//! Where the passes go ([`BlazeFace`], the [`FaceDetector`]):
//! - the full scan: the whole frame with both models, and, where a face of the smallest size
//!   asked for (`--min-face`) would be under what one whole-frame pass sees
//!   ([`MIN_FACE_INPUT_FRACTION`] of its input), overlapping square tiles small enough that it is
//!   not; then a second look, one full-range pass on a square [`NEAR_REGION_SCALE`] times its
//!   side, at each new face of a video frame and at the weak finds of a still (`SecondLook`);
//! - following a known face: one short-range pass on a square [`FOLLOW_REGION_SCALE`] times the
//!   face's side, centred on it (the face then fills the part of the input the model was made
//!   for).

use std::path::{Path, PathBuf};

use opencv::core::{Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::vision::detect::DetectError;
use crate::vision::detector::{weighted_nms, Detection, FaceBox, FaceDetector, Keypoints, ScanPlan, NMS_MIN_IOU};
use crate::vision::tracker::likeness;

/// One of the two models and the numbers of its MediaPipe graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlazeFaceModel {
    FullRange,
    ShortRange,
}

impl BlazeFaceModel {
    pub fn file_name(self) -> &'static str {
        match self {
            Self::FullRange => "face_detection_full_range.onnx",
            Self::ShortRange => "face_detection_short_range.onnx",
        }
    }

    /// Side of the square input, in pixels.
    pub fn input_side_px(self) -> usize {
        match self {
            Self::FullRange => 192,
            Self::ShortRange => 128,
        }
    }

    /// The SSD anchor grid: (stride in input pixels, anchors per cell) per feature map, from the
    /// graphs' `SsdAnchorsCalculator` options (full range: one layer of stride 4; short range:
    /// strides 8, 16, 16, 16, two anchors per layer, the three stride-16 layers sharing a map).
    fn anchor_layers(self) -> &'static [(usize, usize)] {
        match self {
            Self::FullRange => &[(4, 1)],
            Self::ShortRange => &[(8, 2), (16, 6)],
        }
    }

    /// Lowest score kept before the merge (the graphs' `min_score_thresh`: 0.6 full range, 0.5
    /// short range), checked on `../shared/faces` with `emocam eval-detect` (README).
    fn min_score(self) -> f32 {
        match self {
            Self::FullRange => 0.6,
            Self::ShortRange => 0.5,
        }
    }
}

/// In a still, a face the short-range model finds on the whole picture is taken on its word
/// when at least this fraction of the picture's longer side: the faces near the camera it is
/// made for. Smaller ones need a second look (`full_scan`): on a group photo it gave a loose box
/// over two faces of a tenth of the side.
pub const SHORT_RANGE_ALONE_MIN_FRACTION: f32 = 0.2;

/// Anchor centres, in input fractions, in the order of the model's outputs (`fixed_anchor_size`:
/// every anchor is 1x1, so a box's size is the regressor's value over the input side).
fn anchors(model: BlazeFaceModel) -> Vec<(f32, f32)> {
    let side = model.input_side_px();
    let mut centres = Vec::new();
    for &(stride, per_cell) in model.anchor_layers() {
        let cells = side.div_ceil(stride);
        for y in 0..cells {
            for x in 0..cells {
                let centre = ((x as f32 + 0.5) / cells as f32, (y as f32 + 0.5) / cells as f32);
                centres.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    centres
}

/// The values per anchor in the regressor output: box centre x, y, width, height, then x, y of
/// six keypoints.
const COORDS_PER_ANCHOR: usize = 16;
/// Raw scores are clipped to this before the sigmoid (the graphs' `score_clipping_thresh`).
const SCORE_CLIP: f32 = 100.0;
/// The smallest face one pass finds reliably, as a fraction of the side of the square it sees
/// (the full-range model): each demo face, shrunk and pasted at 9 places in a grey frame, is
/// found at all 9 down to 1/12, at 8 of 9 at 1/14 and at 5-9 of 9 at 1/20 (the issue's own
/// measurement also gave about 1/12). `tests/integration/detection.rs` checks it.
pub const MIN_FACE_INPUT_FRACTION: f32 = 1.0 / 12.0;
/// In video, a face at least this fraction of the frame's shorter side is taken without a
/// second look (which would see about the whole frame again); see `SecondLook`.
pub const FILLS_THE_PICTURE_FRACTION: f32 = 0.5;
/// Following a face from frame to frame, the short-range model looks at a square this many
/// times its side around its last box.
pub const FOLLOW_REGION_SCALE: f32 = 2.5;
/// The second look: the full-range pass sees a square this many times the face's side (the
/// model is made for faces small in its picture: at 2.5x it missed faces in alternate frames).
pub const NEAR_REGION_SCALE: f32 = 4.0;
/// Tiles overlap by this many times the largest face they are there for, so that every such
/// face lies wholly inside at least one tile.
const TILE_OVERLAP_FACES: f32 = 2.0;
/// A tile's detection within this fraction of the tile's side of an edge the tile shares with
/// no frame edge is cut by the tile: the overlapping tile (or the whole frame) sees it whole.
const TILE_EDGE_MARGIN: f32 = 0.01;

/// One BlazeFace model, loaded.
struct Pass {
    model: BlazeFaceModel,
    session: Session,
    anchors: Vec<(f32, f32)>,
    path: PathBuf,
    /// The input tensor, NHWC RGB in -1..1, reused between passes.
    input: Vec<f32>,
    /// Scratch images reused between passes.
    resized: Mat,
    rgb: Mat,
}

impl Pass {
    fn load(dir: &Path, model: BlazeFaceModel) -> Result<Self, DetectError> {
        let path = dir.join(model.file_name());
        if !path.is_file() {
            return Err(DetectError::DetectorModelNotFound(path));
        }
        let env = crate::runtime::environment()?;
        let invalid = |source: ort::Error| DetectError::DetectorModel { path: path.clone(), source };
        let session = Session::builder(&env)
            .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Level3)?))
            .and_then(|b| Ok(b.with_intra_threads(1)?))
            .and_then(|mut b| b.commit_from_file(&path))
            .map_err(invalid)?;
        let mut pass = Self { model, session, anchors: anchors(model), path, input: Vec::new(), resized: Mat::default(), rgb: Mat::default() };
        // A blank run proves the graph has the outputs we read, with one row per anchor.
        let side = model.input_side_px() as i32;
        let blank = Mat::new_rows_cols_with_default(side, side, opencv::core::CV_8UC3, opencv::core::Scalar::all(0.0))?;
        pass.run(&blank, Rect::new(0, 0, side, side))?;
        Ok(pass)
    }

    /// Faces in `region` (clipped to the frame) of a BGR or grey frame, in frame pixels.
    fn run(&mut self, frame: &Mat, region: Rect) -> Result<Vec<Detection>, DetectError> {
        let visible = region & Rect::new(0, 0, frame.cols(), frame.rows());
        if visible.width < 2 || visible.height < 2 {
            return Ok(Vec::new());
        }
        // MediaPipe's letterbox, sampled as MediaPipe samples it (bilinear, no half-pixel
        // shift: the same input tensor to the bit): the region widened to a square of side
        // `square` centred on it, whatever lies outside the frame black.
        let side = self.model.input_side_px();
        let square = f64::from(region.width.max(region.height));
        let (left, top) =
            (f64::from(region.x) + f64::from(region.width) / 2.0 - square / 2.0, f64::from(region.y) + f64::from(region.height) / 2.0 - square / 2.0);
        let k = side as f64 / square;
        let to_input = Mat::from_slice_2d(&[[k, 0.0, -left * k], [0.0, k, -top * k]])?;
        let input_size = Size::new(side as i32, side as i32);
        imgproc::warp_affine(
            frame,
            &mut self.resized,
            &to_input,
            input_size,
            imgproc::INTER_LINEAR,
            opencv::core::BORDER_CONSTANT,
            opencv::core::Scalar::all(0.0),
        )?;
        let code = if self.resized.channels() == 1 { imgproc::COLOR_GRAY2RGB } else { imgproc::COLOR_BGR2RGB };
        imgproc::cvt_color(&self.resized, &mut self.rgb, code, 0)?;
        self.input.clear();
        // cvt_color writes a new, continuous image: its bytes are the NHWC tensor's order.
        self.input.extend(self.rgb.data_bytes()?.iter().map(|&pixel| f32::from(pixel) / 127.5 - 1.0));
        if self.input.len() != side * side * 3 {
            return Err(DetectError::OpenCv(opencv::Error::new(opencv::core::StsBadSize, "unexpected input image size".to_string())));
        }
        let failed = |source: ort::Error| DetectError::DetectorRun { path: self.path.clone(), source };
        let tensor = TensorRef::from_array_view(([1usize, side, side, 3], self.input.as_slice())).map_err(failed)?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(failed)?;
        // Told apart by shape, not position or name: converters order and name them differently.
        let mut regressors = None;
        let mut scores = None;
        for index in 0..outputs.len() {
            let (shape, data) = outputs[index].try_extract_tensor::<f32>().map_err(failed)?;
            match shape.last() {
                Some(&n) if n == COORDS_PER_ANCHOR as i64 => regressors = Some(data),
                Some(1) => scores = Some(data),
                _ => {}
            }
        }
        let anchors = self.anchors.len();
        let (Some(regressors), Some(scores)) = (regressors, scores) else {
            return Err(DetectError::DetectorOutputs(self.path.clone()));
        };
        if regressors.len() != anchors * COORDS_PER_ANCHOR || scores.len() != anchors {
            return Err(DetectError::DetectorOutputs(self.path.clone()));
        }
        // From input fractions to frame pixels.
        let (left, top, square) = (left as f32, top as f32, square as f32);
        let to_frame = |x: f32, y: f32| (left + x * square, top + y * square);
        let side_f = side as f32;
        let min_score = self.model.min_score();
        let mut found = Vec::new();
        for (anchor, (&raw_score, values)) in self.anchors.iter().zip(scores.iter().zip(regressors.chunks_exact(COORDS_PER_ANCHOR))) {
            let score = 1.0 / (1.0 + (-raw_score.clamp(-SCORE_CLIP, SCORE_CLIP)).exp());
            if score < min_score || !values.iter().all(|v| v.is_finite()) {
                continue;
            }
            let (cx, cy) = (values[0] / side_f + anchor.0, values[1] / side_f + anchor.1);
            let (w, h) = (values[2] / side_f, values[3] / side_f);
            if w <= 0.0 || h <= 0.0 {
                continue;
            }
            let (left, top) = to_frame(cx - w / 2.0, cy - h / 2.0);
            let (right, bottom) = to_frame(cx + w / 2.0, cy + h / 2.0);
            let mut points = [(0.0, 0.0); 6];
            for (k, point) in points.iter_mut().enumerate() {
                *point = to_frame(values[4 + 2 * k] / side_f + anchor.0, values[5 + 2 * k] / side_f + anchor.1);
            }
            found.push(Detection {
                bbox: FaceBox { x: left, y: top, width: right - left, height: bottom - top },
                score,
                keypoints: Some(Keypoints::from_points(points)),
            });
        }
        Ok(found)
    }
}

/// The squares a full scan of a `frame` looks at, besides the whole frame: none when the whole
/// frame already shows a face of `min_face_px` large enough, else overlapping tiles just small
/// enough that it does, covering the frame.
pub fn tiles(frame: Size, min_face_px: f32) -> Vec<Rect> {
    let longer = frame.width.max(frame.height) as f32;
    let tile_side = (min_face_px / MIN_FACE_INPUT_FRACTION).floor();
    if tile_side >= longer || tile_side < 1.0 {
        return Vec::new();
    }
    // The largest face a tile is there for is one the whole frame misses; tiles overlap by
    // enough for it to lie wholly inside one of them.
    let largest_face = longer * MIN_FACE_INPUT_FRACTION;
    let overlap = (largest_face * TILE_OVERLAP_FACES).min(tile_side / 2.0);
    let starts = |length: i32| -> Vec<i32> {
        let length = length as f32;
        if tile_side >= length {
            return vec![0];
        }
        let count = ((length - overlap) / (tile_side - overlap)).ceil() as i32;
        let step = (length - tile_side) / (count - 1).max(1) as f32;
        (0..count).map(|i| (i as f32 * step).round() as i32).collect()
    };
    let side = tile_side as i32;
    let mut squares = Vec::new();
    for y in starts(frame.height) {
        for x in starts(frame.width) {
            squares.push(Rect::new(x, y, side, side) & Rect::new(0, 0, frame.width, frame.height));
        }
    }
    squares
}

/// The square around `face` that a closer look sees.
fn near_region(face: &FaceBox, scale: f32) -> Rect {
    let side = face.width.max(face.height) * scale;
    let (cx, cy) = face.centre();
    Rect::new((cx - side / 2.0).round() as i32, (cy - side / 2.0).round() as i32, side.round() as i32, side.round() as i32)
}

/// Whether `found` touches an edge of `tile` that is not an edge of the frame (a face cut by
/// the tile).
fn cut_by_tile(found: &FaceBox, tile: Rect, frame: Size) -> bool {
    let margin = tile.width.max(tile.height) as f32 * TILE_EDGE_MARGIN;
    let (left, top, right, bottom) = (tile.x as f32, tile.y as f32, (tile.x + tile.width) as f32, (tile.y + tile.height) as f32);
    (tile.x > 0 && found.x < left + margin)
        || (tile.y > 0 && found.y < top + margin)
        || (tile.x + tile.width < frame.width && found.x + found.width > right - margin)
        || (tile.y + tile.height < frame.height && found.y + found.height > bottom - margin)
}

/// BlazeFace as a [`FaceDetector`]: both models, the passes of a full scan and those around
/// known faces.
pub struct BlazeFace {
    full_range: Pass,
    short_range: Pass,
}

impl BlazeFace {
    /// Loads both models from `dir` (the installed `assets/blazeface/` by default).
    pub fn load(dir: &Path) -> Result<Self, DetectError> {
        Ok(Self { full_range: Pass::load(dir, BlazeFaceModel::FullRange)?, short_range: Pass::load(dir, BlazeFaceModel::ShortRange)? })
    }

    pub fn load_default() -> Result<Self, DetectError> {
        Self::load(&crate::resources::blazeface_dir())
    }

    /// One pass of `model` over `region` (tests and measurements).
    pub fn run_pass(&mut self, model: BlazeFaceModel, frame: &Mat, region: Rect) -> Result<Vec<Detection>, DetectError> {
        match model {
            BlazeFaceModel::FullRange => self.full_range.run(frame, region),
            BlazeFaceModel::ShortRange => self.short_range.run(frame, region),
        }
    }
}

/// Which faces of a full scan must be found again by a second look: the full-range model on a
/// square `NEAR_REGION_SCALE` times the face's side around it, whose boxes replace the first.
#[derive(Clone, Copy)]
enum SecondLook<'a> {
    /// Stills: faces seen only where a pass is weak: in a tile (a magnified part of the picture,
    /// where texture passes for a small face now and then: a collar in the demo) or by the
    /// short-range model under `SHORT_RANGE_ALONE_MIN_FRACTION` of the picture. A face a
    /// whole-picture pass sees as its model is made to is taken, as MediaPipe takes it.
    ForWeakPasses,
    /// Video: every face not among these (the faces followed already), since a new face found
    /// here starts a track that later frames follow; except one that fills the picture
    /// (`FILLS_THE_PICTURE_FRACTION`): a closer look would see the same picture again, and
    /// there the short-range model is the one to trust. Without it, weak boxes on group scenes
    /// (a clock on the wall) were followed for seconds.
    ForNewFaces(&'a [FaceBox]),
}

impl BlazeFace {
    /// The whole frame with both models, and (with `small_faces`) tiles with the full-range
    /// model where faces of `min_face_px` are too small for the whole frame; merged, with second
    /// looks as asked.
    fn full_scan(&mut self, frame: &Mat, min_face_px: f32, small_faces: bool, second_look: SecondLook<'_>) -> Result<Vec<Detection>, DetectError> {
        let size = Size::new(frame.cols(), frame.rows());
        let whole = Rect::new(0, 0, size.width, size.height);
        let longer_side = size.width.max(size.height) as f32;
        let mut trusted = self.full_range.run(frame, whole)?;
        let mut weak = Vec::new();
        for face in self.short_range.run(frame, whole)? {
            if face.bbox.width.max(face.bbox.height) >= longer_side * SHORT_RANGE_ALONE_MIN_FRACTION {
                trusted.push(face);
            } else {
                weak.push(face);
            }
        }
        for tile in if small_faces { tiles(size, min_face_px) } else { Vec::new() } {
            weak.extend(self.full_range.run(frame, tile)?.into_iter().filter(|d| !cut_by_tile(&d.bbox, tile, size)));
        }
        let (trusted, to_look_again) = match second_look {
            SecondLook::ForWeakPasses => {
                let trusted = weighted_nms(trusted);
                let weak = weighted_nms(weak).into_iter().filter(|w| !trusted.iter().any(|t| t.bbox.iou(&w.bbox) > NMS_MIN_IOU)).collect();
                (trusted, weak)
            }
            SecondLook::ForNewFaces(known) => {
                let shorter_side = size.width.min(size.height) as f32;
                let fills_the_picture = |d: &Detection| d.bbox.width.max(d.bbox.height) >= shorter_side * FILLS_THE_PICTURE_FRACTION;
                let followed = |d: &Detection| known.iter().any(|k| likeness(k, &d.bbox).is_some());
                trusted.extend(weak);
                weighted_nms(trusted).into_iter().partition(|d| fills_the_picture(d) || followed(d))
            }
        };
        let mut found = trusted;
        for face in to_look_again {
            found.extend(self.full_range.run(frame, near_region(&face.bbox, NEAR_REGION_SCALE))?.into_iter().filter(|d| d.bbox.iou(&face.bbox) > NMS_MIN_IOU));
        }
        Ok(weighted_nms(found).into_iter().filter(|d| d.bbox.width.max(d.bbox.height) >= min_face_px).collect())
    }
}

impl FaceDetector for BlazeFace {
    fn detect_all(&mut self, frame: &Mat, plan: &ScanPlan) -> Result<Vec<Detection>, DetectError> {
        self.full_scan(frame, plan.min_face_px, plan.small_faces, SecondLook::ForNewFaces(&plan.known))
    }

    fn detect_in_still(&mut self, frame: &Mat, min_face_px: f32) -> Result<Vec<Detection>, DetectError> {
        self.full_scan(frame, min_face_px, true, SecondLook::ForWeakPasses)
    }

    fn detect_near(&mut self, frame: &Mat, around: &[FaceBox]) -> Result<Vec<Detection>, DetectError> {
        let mut found = Vec::new();
        for face in around {
            found.extend(self.short_range.run(frame, near_region(face, FOLLOW_REGION_SCALE))?);
        }
        Ok(weighted_nms(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_match_the_graphs_counts() {
        assert_eq!(anchors(BlazeFaceModel::FullRange).len(), 2304);
        assert_eq!(anchors(BlazeFaceModel::ShortRange).len(), 896);
        // The first anchor is the centre of the first cell; the short range's second map starts
        // after 16x16 cells of two anchors.
        assert_eq!(anchors(BlazeFaceModel::FullRange)[0], (0.5 / 48.0, 0.5 / 48.0));
        assert_eq!(anchors(BlazeFaceModel::ShortRange)[512], (0.5 / 8.0, 0.5 / 8.0));
    }

    #[test]
    fn tiles_cover_the_frame_only_where_the_whole_frame_is_too_coarse() {
        let frame = Size::new(1280, 720);
        // A face of 1/10 of the longer side is seen by the whole-frame pass.
        assert!(tiles(frame, 128.0).is_empty());
        let small = 40.0;
        let squares = tiles(frame, small);
        assert!(squares.len() > 1);
        for tile in &squares {
            assert!(small / tile.width.max(tile.height) as f32 >= MIN_FACE_INPUT_FRACTION - 1e-3, "{tile:?}");
        }
        // Every point of the frame lies in a tile.
        for y in (0..720).step_by(7) {
            for x in (0..1280).step_by(7) {
                assert!(squares.iter().any(|t| t.contains(opencv::core::Point::new(x, y))), "({x}, {y}) in no tile: {squares:?}");
            }
        }
    }

    #[test]
    fn a_face_cut_by_an_inner_tile_edge_is_left_to_another_tile() {
        let frame = Size::new(1000, 500);
        let tile = Rect::new(0, 0, 500, 500);
        assert!(cut_by_tile(&FaceBox { x: 480.0, y: 100.0, width: 40.0, height: 40.0 }, tile, frame));
        assert!(!cut_by_tile(&FaceBox { x: 0.0, y: 0.0, width: 40.0, height: 40.0 }, tile, frame), "the frame's own edges cut nothing");
    }
}
