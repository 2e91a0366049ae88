//! Face-detection recall and false faces against annotated photos (`emocam eval-detect`).
//!
//! The photos of a folder with a `faces.json` (`{ "<file>": [[x, y, w, h], ...] }`) are scored
//! as stills and as clips rendered from them (each photo scaled to the frame height, slowly
//! zoomed and panned, its boxes moved with it), for emocam's tracked detector and for plain
//! OpenCV Haar on every frame with the same cascade and settings, on the same frames in the same
//! run. A found box is a true face when its IoU with an annotated box is at least 0.25, or its
//! centre lies inside the annotated box and its side is 0.5-2.5x the annotated side; each
//! annotated face is matched once, and every other found box is a false face.

use std::path::{Path, PathBuf};
use std::time::Instant;

use opencv::core::{Mat, Rect, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::source::{read_image, SourceError};
use crate::vision::cascade::PlainHaar;
use crate::vision::detect::{DetectError, DetectorKind, DetectorSettings, FaceFinder};
use crate::vision::detector::{FaceDetector, ScanPlan};
use crate::vision::face::to_grey;
use crate::vision::overlap::iou;

/// The annotation file in a folder of annotated photos.
pub const ANNOTATIONS_FILE: &str = "faces.json";
/// An annotated face counts (must be found) when at least this much of it is inside the frame;
/// faces cut further by the frame's edge are neither required nor counted false when found.
const MIN_VISIBLE_FRACTION: f64 = 0.8;
/// Grey of the frame outside the photo (a photo narrower than the frame is pillarboxed).
const BACKGROUND_GREY: f64 = 96.0;

/// Why an evaluation can't run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}")]
    ReadAnnotations {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a face annotation file ({{\"photo.jpg\": [[x, y, w, h], ...]}})")]
    ParseAnnotations {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0} names no photos")]
    NoPhotos(PathBuf),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error("image processing failed")]
    OpenCv(#[from] opencv::Error),
}

/// A photo and its annotated face boxes, in the photo's pixels.
pub struct AnnotatedPhoto {
    pub image: Mat,
    pub faces: Vec<Rect>,
}

/// Reads `dir/faces.json` and the photos it names (in file-name order).
pub fn load_annotated_photos(dir: &Path) -> Result<Vec<AnnotatedPhoto>, EvalError> {
    let path = dir.join(ANNOTATIONS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| EvalError::ReadAnnotations { path: path.clone(), source })?;
    let boxes: std::collections::BTreeMap<String, Vec<[i32; 4]>> =
        serde_json::from_str(&text).map_err(|source| EvalError::ParseAnnotations { path: path.clone(), source })?;
    if boxes.is_empty() {
        return Err(EvalError::NoPhotos(path));
    }
    boxes
        .into_iter()
        .map(|(file, faces)| {
            let path = dir.join(file);
            let image = read_image(&path)?;
            Ok(AnnotatedPhoto { image, faces: faces.iter().map(|&[x, y, w, h]| Rect::new(x, y, w, h)).collect() })
        })
        .collect()
}

/// A rendered frame and the annotated faces in it, in frame pixels.
pub struct AnnotatedFrame {
    pub image: Mat,
    /// Faces that must be found.
    pub faces: Vec<Rect>,
    /// Faces cut by the frame's edge: finding them is neither required nor false.
    pub partial_faces: Vec<Rect>,
}

/// Frame `index` of `frames` of a slow camera move over `photo`: scaled to the frame height,
/// zoomed in by up to 15% and back, and panned across what does not fit (plus a small drift).
pub fn render_frame(photo: &AnnotatedPhoto, frame_size: Size, index: u32, frames: u32) -> Result<AnnotatedFrame, EvalError> {
    let t = f64::from(index) / f64::from(frames.max(1));
    let (photo_w, photo_h) = (f64::from(photo.image.cols()), f64::from(photo.image.rows()));
    let (frame_w, frame_h) = (f64::from(frame_size.width), f64::from(frame_size.height));
    let scale = frame_h / photo_h * (1.0 + 0.15 * (t * std::f64::consts::PI).sin());
    let (shown_w, shown_h) = (photo_w * scale, photo_h * scale);
    // Pan over the part that does not fit, and drift by 4% of the frame where everything fits.
    let pan = |shown: f64, frame: f64| (shown - frame).abs() / 2.0 + 0.04 * frame;
    let dx = pan(shown_w, frame_w) * (t * 2.0 * std::f64::consts::PI).sin();
    let dy = pan(shown_h, frame_h) * (t * std::f64::consts::PI).cos();
    let offset_x = (frame_w - shown_w) / 2.0 + dx;
    let offset_y = (frame_h - shown_h) / 2.0 + dy;

    let transform = Mat::from_slice_2d(&[[scale, 0.0, offset_x], [0.0, scale, offset_y]])?;
    let mut image = Mat::default();
    imgproc::warp_affine(&photo.image, &mut image, &transform, frame_size, imgproc::INTER_AREA, opencv::core::BORDER_CONSTANT, Scalar::all(BACKGROUND_GREY))?;
    let frame = Rect::new(0, 0, frame_size.width, frame_size.height);
    let mut faces = Vec::new();
    let mut partial_faces = Vec::new();
    for face in &photo.faces {
        let moved = Rect::new(
            (f64::from(face.x) * scale + offset_x).round() as i32,
            (f64::from(face.y) * scale + offset_y).round() as i32,
            (f64::from(face.width) * scale).round() as i32,
            (f64::from(face.height) * scale).round() as i32,
        );
        let visible = f64::from((moved & frame).area()) / f64::from(moved.area().max(1));
        if visible >= MIN_VISIBLE_FRACTION {
            faces.push(moved);
        } else if visible > 0.0 {
            partial_faces.push(moved);
        }
    }
    Ok(AnnotatedFrame { image, faces, partial_faces })
}

/// Whether a found box counts as the annotated face (the rule of `../shared/faces/README.md`).
pub fn is_match(found: Rect, annotated: Rect) -> bool {
    if iou(found, annotated) >= 0.25 {
        return true;
    }
    let centre = opencv::core::Point::new(found.x + found.width / 2, found.y + found.height / 2);
    let side_ratio = f64::from(found.width.max(found.height)) / f64::from(annotated.width.max(annotated.height).max(1));
    annotated.contains(centre) && (0.5..=2.5).contains(&side_ratio)
}

/// Counts over frames: annotated faces, those found, and false faces.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Score {
    pub frames: u64,
    pub faces: u64,
    pub found: u64,
    pub false_faces: u64,
    /// Seconds spent detecting (grey conversion included).
    pub detect_seconds: f64,
}

impl Score {
    pub fn recall(&self) -> f64 {
        if self.faces == 0 {
            0.0
        } else {
            self.found as f64 / self.faces as f64
        }
    }

    pub fn false_faces_per_frame(&self) -> f64 {
        self.false_faces as f64 / self.frames.max(1) as f64
    }

    pub fn frames_per_second(&self) -> f64 {
        self.frames as f64 / self.detect_seconds.max(1e-9)
    }

    /// Scores one frame's found boxes, each annotated face matched at most once (best IoU first).
    pub fn add_frame(&mut self, found: &[Rect], frame: &AnnotatedFrame) {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (f, &found_box) in found.iter().enumerate() {
            for (a, &face) in frame.faces.iter().enumerate() {
                if is_match(found_box, face) {
                    pairs.push((iou(found_box, face), f, a));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut found_used = vec![false; found.len()];
        let mut face_used = vec![false; frame.faces.len()];
        for (_, f, a) in pairs {
            if !found_used[f] && !face_used[a] {
                found_used[f] = true;
                face_used[a] = true;
            }
        }
        let false_faces =
            found.iter().zip(&found_used).filter(|&(&found_box, &used)| !used && !frame.partial_faces.iter().any(|&face| is_match(found_box, face))).count();
        self.frames += 1;
        self.faces += frame.faces.len() as u64;
        self.found += face_used.iter().filter(|&&used| used).count() as u64;
        self.false_faces += false_faces as u64;
    }
}

/// The scores of each detector on the same frames: emocam with BlazeFace and with Haar (each
/// `None` when `eval-detect --detector` picked the other), and plain OpenCV Haar on every frame
/// (the same cascade, scale step, neighbours and minimum face as the Haar finder), always.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Comparison {
    pub blazeface: Option<Score>,
    pub haar: Option<Score>,
    pub plain_haar: Score,
}

/// The finders scored, each with its settings: both detectors, or the one `only` names.
fn finders(settings: &DetectorSettings, only: Option<DetectorKind>) -> Result<Vec<(DetectorKind, FaceFinder)>, DetectError> {
    DetectorKind::ALL
        .into_iter()
        .filter(|kind| only.is_none_or(|only| only == *kind))
        .map(|kind| Ok((kind, FaceFinder::new(DetectorSettings { detector: kind, ..settings.clone() })?)))
        .collect()
}

/// Where a finder's score goes.
fn score_of(comparison: &mut Comparison, kind: DetectorKind) -> &mut Score {
    let slot = match kind {
        DetectorKind::Blazeface => &mut comparison.blazeface,
        DetectorKind::Haar => &mut comparison.haar,
    };
    slot.get_or_insert_with(Score::default)
}

/// Each detector on each photo as a still image.
pub fn evaluate_stills(photos: &[AnnotatedPhoto], settings: &DetectorSettings, only: Option<DetectorKind>) -> Result<Comparison, EvalError> {
    let mut finders = finders(settings, only)?;
    let mut plain = PlainHaar::new(settings)?;
    let mut result = Comparison::default();
    for photo in photos {
        let frame = AnnotatedFrame { image: photo.image.clone(), faces: photo.faces.clone(), partial_faces: Vec::new() };
        for (kind, finder) in &mut finders {
            score_one(score_of(&mut result, *kind), &frame, |image, grey| finder.find_in_still(image, grey))?;
        }
        score_plain(&mut result.plain_haar, &frame, &mut plain, settings)?;
    }
    Ok(result)
}

/// Each detector on a clip of `frames_per_photo` frames per photo, one photo after the other
/// (scene cuts between them), at `frame_size`.
pub fn evaluate_clip(
    photos: &[AnnotatedPhoto],
    settings: &DetectorSettings,
    only: Option<DetectorKind>,
    frame_size: Size,
    frames_per_photo: u32,
) -> Result<Comparison, EvalError> {
    let mut finders = finders(settings, only)?;
    let mut plain = PlainHaar::new(settings)?;
    let mut result = Comparison::default();
    for frame in clip_frames(photos, frame_size, frames_per_photo) {
        let frame = frame?;
        for (kind, finder) in &mut finders {
            score_one(score_of(&mut result, *kind), &frame, |image, grey| finder.find(image, grey))?;
        }
        score_plain(&mut result.plain_haar, &frame, &mut plain, settings)?;
    }
    Ok(result)
}

/// The clip's frames: `frames_per_photo` of each photo, one photo after the other.
pub fn clip_frames(photos: &[AnnotatedPhoto], frame_size: Size, frames_per_photo: u32) -> impl Iterator<Item = Result<AnnotatedFrame, EvalError>> + '_ {
    photos.iter().flat_map(move |photo| (0..frames_per_photo).map(move |index| render_frame(photo, frame_size, index, frames_per_photo)))
}

/// The frame rate of written clips: a webcam's.
pub const CLIP_FPS: f64 = 30.0;

/// Times `find` (the boxes one detector finds in `frame`) and scores its boxes.
fn score_timed(score: &mut Score, frame: &AnnotatedFrame, find: impl FnOnce() -> Result<Vec<Rect>, EvalError>) -> Result<(), EvalError> {
    let started = Instant::now();
    let found = find()?;
    score.detect_seconds += started.elapsed().as_secs_f64();
    score.add_frame(&found, frame);
    Ok(())
}

/// Scores one finder (`find`, given the frame and its grey) on one frame (grey conversion
/// included in the time).
fn score_one(
    score: &mut Score,
    frame: &AnnotatedFrame,
    mut find: impl FnMut(&Mat, &Mat) -> Result<Vec<crate::vision::detect::FoundFace>, DetectError>,
) -> Result<(), EvalError> {
    score_timed(score, frame, || Ok(find(&frame.image, &to_grey(&frame.image)?)?.iter().map(|f| f.bbox).collect()))
}

/// The same for plain Haar, whose smallest face is the setting's fraction of the frame alone.
fn score_plain(score: &mut Score, frame: &AnnotatedFrame, plain: &mut PlainHaar, settings: &DetectorSettings) -> Result<(), EvalError> {
    score_timed(score, frame, || {
        let min_face_px = settings.min_face_px(Size::new(frame.image.cols(), frame.image.rows()), 0.0);
        Ok(plain.detect_all(&frame.image, &ScanPlan::everything(min_face_px))?.iter().map(|d| d.bbox.to_rect()).collect())
    })
}

/// Everything `emocam eval-detect` measured.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub photos: usize,
    pub stills: Comparison,
    pub clips: Vec<ClipReport>,
}

#[derive(Debug, serde::Serialize)]
pub struct ClipReport {
    pub width: i32,
    pub height: i32,
    pub frames_per_photo: u32,
    #[serde(flatten)]
    pub comparison: Comparison,
}

/// Scores stills and a clip at each of `frame_sizes`.
pub fn evaluate(dir: &Path, settings: &DetectorSettings, only: Option<DetectorKind>, frame_sizes: &[Size], frames_per_photo: u32) -> Result<Report, EvalError> {
    let photos = load_annotated_photos(dir)?;
    let stills = evaluate_stills(&photos, settings, only)?;
    let clips = frame_sizes
        .iter()
        .map(|&size| {
            Ok(ClipReport {
                width: size.width,
                height: size.height,
                frames_per_photo,
                comparison: evaluate_clip(&photos, settings, only, size, frames_per_photo)?,
            })
        })
        .collect::<Result<_, EvalError>>()?;
    Ok(Report { photos: photos.len(), stills, clips })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<34} {:>7} {:>12} {:>10}", "", "recall", "false/frame", "frames/s")?;
        let section = |f: &mut std::fmt::Formatter<'_>, title: String, c: &Comparison| -> std::fmt::Result {
            writeln!(f, "{title}")?;
            let rows = [("emocam, BlazeFace", c.blazeface.as_ref()), ("emocam, Haar", c.haar.as_ref()), ("plain Haar, every frame", Some(&c.plain_haar))];
            for (name, s) in rows.into_iter().filter_map(|(name, s)| Some((name, s?))) {
                writeln!(
                    f,
                    "  {name:<32} {:>7.3} {:>12.3} {:>10.1}   ({} of {} faces, {} false; {:.1}x plain Haar's speed)",
                    s.recall(),
                    s.false_faces_per_frame(),
                    s.frames_per_second(),
                    s.found,
                    s.faces,
                    s.false_faces,
                    s.frames_per_second() / c.plain_haar.frames_per_second().max(1e-9)
                )?;
            }
            Ok(())
        };
        section(f, format!("{} photos as stills", self.photos), &self.stills)?;
        for clip in &self.clips {
            section(f, format!("clip {}x{}, {} frames per photo", clip.width, clip.height, clip.frames_per_photo), &clip.comparison)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with(faces: Vec<Rect>, partial_faces: Vec<Rect>) -> AnnotatedFrame {
        AnnotatedFrame { image: Mat::default(), faces, partial_faces }
    }

    #[test]
    fn matching_follows_the_annotation_rule() {
        let face = Rect::new(100, 100, 40, 40);
        assert!(is_match(Rect::new(105, 105, 40, 40), face), "large overlap");
        // A loose Haar box twice the side, centred on the face: IoU 0.25 exactly, and centre inside.
        assert!(is_match(Rect::new(80, 80, 80, 80), face));
        // Centre inside but far too large or too small.
        assert!(!is_match(Rect::new(20, 20, 200, 200), face));
        assert!(!is_match(Rect::new(118, 118, 4, 4), face));
        assert!(!is_match(Rect::new(200, 200, 40, 40), face), "elsewhere");
    }

    #[test]
    fn each_face_is_found_once_and_the_rest_are_false() {
        let faces = vec![Rect::new(0, 0, 40, 40), Rect::new(100, 0, 40, 40)];
        let partial = vec![Rect::new(300, 0, 40, 40)];
        let mut score = Score::default();
        // Two boxes on the first face (one counts, one is false), one on a partial face (neither),
        // one on nothing (false); the second face is missed.
        let found = [Rect::new(2, 2, 40, 40), Rect::new(0, 0, 44, 44), Rect::new(301, 0, 40, 40), Rect::new(200, 200, 30, 30)];
        score.add_frame(&found, &frame_with(faces, partial));
        assert_eq!((score.frames, score.faces, score.found, score.false_faces), (1, 2, 1, 2));
        assert_eq!(score.recall(), 0.5);
    }

    #[test]
    fn rendered_boxes_follow_the_photo() {
        // A white square on black: its annotated box must stay on the white pixels in every frame.
        let mut image = Mat::new_rows_cols_with_default(300, 400, opencv::core::CV_8UC3, Scalar::all(0.0)).expect("image");
        let square = Rect::new(150, 100, 60, 60);
        imgproc::rectangle(&mut image, square, Scalar::all(255.0), imgproc::FILLED, imgproc::LINE_8, 0).expect("draw");
        let photo = AnnotatedPhoto { image, faces: vec![square] };
        for size in [Size::new(640, 480), Size::new(1280, 720)] {
            for index in [0, 17, 29, 45] {
                let frame = render_frame(&photo, size, index, 60).expect("render");
                assert_eq!(frame.image.size().expect("size"), size);
                assert_eq!(frame.faces.len(), 1, "frame {index} at {size:?}");
                let face = frame.faces[0];
                let inner = Rect::new(face.x + 3, face.y + 3, face.width - 6, face.height - 6);
                let mean = opencv::core::mean(&Mat::roi(&frame.image, inner).expect("roi"), &opencv::core::no_array()).expect("mean");
                assert!(mean[0] > 240.0, "frame {index} at {size:?}: box {face:?} is not on the square (mean {})", mean[0]);
            }
        }
    }
}
