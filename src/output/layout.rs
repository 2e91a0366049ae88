//! Where each face's title and bar panel go, so that many faces stay readable.
//!
//! Shared by the app's overlay and the annotated images and videos, so that both place things
//! alike. A face's title sits above its box (below when there is no room above); its panel of
//! per-emotion bars goes right of the box, else left, below or above, wherever it covers no
//! face and no other face's title or panel. A face with no such place gets no panel: its title
//! (top emotion and confidence) is all it shows, and the app shows its bars in the side panel.

use egui::{Pos2, Rect, Vec2};

/// The name of label `index`, as shown on faces and in panels ("?" for a label the model
/// does not have).
pub fn label_name(labels: &[String], index: usize) -> &str {
    labels.get(index).map(String::as_str).unwrap_or("?")
}

/// A face's title, "#3 happy 87%": its track id and its top emotion, with the index of that
/// emotion; `None` without probabilities.
pub fn face_title(track_id: u64, probabilities: &[f32], labels: &[String]) -> Option<(usize, String)> {
    let (best, confidence) = crate::inference::scores::top(probabilities)?;
    Some((best, format!("#{track_id} {} {:.0}%", label_name(labels, best), confidence * 100.0)))
}

/// The overlay's sizes for a frame (or a video on screen) 480 pixels high. The app's overlay
/// and annotated files both multiply them by their own [`overlay_unit`], so a screenshot looks
/// like the screen.
pub mod metrics {
    /// Title ("#3 happy 85%") font size.
    pub const TITLE_FONT: f32 = 14.0;
    /// Padding around a title's text.
    pub const TITLE_PAD: f32 = 3.0;
    /// Font size of a bar's emotion name and percentage.
    pub const BAR_FONT: f32 = 11.0;
    pub const BAR_ROW: f32 = 14.0;
    pub const BAR_LABEL_W: f32 = 60.0;
    pub const BAR_W: f32 = 60.0;
    pub const BAR_NUMBER_W: f32 = 34.0;
    pub const BAR_PAD: f32 = 4.0;
    /// No text below 11 pixels.
    pub const MIN_FONT: f32 = 11.0;
}

/// How much larger than at 480 pixels high the overlay is drawn on an image `height` high:
/// it follows the image, never so small that text drops below [`metrics::MIN_FONT`], and (on
/// screen) never more than `max`.
pub fn overlay_unit(height: f32, max: f32) -> f32 {
    (height / 480.0).clamp(metrics::MIN_FONT / metrics::BAR_FONT, max.max(metrics::MIN_FONT / metrics::BAR_FONT))
}

/// The size of a panel of `rows` bars at `unit`.
pub fn bar_panel_size(rows: usize, unit: f32) -> Vec2 {
    use metrics::*;
    Vec2::new(BAR_LABEL_W + BAR_W + BAR_NUMBER_W + 2.0 * BAR_PAD, rows as f32 * BAR_ROW + 2.0 * BAR_PAD) * unit
}

/// A face to place: its box and the size of its title, in frame or screen pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceToPlace {
    pub bbox: Rect,
    pub title: Vec2,
}

/// Sizes of the drawn parts, in the units of the boxes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayoutSizes {
    /// A face's panel of bars.
    pub panel: Vec2,
    /// Space kept between a box and what is placed beside it.
    pub gap: f32,
}

/// The placement of one face's parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceLayout {
    pub title: Rect,
    /// `None`: no room for bars that would not cover another face.
    pub panel: Option<Rect>,
}

/// Places the title and panel of each face box, in `bounds`. Faces listed first get the first
/// choice of place (give the selected face first).
pub fn layout_faces(bounds: Rect, faces: &[FaceToPlace], sizes: LayoutSizes) -> Vec<FaceLayout> {
    let boxes: Vec<Rect> = faces.iter().map(|f| f.bbox).collect();
    let mut taken: Vec<Rect> = Vec::new();
    let titles: Vec<Rect> = faces
        .iter()
        .enumerate()
        .map(|(i, &FaceToPlace { bbox: face, title })| {
            let above = Rect::from_min_size(Pos2::new(face.left(), face.top() - title.y), title);
            let below = Rect::from_min_size(Pos2::new(face.left(), face.bottom()), title);
            let others = |r: Rect| boxes.iter().enumerate().any(|(j, &other)| j != i && r.intersects(other));
            let title = [above, below].into_iter().map(|r| clamp_inside(r, bounds)).find(|&r| !others(r) && !r.intersects(face.shrink(1.0)));
            // No free place: above the box, over whatever is there, still inside the frame.
            let title = title.unwrap_or_else(|| clamp_inside(above, bounds));
            taken.push(title);
            title
        })
        .collect();
    boxes
        .iter()
        .zip(titles)
        .map(|(&face, title)| {
            let gap = sizes.gap;
            let candidates = [
                Pos2::new(face.right() + gap, face.top()),
                Pos2::new(face.left() - gap - sizes.panel.x, face.top()),
                Pos2::new(face.left(), face.bottom() + gap),
                Pos2::new(face.left(), face.top() - gap - sizes.panel.y),
            ];
            let free = |r: Rect| {
                bounds.contains_rect(r) && !boxes.iter().any(|&other| r.intersects(other.expand(gap / 2.0))) && !taken.iter().any(|&t| r.intersects(t))
            };
            let panel = candidates.into_iter().map(|min| clamp_inside(Rect::from_min_size(min, sizes.panel), bounds)).find(|&r| free(r));
            if let Some(panel) = panel {
                taken.push(panel);
            }
            FaceLayout { title, panel }
        })
        .collect()
}

/// Moves (and if needed shrinks) `rect` so it lies inside `bounds`.
pub fn clamp_inside(rect: Rect, bounds: Rect) -> Rect {
    let size = rect.size().min(bounds.size());
    let min = Pos2::new(rect.left().clamp(bounds.left(), bounds.right() - size.x), rect.top().clamp(bounds.top(), bounds.bottom() - size.y));
    Rect::from_min_size(min, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: LayoutSizes = LayoutSizes { panel: Vec2::new(100.0, 80.0), gap: 4.0 };

    fn place(boxes: &[Rect]) -> Vec<FaceToPlace> {
        boxes.iter().map(|&bbox| FaceToPlace { bbox, title: Vec2::new(60.0, 16.0) }).collect()
    }

    fn square(x: f32, y: f32, side: f32) -> Rect {
        Rect::from_min_size(Pos2::new(x, y), Vec2::splat(side))
    }

    #[test]
    fn clamp_moves_boxes_back_inside() {
        let bounds = square(0.0, 0.0, 100.0);
        assert_eq!(clamp_inside(square(90.0, -5.0, 20.0), bounds), square(80.0, 0.0, 20.0));
        let wide = clamp_inside(Rect::from_min_size(Pos2::new(10.0, 10.0), Vec2::new(500.0, 20.0)), bounds);
        assert_eq!(wide, Rect::from_min_size(Pos2::new(0.0, 10.0), Vec2::new(100.0, 20.0)));
    }

    #[test]
    fn a_lone_face_gets_its_panel_to_the_right() {
        let bounds = square(0.0, 0.0, 640.0);
        let face = square(100.0, 100.0, 80.0);
        let layout = layout_faces(bounds, &place(&[face]), SIZES);
        assert_eq!(layout[0].title.bottom(), face.top(), "title just above the box");
        let panel = layout[0].panel.expect("room for bars");
        assert!(panel.left() > face.right() && panel.top() == face.top(), "{panel:?}");
    }

    #[test]
    fn panels_never_cover_a_face_and_go_compact_when_crowded() {
        let bounds = Rect::from_min_size(Pos2::ZERO, Vec2::new(640.0, 480.0));
        // A row of faces with little space between them, and one at the right edge.
        let boxes: Vec<Rect> = (0..6).map(|i| square(10.0 + 105.0 * i as f32, 330.0, 90.0)).collect();
        let layout = layout_faces(bounds, &place(&boxes), SIZES);
        for (i, placed) in layout.iter().enumerate() {
            assert!(bounds.contains_rect(placed.title), "title {i} leaves the frame");
            for (j, &other) in boxes.iter().enumerate() {
                if let Some(panel) = placed.panel {
                    assert!(!panel.intersects(other), "panel of face {i} covers face {j}");
                }
                if i != j {
                    assert!(!placed.title.intersects(other), "title of face {i} covers face {j}");
                }
            }
        }
        let panels: Vec<Rect> = layout.iter().filter_map(|l| l.panel).collect();
        for (a, pa) in panels.iter().enumerate() {
            assert!(panels[a + 1..].iter().all(|pb| !pa.intersects(*pb)), "panels overlap");
        }
        // Six panels do not fit between and below six faces this close: some go compact.
        assert!(panels.len() < 6, "{} panels", panels.len());
    }

    #[test]
    fn a_face_at_the_top_edge_gets_its_title_below() {
        let bounds = square(0.0, 0.0, 400.0);
        let face = square(50.0, 0.0, 60.0);
        let layout = layout_faces(bounds, &place(&[face]), SIZES);
        assert!(layout[0].title.top() >= face.bottom(), "{:?}", layout[0].title);
    }
}
