//! Drawing results onto frames: a box per face, its top emotion, and a bar per emotion.
//!
//! The analyzer's annotated output and the app's screenshots both come from [`annotate`], so a
//! screenshot looks exactly like `emocam analyze --annotate` output.

use opencv::core::{Mat, Point, Rect, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::scores::top;

/// A face to draw: its box (frame pixels), track id and probabilities in label order.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceAnnotation<'a> {
    pub track_id: u64,
    pub bbox: Rect,
    pub probabilities: &'a [f32],
}

/// Distinct colours (BGR) for label indices; the app uses the same table.
pub const PALETTE_BGR: [[u8; 3]; 8] = [
    [60, 60, 230],   // red
    [200, 120, 40],  // blue
    [40, 200, 250],  // yellow
    [200, 80, 160],  // purple
    [60, 180, 250],  // orange
    [170, 170, 170], // grey
    [80, 190, 80],   // green
    [200, 200, 60],  // teal
];

pub fn label_color_bgr(label_index: usize) -> [u8; 3] {
    PALETTE_BGR[label_index % PALETTE_BGR.len()]
}

fn scalar(bgr: [u8; 3]) -> Scalar {
    Scalar::new(bgr[0] as f64, bgr[1] as f64, bgr[2] as f64, 0.0)
}

/// Draws every face onto `frame` (BGR, modified in place).
pub fn annotate(frame: &mut Mat, faces: &[FaceAnnotation<'_>], labels: &[String]) -> opencv::Result<()> {
    let frame_rect = Rect::new(0, 0, frame.cols(), frame.rows());
    // Sizes follow the frame so that 4K screenshots and 480p previews look alike.
    let unit = (frame.cols().min(frame.rows()) as f64 / 480.0).max(0.5);
    let thickness = (2.0 * unit).round().max(1.0) as i32;
    let font = imgproc::FONT_HERSHEY_SIMPLEX;
    let font_scale = 0.5 * unit;
    for face in faces {
        let Some((best, confidence)) = top(face.probabilities) else { continue };
        let color = scalar(label_color_bgr(best));
        imgproc::rectangle(frame, face.bbox, color, thickness, imgproc::LINE_AA, 0)?;

        let name = labels.get(best).map(String::as_str).unwrap_or("?");
        let title = format!("#{} {} {:.0}%", face.track_id, name, confidence * 100.0);
        let mut baseline = 0;
        let text = imgproc::get_text_size(&title, font, font_scale, thickness.max(1), &mut baseline)?;
        let pad = (3.0 * unit) as i32;
        let title_box = clamp_inside(
            Rect::new(face.bbox.x, face.bbox.y - text.height - 2 * pad - baseline, text.width + 2 * pad, text.height + 2 * pad + baseline),
            frame_rect,
        );
        imgproc::rectangle(frame, title_box, color, imgproc::FILLED, imgproc::LINE_8, 0)?;
        imgproc::put_text(
            frame,
            &title,
            Point::new(title_box.x + pad, title_box.y + pad + text.height),
            font,
            font_scale,
            Scalar::all(0.0),
            thickness.max(1),
            imgproc::LINE_AA,
            false,
        )?;
        draw_bars(frame, face, labels, frame_rect, unit)?;
    }
    Ok(())
}

/// The per-emotion bars beside the box: right of it when there is room, else left.
fn draw_bars(frame: &mut Mat, face: &FaceAnnotation<'_>, labels: &[String], frame_rect: Rect, unit: f64) -> opencv::Result<()> {
    let rows = face.probabilities.len() as i32;
    let row_h = (14.0 * unit).round() as i32;
    let label_w = (62.0 * unit) as i32;
    let bar_w = (70.0 * unit) as i32;
    let pad = (4.0 * unit) as i32;
    let panel = Size::new(label_w + bar_w + 2 * pad, rows * row_h + 2 * pad);
    let right = face.bbox.x + face.bbox.width + pad;
    let x = if right + panel.width <= frame_rect.width { right } else { face.bbox.x - pad - panel.width };
    let panel_rect = clamp_inside(Rect::new(x, face.bbox.y, panel.width, panel.height), frame_rect);

    // Darken the panel background so the bars read on any video.
    let mut background = Mat::roi_mut(frame, panel_rect)?;
    let dimmed = {
        let mut out = Mat::default();
        background.convert_to(&mut out, -1, 0.35, 0.0)?;
        out
    };
    dimmed.copy_to(&mut background)?;

    let font_scale = 0.4 * unit;
    for (i, p) in face.probabilities.iter().enumerate() {
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
            imgproc::rectangle(frame, bar, scalar(label_color_bgr(i)), imgproc::FILLED, imgproc::LINE_8, 0)?;
        }
    }
    Ok(())
}

/// Moves (and if needed shrinks) `rect` so it lies inside `frame`.
pub fn clamp_inside(rect: Rect, frame: Rect) -> Rect {
    let width = rect.width.min(frame.width).max(0);
    let height = rect.height.min(frame.height).max(0);
    let x = rect.x.clamp(frame.x, frame.x + frame.width - width);
    let y = rect.y.clamp(frame.y, frame.y + frame.height - height);
    Rect::new(x, y, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::CV_8UC3;

    #[test]
    fn clamp_moves_boxes_back_inside() {
        let frame = Rect::new(0, 0, 100, 100);
        assert_eq!(clamp_inside(Rect::new(-10, 90, 30, 30), frame), Rect::new(0, 70, 30, 30));
        assert_eq!(clamp_inside(Rect::new(10, 10, 500, 20), frame), Rect::new(0, 10, 100, 20));
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
