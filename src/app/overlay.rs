//! The results drawn over the video with egui's painter (crisp at any window size, unlike
//! drawing into the pixels): box, track id, top emotion and a compact bar per emotion.

use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::annotate::label_color_bgr;
use crate::pipeline::FaceResult;
use crate::scores::top;

/// The colour of label `index`, the same as in screenshots.
pub fn label_color(index: usize) -> Color32 {
    let [b, g, r] = label_color_bgr(index);
    Color32::from_rgb(r, g, b)
}

/// Where the frame is drawn on screen and how frame pixels map to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameGeometry {
    /// The image's rectangle on screen.
    pub image_rect: Rect,
    /// Frame size in pixels.
    pub frame_size: Vec2,
    /// Shown mirrored (left and right swapped).
    pub mirror: bool,
}

impl FrameGeometry {
    /// The largest rectangle of the frame's aspect ratio that fits `available`, centred.
    pub fn fit(available: Rect, frame_size: Vec2, mirror: bool) -> Self {
        let scale = if frame_size.x > 0.0 && frame_size.y > 0.0 {
            (available.width() / frame_size.x).min(available.height() / frame_size.y)
        } else {
            0.0
        };
        let image_rect = Rect::from_center_size(available.center(), frame_size * scale);
        Self { image_rect, frame_size, mirror }
    }

    /// A box in frame pixels as a screen rectangle.
    pub fn to_screen(self, bbox: opencv::core::Rect) -> Rect {
        let scale = self.image_rect.width() / self.frame_size.x.max(1.0);
        let x = if self.mirror { self.frame_size.x - (bbox.x + bbox.width) as f32 } else { bbox.x as f32 };
        Rect::from_min_size(
            self.image_rect.min + Vec2::new(x, bbox.y as f32) * scale,
            Vec2::new(bbox.width as f32, bbox.height as f32) * scale,
        )
    }

    /// UV rectangle for the texture: flipped horizontally when mirrored.
    pub fn uv(&self) -> Rect {
        if self.mirror {
            Rect::from_min_max(Pos2::new(1.0, 0.0), Pos2::new(0.0, 1.0))
        } else {
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0))
        }
    }
}

/// Accessible name of a face's click target (also used by the UI tests).
pub fn face_label(track_id: u64) -> String {
    format!("Face #{track_id}")
}

/// Draws every face and returns the track id of a face that was clicked.
pub fn show_faces(ui: &mut egui::Ui, geometry: &FrameGeometry, faces: &[FaceResult], labels: &[String], selected: Option<u64>) -> Option<u64> {
    let mut clicked = None;
    for face in faces {
        let rect = geometry.to_screen(face.bbox).intersect(geometry.image_rect);
        if !rect.is_positive() {
            continue;
        }
        let response = ui.interact(rect, ui.scope_id().with(("face", face.track_id)), Sense::click());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, face_label(face.track_id)));
        if response.clicked() {
            clicked = Some(face.track_id);
        }
        let response = response.on_hover_cursor(egui::CursorIcon::PointingHand);
        paint_face(ui.painter(), geometry, rect, face, labels, selected == Some(face.track_id), response.hovered());
    }
    clicked
}

fn paint_face(painter: &egui::Painter, geometry: &FrameGeometry, rect: Rect, face: &FaceResult, labels: &[String], selected: bool, hovered: bool) {
    let Some((best, confidence)) = top(&face.probabilities) else { return };
    let color = label_color(best);
    let width = if selected { 4.0 } else if hovered { 3.0 } else { 2.0 };
    painter.rect_stroke(rect, 2.0, Stroke::new(width, color), StrokeKind::Middle);

    // Title above the box (inside the frame when the box touches its top edge).
    let name = labels.get(best).map(String::as_str).unwrap_or("?");
    let title = format!("#{} {} {:.0}%", face.track_id, name, confidence * 100.0);
    let galley = painter.layout_no_wrap(title, FontId::proportional(14.0), Color32::BLACK);
    let title_size = galley.size() + Vec2::splat(6.0);
    let title_rect = clamp_inside(Rect::from_min_size(rect.left_top() - Vec2::new(0.0, title_size.y), title_size), geometry.image_rect);
    painter.rect_filled(title_rect, 2.0, color);
    painter.galley(title_rect.min + Vec2::splat(3.0), galley, Color32::BLACK);

    paint_bars(painter, geometry, rect, &face.probabilities, labels);
}

/// The compact softmax bars beside the box: right of it when there is room, else left.
fn paint_bars(painter: &egui::Painter, geometry: &FrameGeometry, face_rect: Rect, probabilities: &[f32], labels: &[String]) {
    const ROW: f32 = 13.0;
    const LABEL_W: f32 = 58.0;
    const BAR_W: f32 = 60.0;
    const PAD: f32 = 4.0;
    let size = Vec2::new(LABEL_W + BAR_W + 2.0 * PAD, probabilities.len() as f32 * ROW + 2.0 * PAD);
    let bounds = geometry.image_rect;
    let right = face_rect.right() + PAD;
    let x = if right + size.x <= bounds.right() { right } else { face_rect.left() - PAD - size.x };
    let panel = clamp_inside(Rect::from_min_size(Pos2::new(x, face_rect.top()), size), bounds);
    painter.rect_filled(panel, 3.0, Color32::from_black_alpha(150));
    for (i, &p) in probabilities.iter().enumerate() {
        let top_y = panel.top() + PAD + i as f32 * ROW;
        let name = labels.get(i).map(String::as_str).unwrap_or("?");
        painter.text(Pos2::new(panel.left() + PAD, top_y + ROW / 2.0), Align2::LEFT_CENTER, name, FontId::proportional(10.5), Color32::from_gray(235));
        let bar = Rect::from_min_size(Pos2::new(panel.left() + PAD + LABEL_W, top_y + 2.0), Vec2::new(BAR_W * p.clamp(0.0, 1.0), ROW - 4.0));
        painter.rect_filled(bar, 1.0, label_color(i));
    }
}

/// Moves (and if needed shrinks) `rect` so it lies inside `bounds`.
pub fn clamp_inside(rect: Rect, bounds: Rect) -> Rect {
    let size = rect.size().min(bounds.size());
    let min = Pos2::new(
        rect.left().clamp(bounds.left(), bounds.right() - size.x),
        rect.top().clamp(bounds.top(), bounds.bottom() - size.y),
    );
    Rect::from_min_size(min, size)
}

/// The face to show in the side panel by default: the largest.
pub fn largest_face(faces: &[FaceResult]) -> Option<u64> {
    faces.iter().max_by_key(|f| i64::from(f.bbox.width) * i64::from(f.bbox.height)).map(|f| f.track_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_the_aspect_ratio_and_maps_boxes() {
        let geometry = FrameGeometry::fit(Rect::from_min_size(Pos2::ZERO, Vec2::new(1000.0, 480.0)), Vec2::new(640.0, 480.0), false);
        assert_eq!(geometry.image_rect, Rect::from_min_size(Pos2::new(180.0, 0.0), Vec2::new(640.0, 480.0)));
        let face = geometry.to_screen(opencv::core::Rect::new(10, 20, 30, 40));
        assert_eq!(face, Rect::from_min_size(Pos2::new(190.0, 20.0), Vec2::new(30.0, 40.0)));
        let mirrored = FrameGeometry { mirror: true, ..geometry }.to_screen(opencv::core::Rect::new(10, 20, 30, 40));
        assert_eq!(mirrored.left(), 180.0 + 640.0 - 40.0);
    }

    #[test]
    fn clamp_keeps_panels_inside() {
        let bounds = Rect::from_min_size(Pos2::ZERO, Vec2::splat(100.0));
        let moved = clamp_inside(Rect::from_min_size(Pos2::new(90.0, -5.0), Vec2::splat(20.0)), bounds);
        assert_eq!(moved, Rect::from_min_size(Pos2::new(80.0, 0.0), Vec2::splat(20.0)));
    }
}
