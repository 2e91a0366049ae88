//! Drawing results onto frames: a box per face, its top emotion, and a bar per emotion.
//!
//! The analyzer's annotated output and the app's screenshots both come from [`annotate`], so a
//! screenshot looks exactly like `emocam analyze --annotate` output.

use opencv::core::{Mat, Rect, Scalar};
use opencv::imgproc;
use opencv::prelude::*;

use crate::output::layout::{face_title, label_name, layout_faces, FaceToPlace, LayoutSizes};
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
/// [`layout_faces`] so that none covers another face, with egui's own font (Ubuntu Light,
/// rasterised with `ab_glyph`) and the app's sizes scaled to the frame: a screenshot looks like
/// the screen.
pub fn annotate(frame: &mut Mat, faces: &[FaceAnnotation<'_>], labels: &[String]) -> opencv::Result<()> {
    use crate::output::layout::metrics::{BAR_PAD, TITLE_FONT, TITLE_PAD};
    let bounds = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(frame.cols() as f32, frame.rows() as f32));
    // Sizes follow the frame so that 4K screenshots and 480p previews look alike.
    let unit = crate::output::layout::overlay_unit(frame.cols().min(frame.rows()) as f32, f32::INFINITY);
    let thickness = (2.0 * unit).round().max(1.0) as i32;
    let font = Font::new()?;
    let title_px = TITLE_FONT * unit;

    let mut shown = Vec::new();
    let mut places = Vec::new();
    for face in faces {
        let Some((best, title)) = face_title(face.track_id, face.probabilities, labels) else { continue };
        let title_size = font.text_size(&title, title_px) + egui::Vec2::splat(2.0 * TITLE_PAD * unit);
        places.push(FaceToPlace { bbox: to_layout_rect(face.bbox), title: title_size });
        shown.push((face, best, title));
    }
    let rows = shown.iter().map(|(face, ..)| face.probabilities.len()).max().unwrap_or(0);
    let layout = layout_faces(bounds, &places, LayoutSizes { panel: crate::output::layout::bar_panel_size(rows, unit), gap: BAR_PAD * unit });

    for ((face, best, title), placed) in shown.into_iter().zip(layout) {
        let color = label_color_bgr(labels, best);
        imgproc::rectangle(frame, face.bbox, scalar(color), thickness, imgproc::LINE_AA, 0)?;
        imgproc::rectangle(frame, to_cv_rect(placed.title), scalar(color), imgproc::FILLED, imgproc::LINE_8, 0)?;
        let origin = placed.title.min + egui::Vec2::splat(TITLE_PAD * unit);
        font.draw(frame, &title, origin, title_px, [0, 0, 0])?;
        if let Some(panel) = placed.panel {
            draw_bars(frame, &font, panel, face.probabilities, labels, unit)?;
        }
    }
    Ok(())
}

/// egui's default proportional font, for drawing into frames.
struct Font {
    font: ab_glyph::FontRef<'static>,
}

impl Font {
    fn new() -> opencv::Result<Self> {
        let font = ab_glyph::FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT)
            .map_err(|e| opencv::Error::new(opencv::core::StsError, format!("egui's font cannot be read: {e}")))?;
        Ok(Self { font })
    }

    /// Width and line height of `text` at `px` pixels.
    fn text_size(&self, text: &str, px: f32) -> egui::Vec2 {
        use ab_glyph::{Font as _, ScaleFont as _};
        let scaled = self.font.as_scaled(px);
        let mut width = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(previous) = previous {
                width += scaled.kern(previous, id);
            }
            width += scaled.h_advance(id);
            previous = Some(id);
        }
        egui::vec2(width.ceil(), (scaled.ascent() - scaled.descent()).ceil())
    }

    /// Draws `text` with its top-left corner at `origin`, blending its anti-aliased edges into
    /// the frame; pixels outside the frame are skipped.
    fn draw(&self, frame: &mut Mat, text: &str, origin: egui::Pos2, px: f32, bgr: [u8; 3]) -> opencv::Result<()> {
        use ab_glyph::{Font as _, ScaleFont as _};
        let scaled = self.font.as_scaled(px);
        let (cols, rows) = (frame.cols(), frame.rows());
        let mut caret = ab_glyph::point(origin.x, origin.y + scaled.ascent());
        let mut previous = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(previous) = previous {
                caret.x += scaled.kern(previous, id);
            }
            let glyph = id.with_scale_and_position(px, caret);
            caret.x += scaled.h_advance(id);
            previous = Some(id);
            let Some(outlined) = self.font.outline_glyph(glyph) else { continue }; // a space
            let bounds = outlined.px_bounds();
            let mut failure = None;
            outlined.draw(|gx, gy, coverage| {
                let (x, y) = (bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32);
                if x < 0 || y < 0 || x >= cols || y >= rows || failure.is_some() {
                    return;
                }
                match frame.at_2d_mut::<opencv::core::Vec3b>(y, x) {
                    Ok(pixel) => {
                        let a = coverage.clamp(0.0, 1.0);
                        for (channel, target) in pixel.0.iter_mut().zip(bgr) {
                            *channel = (f32::from(*channel) * (1.0 - a) + f32::from(target) * a).round() as u8;
                        }
                    }
                    Err(error) => failure = Some(error),
                }
            });
            if let Some(error) = failure {
                return Err(error);
            }
        }
        Ok(())
    }
}

/// The per-emotion bars in `panel`, each with its name and percentage, as the app draws them.
fn draw_bars(frame: &mut Mat, font: &Font, panel: egui::Rect, probabilities: &[f32], labels: &[String], unit: f32) -> opencv::Result<()> {
    use crate::output::layout::metrics::{BAR_FONT, BAR_LABEL_W, BAR_NUMBER_W, BAR_PAD, BAR_ROW, BAR_W};
    // Darken the panel background so the bars read on any video.
    let panel_rect = to_cv_rect(panel);
    let mut background = Mat::roi_mut(frame, panel_rect)?;
    let dimmed = {
        let mut out = Mat::default();
        background.convert_to(&mut out, -1, 0.35, 0.0)?;
        out
    };
    dimmed.copy_to(&mut background)?;

    let (row, pad, px) = (BAR_ROW * unit, BAR_PAD * unit, BAR_FONT * unit);
    let text_h = font.text_size("Ag", px).y;
    for (i, p) in probabilities.iter().enumerate() {
        let top_y = panel.top() + pad + i as f32 * row;
        let text_y = top_y + (row - text_h) / 2.0;
        let name = label_name(labels, i);
        font.draw(frame, name, egui::pos2(panel.left() + pad, text_y), px, [235, 235, 235])?;
        let bar_left = panel.left() + pad + BAR_LABEL_W * unit;
        let length = BAR_W * unit * p.clamp(0.0, 1.0);
        if length >= 1.0 {
            let bar = egui::Rect::from_min_size(egui::pos2(bar_left, top_y + 2.0 * unit), egui::vec2(length, row - 4.0 * unit));
            imgproc::rectangle(frame, to_cv_rect(bar), scalar(label_color_bgr(labels, i)), imgproc::FILLED, imgproc::LINE_8, 0)?;
        }
        let number = format!("{:.0}%", p * 100.0);
        let number_right = bar_left + (BAR_W + BAR_NUMBER_W) * unit;
        let number_w = font.text_size(&number, px).x;
        font.draw(frame, &number, egui::pos2(number_right - number_w, text_y), px, [235, 235, 235])?;
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

    #[test]
    fn a_title_at_the_top_edge_goes_below_the_box_in_egui_font() {
        let mut frame = Mat::new_rows_cols_with_default(240, 320, CV_8UC3, Scalar::all(128.0)).unwrap();
        // Not emotion names: "b" gets white, so the only black pixels are the title's letters.
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let probabilities = [0.1, 0.8, 0.1];
        let face = FaceAnnotation { track_id: 7, bbox: Rect::new(100, 0, 60, 60), probabilities: &probabilities };
        annotate(&mut frame, &[face], &labels).unwrap();
        let dark = |y: i32, x: i32| frame.at_2d::<opencv::core::Vec3b>(y, x).unwrap().0.iter().all(|&v| v < 110);
        // No room above the box: the title is below it (not over the face, not cut off).
        let over_face = (0..60).flat_map(|y| (100..160).map(move |x| (y, x))).filter(|&(y, x)| dark(y, x)).count();
        assert_eq!(over_face, 0, "title text over the face");
        let ink = (60..90).flat_map(|y| (100..220).map(move |x| (y, x))).filter(|&(y, x)| dark(y, x)).count();
        assert!(ink > 30, "only {ink} pixels of title text");
    }
}
