//! The results drawn over the video with egui's painter (crisp at any window size, unlike
//! drawing into the pixels): box, track id, top emotion and a compact bar per emotion.

use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::output::annotate::label_color_rgb;
use crate::output::layout::metrics::{BAR_FONT, BAR_LABEL_W, BAR_NUMBER_W, BAR_PAD, BAR_ROW, BAR_W, TITLE_FONT, TITLE_PAD};
use crate::output::layout::{bar_panel_size, face_title, label_name, layout_faces, FaceToPlace, LayoutSizes};
use crate::pipeline::FaceResult;

/// The colour of label `index` of `labels`, the same as in screenshots.
pub fn label_color(labels: &[String], index: usize) -> Color32 {
    let [r, g, b] = label_color_rgb(labels, index);
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
        let scale = if frame_size.x > 0.0 && frame_size.y > 0.0 { (available.width() / frame_size.x).min(available.height() / frame_size.y) } else { 0.0 };
        let image_rect = Rect::from_center_size(available.center(), frame_size * scale);
        Self { image_rect, frame_size, mirror }
    }

    /// A box in frame pixels as a screen rectangle.
    pub fn to_screen(self, bbox: opencv::core::Rect) -> Rect {
        let scale = self.image_rect.width() / self.frame_size.x.max(1.0);
        let x = if self.mirror { self.frame_size.x - (bbox.x + bbox.width) as f32 } else { bbox.x as f32 };
        Rect::from_min_size(self.image_rect.min + Vec2::new(x, bbox.y as f32) * scale, Vec2::new(bbox.width as f32, bbox.height as f32) * scale)
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

/// Draws every face and returns the track id of a face that was clicked. Titles and bar panels
/// are placed by [`layout_faces`], as in screenshots: none covers another face, and a face with
/// no room for its bars shows its title only (the side panel has the selected face's bars).
pub fn show_faces(ui: &mut egui::Ui, geometry: &FrameGeometry, faces: &[FaceResult], labels: &[String], selected: Option<u64>) -> Option<u64> {
    let painter = ui.painter().clone();
    let unit = overlay_unit(geometry.image_rect);
    // The selected face is placed first, so it gets the first choice of place for its bars.
    let mut shown: Vec<(&FaceResult, Rect, usize, std::sync::Arc<egui::Galley>)> = Vec::new();
    for face in faces {
        let rect = geometry.to_screen(face.bbox).intersect(geometry.image_rect);
        let Some((best, title)) = face_title(face.track_id, &face.probabilities, labels) else { continue };
        if !rect.is_positive() {
            continue;
        }
        shown.push((face, rect, best, painter.layout_no_wrap(title, FontId::proportional(TITLE_FONT * unit), Color32::BLACK)));
    }
    shown.sort_by_key(|(face, ..)| selected != Some(face.track_id));
    let places: Vec<FaceToPlace> =
        shown.iter().map(|(_, rect, _, galley)| FaceToPlace { bbox: *rect, title: galley.size() + Vec2::splat(2.0 * TITLE_PAD * unit) }).collect();
    let rows = shown.iter().map(|(face, ..)| face.probabilities.len()).max().unwrap_or(0);
    let layout = layout_faces(geometry.image_rect, &places, LayoutSizes { panel: bar_panel_size(rows, unit), gap: BAR_PAD * unit });

    let mut clicked = None;
    for ((face, rect, best, galley), placed) in shown.into_iter().zip(layout) {
        let response = ui.interact(rect, ui.scope_id().with(("face", face.track_id)), Sense::click());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, face_label(face.track_id)));
        if response.clicked() {
            clicked = Some(face.track_id);
        }
        let hovered = response.on_hover_cursor(egui::CursorIcon::PointingHand).hovered();
        let color = label_color(labels, best);
        let width = if selected == Some(face.track_id) {
            4.0
        } else if hovered {
            3.0
        } else {
            2.0
        };
        painter.rect_stroke(rect, 2.0, Stroke::new(width, color), StrokeKind::Middle);
        painter.rect_filled(placed.title, 2.0, color);
        painter.galley(placed.title.min + Vec2::splat(TITLE_PAD * unit), galley, Color32::BLACK);
        if let Some(panel) = placed.panel {
            paint_bars(&painter, panel, &face.probabilities, labels, unit);
        }
    }
    clicked
}

/// The overlay's scale for a video shown in `image_rect`: labels keep their size relative to
/// the faces, up to twice their size at 480 points high.
pub fn overlay_unit(image_rect: Rect) -> f32 {
    crate::output::layout::overlay_unit(image_rect.height(), 2.0)
}

/// The compact softmax bars in `panel`, each with its percentage.
fn paint_bars(painter: &egui::Painter, panel: Rect, probabilities: &[f32], labels: &[String], unit: f32) {
    painter.rect_filled(panel, 3.0, Color32::from_black_alpha(160));
    let (row, pad) = (BAR_ROW * unit, BAR_PAD * unit);
    let font = FontId::proportional(BAR_FONT * unit);
    for (i, &p) in probabilities.iter().enumerate() {
        let top_y = panel.top() + pad + i as f32 * row;
        let mid_y = top_y + row / 2.0;
        let name = label_name(labels, i);
        painter.text(Pos2::new(panel.left() + pad, mid_y), Align2::LEFT_CENTER, name, font.clone(), Color32::from_gray(235));
        let bar_left = panel.left() + pad + BAR_LABEL_W * unit;
        let bar = Rect::from_min_size(Pos2::new(bar_left, top_y + 2.0 * unit), Vec2::new(BAR_W * unit * p.clamp(0.0, 1.0), row - 4.0 * unit));
        painter.rect_filled(bar, 1.0, label_color(labels, i));
        let number_right = bar_left + (BAR_W + BAR_NUMBER_W) * unit;
        painter.text(Pos2::new(number_right, mid_y), Align2::RIGHT_CENTER, format!("{:.0}%", p * 100.0), font.clone(), Color32::from_gray(235));
    }
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
}
