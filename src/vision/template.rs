//! Following a face between Haar detections: a small grey template of its last Haar box,
//! matched by normalised cross-correlation in a window around its last position (about 0.1 ms,
//! where a windowed Haar scan costs milliseconds). Used by `haar::HaarFinder`.

use opencv::core::{Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;

/// Side of a face template, in pixels: faces are matched at this scale whatever their size.
const TEMPLATE_SIDE_PX: i32 = 32;
/// Normalised correlation below which the template is taken to have lost the face (the same
/// face between frames scores above 0.9).
const TEMPLATE_MIN_SCORE: f64 = 0.7;

/// The look of a tracked face at its last Haar detection.
pub(super) struct FaceTemplate {
    /// The face box scaled to `TEMPLATE_SIDE_PX` square, grey.
    patch: Mat,
    /// Frames followed by template matching since the last Haar detection.
    pub(super) frames_since_haar: u32,
}

impl FaceTemplate {
    /// The template of the face at `bbox`; `None` when the box lies outside the image.
    pub(super) fn capture(grey: &Mat, bbox: Rect) -> opencv::Result<Option<Self>> {
        // Boxes scaled up from the reduced full scan can overhang the frame by a pixel.
        let inside = bbox & Rect::new(0, 0, grey.cols(), grey.rows());
        if inside.width <= 0 || inside.height <= 0 {
            return Ok(None);
        }
        let mut patch = Mat::default();
        let side = Size::new(TEMPLATE_SIDE_PX, TEMPLATE_SIDE_PX);
        imgproc::resize(&Mat::roi(grey, inside)?, &mut patch, side, 0.0, 0.0, imgproc::INTER_AREA)?;
        Ok(Some(Self { patch, frames_since_haar: 0 }))
    }

    /// Where the face of `bbox` is now, searched in `window` (which contains `bbox`); `None`
    /// when the best match is too weak. The box keeps its size: Haar refreshes correct it.
    pub(super) fn follow(&self, grey: &Mat, bbox: Rect, window: Rect, scratch: &mut Mat) -> opencv::Result<Option<Rect>> {
        let scale = TEMPLATE_SIDE_PX as f64 / bbox.width.max(1) as f64;
        let size = Size::new((window.width as f64 * scale).round() as i32, (window.height as f64 * scale).round() as i32);
        if size.width < TEMPLATE_SIDE_PX || size.height < TEMPLATE_SIDE_PX {
            return Ok(None);
        }
        imgproc::resize(&Mat::roi(grey, window)?, scratch, size, 0.0, 0.0, imgproc::INTER_AREA)?;
        let mut scores = Mat::default();
        imgproc::match_template(&*scratch, &self.patch, &mut scores, imgproc::TM_CCOEFF_NORMED, &opencv::core::no_array())?;
        let mut best_score = 0.0;
        let mut best_at = opencv::core::Point::default();
        opencv::core::min_max_loc(&scores, None, Some(&mut best_score), None, Some(&mut best_at), &opencv::core::no_array())?;
        if best_score < TEMPLATE_MIN_SCORE {
            return Ok(None);
        }
        let x = window.x + (best_at.x as f64 / scale).round() as i32;
        let y = window.y + (best_at.y as f64 / scale).round() as i32;
        // Rounding can put the box a pixel past the window's edge.
        Ok(Some(Rect::new(x, y, bbox.width, bbox.height) & window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::haar::tests::demo_grey;

    #[test]
    fn template_of_a_box_overhanging_the_frame_is_clipped() {
        let grey = demo_grey(0);
        let overhanging = Rect::new(grey.cols() - 40, grey.rows() - 40, 41, 41);
        let template = FaceTemplate::capture(&grey, overhanging).expect("capture").expect("part inside");
        assert_eq!(template.patch.size().expect("size"), Size::new(TEMPLATE_SIDE_PX, TEMPLATE_SIDE_PX));
        assert!(FaceTemplate::capture(&grey, Rect::new(grey.cols(), 0, 10, 10)).expect("capture").is_none());
    }
}
