//! Drawing results onto frames: a box per face, its top emotion, and a bar per emotion.
//!
//! The analyzer's annotated output and the app's screenshots both come from [`annotate`], so a
//! screenshot looks exactly like `emocam analyze --annotate` output.

use opencv::core::{Mat, Point, Rect, Scalar};
use opencv::imgproc;
use opencv::prelude::*;

use crate::inference::scores::top;
use crate::output::layout::{layout_faces, FaceToPlace, LayoutSizes};
use crate::pipeline::FaceResult;

/// A face to draw: its box (frame pixels), track id and probabilities in label order.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceAnnotation<'a> {
    pub track_id: u64,
    pub bbox: Rect,
    pub probabilities: &'a [f32],
}

impl<'a> From<&'a FaceResult> for FaceAnnotation<'a> {
    fn from(face: &'a FaceResult) -> Self {
        Self { track_id: face.track_id, bbox: face.bbox, probabilities: &face.probabilities }
    }
}

/// The colour (RGB) of each emotion, by name, so that "happy" looks the same in a 6- and a
/// 7-class model: the Okabe–Ito colours, told apart by people with the common colour-vision
/// deficiencies too (and neutral grey). The app uses the same table.
const EMOTION_COLORS_RGB: [(&str, [u8; 3]); 7] = [
    ("angry", [213, 94, 0]),      // vermillion
    ("disgust", [0, 158, 115]),   // bluish green
    ("fear", [204, 121, 167]),    // reddish purple
    ("happy", [240, 228, 66]),    // yellow
    ("sad", [0, 114, 178]),       // blue
    ("surprise", [230, 159, 0]),  // orange
    ("neutral", [200, 200, 200]), // light grey
];

/// Colours for labels that are not one of the seven emotions, by position.
const OTHER_COLORS_RGB: [[u8; 3]; 3] = [[86, 180, 233], [255, 255, 255], [120, 90, 60]];

/// The colour (BGR, OpenCV's order) of label `index` of `labels`.
pub fn label_color_bgr(labels: &[String], index: usize) -> [u8; 3] {
    let [r, g, b] = label_color_rgb(labels, index);
    [b, g, r]
}

/// The colour (RGB) of label `index` of `labels`.
pub fn label_color_rgb(labels: &[String], index: usize) -> [u8; 3] {
    let name = labels.get(index).map(|l| l.trim().to_lowercase()).unwrap_or_default();
    EMOTION_COLORS_RGB.iter().find(|(emotion, _)| *emotion == name).map(|(_, rgb)| *rgb).unwrap_or(OTHER_COLORS_RGB[index % OTHER_COLORS_RGB.len()])
}

fn scalar(bgr: [u8; 3]) -> Scalar {
    Scalar::new(bgr[0] as f64, bgr[1] as f64, bgr[2] as f64, 0.0)
}

/// Draws every face onto `frame` (BGR, modified in place), titles and bar panels placed by
/// [`layout_faces`] so that none covers another face.
pub fn annotate(frame: &mut Mat, faces: &[FaceAnnotation<'_>], labels: &[String]) -> opencv::Result<()> {
    let bounds = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(frame.cols() as f32, frame.rows() as f32));
    // Sizes follow the frame so that 4K screenshots and 480p previews look alike.
    let unit = (frame.cols().min(frame.rows()) as f64 / 480.0).max(0.5);
    let thickness = (2.0 * unit).round().max(1.0) as i32;
    let font = imgproc::FONT_HERSHEY_SIMPLEX;
    let font_scale = 0.5 * unit;
    let pad = (3.0 * unit) as i32;

    let mut shown = Vec::new();
    let mut places = Vec::new();
    for face in faces {
        let Some((best, confidence)) = top(face.probabilities) else { continue };
        let name = labels.get(best).map(String::as_str).unwrap_or("?");
        let title = format!("#{} {} {:.0}%", face.track_id, name, confidence * 100.0);
        let mut baseline = 0;
        let text = imgproc::get_text_size(&title, font, font_scale, thickness, &mut baseline)?;
        let title_size = egui::vec2((text.width + 2 * pad) as f32, (text.height + 2 * pad + baseline) as f32);
        places.push(FaceToPlace { bbox: to_layout_rect(face.bbox), title: title_size });
        shown.push((face, best, title, text.height));
    }
    let rows = shown.iter().map(|(face, ..)| face.probabilities.len()).max().unwrap_or(0);
    let bars = BarSizes::new(unit, rows);
    let layout = layout_faces(bounds, &places, LayoutSizes { panel: bars.panel_size(), gap: bars.pad as f32 });

    for ((face, best, title, text_height), placed) in shown.into_iter().zip(layout) {
        let color = scalar(label_color_bgr(labels, best));
        imgproc::rectangle(frame, face.bbox, color, thickness, imgproc::LINE_AA, 0)?;
        let title_box = to_cv_rect(placed.title);
        imgproc::rectangle(frame, title_box, color, imgproc::FILLED, imgproc::LINE_8, 0)?;
        let origin = Point::new(title_box.x + pad, title_box.y + pad + text_height);
        imgproc::put_text(frame, &title, origin, font, font_scale, Scalar::all(0.0), thickness, imgproc::LINE_AA, false)?;
        if let Some(panel) = placed.panel {
            draw_bars(frame, to_cv_rect(panel), face.probabilities, labels, &bars, unit)?;
        }
    }
    Ok(())
}

/// Sizes of a panel of per-emotion bars, in frame pixels.
struct BarSizes {
    rows: i32,
    row_h: i32,
    label_w: i32,
    bar_w: i32,
    pad: i32,
}

impl BarSizes {
    fn new(unit: f64, rows: usize) -> Self {
        Self { rows: rows as i32, row_h: (14.0 * unit).round() as i32, label_w: (62.0 * unit) as i32, bar_w: (70.0 * unit) as i32, pad: (4.0 * unit) as i32 }
    }

    fn panel_size(&self) -> egui::Vec2 {
        egui::vec2((self.label_w + self.bar_w + 2 * self.pad) as f32, (self.rows * self.row_h + 2 * self.pad) as f32)
    }
}

/// The per-emotion bars in `panel_rect`.
fn draw_bars(frame: &mut Mat, panel_rect: Rect, probabilities: &[f32], labels: &[String], sizes: &BarSizes, unit: f64) -> opencv::Result<()> {
    let BarSizes { row_h, label_w, bar_w, pad, .. } = *sizes;
    // Darken the panel background so the bars read on any video.
    let mut background = Mat::roi_mut(frame, panel_rect)?;
    let dimmed = {
        let mut out = Mat::default();
        background.convert_to(&mut out, -1, 0.35, 0.0)?;
        out
    };
    dimmed.copy_to(&mut background)?;

    let font_scale = 0.4 * unit;
    for (i, p) in probabilities.iter().enumerate() {
        let y = panel_rect.y + pad + i as i32 * row_h;
        let name = labels.get(i).map(String::as_str).unwrap_or("?");
        imgproc::put_text(
            frame,
            name,
            Point::new(panel_rect.x + pad, y + row_h - (3.0 * unit) as i32),
            imgproc::FONT_HERSHEY_SIMPLEX,
            font_scale,
            Scalar::all(235.0),
            1,
            imgproc::LINE_AA,
            false,
        )?;
        let length = ((bar_w as f32) * p.clamp(0.0, 1.0)).round() as i32;
        if length > 0 {
            let bar = Rect::new(panel_rect.x + pad + label_w, y + 2, length, row_h - 4);
            imgproc::rectangle(frame, bar, scalar(label_color_bgr(labels, i)), imgproc::FILLED, imgproc::LINE_8, 0)?;
        }
    }
    Ok(())
}

fn to_layout_rect(r: Rect) -> egui::Rect {
    egui::Rect::from_min_size(egui::pos2(r.x as f32, r.y as f32), egui::vec2(r.width as f32, r.height as f32))
}

/// Pixels of a laid-out rectangle (whole pixels, so inside the frame when it was).
fn to_cv_rect(r: egui::Rect) -> Rect {
    let (x, y) = (r.left().round() as i32, r.top().round() as i32);
    Rect::new(x, y, r.right().round() as i32 - x, r.bottom().round() as i32 - y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::CV_8UC3;

    #[test]
    fn every_emotion_has_its_own_colour_in_any_label_set() {
        let seven: Vec<String> = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"].map(String::from).to_vec();
        let six: Vec<String> = seven.iter().filter(|l| *l != "disgust").cloned().collect();
        for (i, a) in seven.iter().enumerate() {
            for (j, b) in seven.iter().enumerate().skip(i + 1) {
                let (x, y) = (label_color_rgb(&seven, i), label_color_rgb(&seven, j));
                // Far apart in RGB (happy and surprise were 20 apart once).
                let distance: f32 = x.iter().zip(y).map(|(p, q)| (f32::from(*p) - f32::from(q)).powi(2)).sum::<f32>().sqrt();
                assert!(distance > 60.0, "{a} and {b}: {x:?} vs {y:?}");
            }
        }
        // Happy is happy's colour whatever its position.
        assert_eq!(label_color_rgb(&six, 2), label_color_rgb(&seven, 3));
    }

    #[test]
    fn draws_box_and_bars_inside_the_frame() {
        let mut frame = Mat::new_rows_cols_with_default(240, 320, CV_8UC3, Scalar::all(128.0)).unwrap();
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let probabilities = [0.1, 0.8, 0.1];
        // A face at the right edge: the bars must go to its left, and nothing may panic.
        let face = FaceAnnotation { track_id: 1, bbox: Rect::new(250, 5, 60, 60), probabilities: &probabilities };
        annotate(&mut frame, &[face], &labels).unwrap();
        let changed = frame.data_bytes().unwrap().iter().filter(|&&v| v != 128).count();
        assert!(changed > 1000, "only {changed} values changed");
        // The top-left corner is far from the face and stays untouched.
        assert_eq!(*frame.at_2d::<opencv::core::Vec3b>(200, 5).unwrap(), opencv::core::Vec3b::from([128, 128, 128]));
    }
}
