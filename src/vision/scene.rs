//! Scene cuts: a frame that shares nothing with the one before (another shot, another photo).
//! Faces followed so far are then gone: trackers end their ids, and nothing is looked for where
//! a face of the old scene used to be.

use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;

/// Frames are compared for scene cuts at this size: enough to tell two scenes apart, too small
/// for noise or a few moving pixels to matter, and cheap.
const SCENE_THUMBNAIL_SIZE: Size = Size::new(32, 24);
/// Thumbnails of consecutive frames that correlate less than this are two scenes.
const SCENE_CUT_MAX_CORRELATION: f32 = 0.5;

/// Remembers the last frame, shrunk, to compare the next with.
#[derive(Default)]
pub struct SceneCuts {
    last_thumbnail: Mat,
}

impl SceneCuts {
    /// Whether `grey` shows another scene than the last frame: their thumbnails hardly correlate
    /// (a pan or a zoom keeps most of the picture, a cut keeps none of it).
    pub fn is_cut(&mut self, grey: &Mat) -> opencv::Result<bool> {
        let mut thumbnail = Mat::default();
        imgproc::resize(grey, &mut thumbnail, SCENE_THUMBNAIL_SIZE, 0.0, 0.0, imgproc::INTER_AREA)?;
        let previous = std::mem::replace(&mut self.last_thumbnail, thumbnail);
        if previous.empty() {
            return Ok(false);
        }
        let mut score = Mat::default();
        imgproc::match_template(&self.last_thumbnail, &previous, &mut score, imgproc::TM_CCOEFF_NORMED, &opencv::core::no_array())?;
        let correlation = *score.at_2d::<f32>(0, 0)?;
        Ok(correlation < SCENE_CUT_MAX_CORRELATION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::haar::tests::demo_grey;

    #[test]
    fn a_cut_to_another_photo_is_a_scene_cut_and_the_demo_moving_on_is_not() {
        let mut scene = SceneCuts::default();
        assert!(!scene.is_cut(&demo_grey(0)).expect("compare"), "the first frame follows no other");
        for index in 1..20 {
            assert!(!scene.is_cut(&demo_grey(index)).expect("compare"), "frame {index}: the demo pans and zooms");
        }
        let next_photo = demo_grey(crate::source::DEMO_FRAMES_PER_PHOTO);
        assert!(scene.is_cut(&next_photo).expect("compare"), "the demo's next photo");
    }
}
