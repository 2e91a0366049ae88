//! How much two face boxes overlap: the measure that tells whether two boxes are one face.

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
}
