//! From a detected face box to the 48x48 grey crop that FER-2013 models expect.
//!
//! FER-2013 faces are framed looser than OpenCV's Haar boxes: the data set's crops include the
//! forehead, the chin and a little background. [`Framing`] holds that measured relation
//! (`emocam measure-framing` reproduces it), so the app's crops look like the training data.

use std::time::Instant;

use opencv::core::{self, Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::vision::detect::{DetectError, DetectorKind, FaceFinder, FoundFace};

/// The faces of one frame: track id, box and keypoints, the crop of each, and what finding and
/// cropping took.
pub struct FacesInFrame {
    pub faces: Vec<FoundFace>,
    pub crops: Vec<GrayFace>,
    pub detect_ms: f64,
    pub crop_ms: f64,
}

/// Side of the FER-2013 face images, in pixels.
pub const FACE_SIDE_PX: i32 = 48;

/// A square grey face crop, `FACE_SIDE_PX` pixels wide, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct GrayFace {
    pub pixels: Vec<u8>,
}

impl GrayFace {
    /// Wraps 48x48 pixels; `None` when the length is not 48*48.
    pub fn from_pixels(pixels: Vec<u8>) -> Option<Self> {
        (pixels.len() == (FACE_SIDE_PX * FACE_SIDE_PX) as usize).then_some(Self { pixels })
    }

    /// Converts any grey or BGR image of a face (already cropped) to a 48x48 crop.
    pub fn from_image(image: &Mat) -> opencv::Result<Self> {
        let grey = to_grey(image)?;
        let side = Size::new(FACE_SIDE_PX, FACE_SIDE_PX);
        let mut face = Mat::default();
        if grey.size()? == side {
            face = grey;
        } else {
            imgproc::resize(&grey, &mut face, side, 0.0, 0.0, imgproc::INTER_AREA)?;
        }
        let pixels = face.try_clone()?.data_bytes()?.to_vec();
        Ok(Self { pixels })
    }
}

/// How a FER-2013 crop relates to a Haar face box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Framing {
    /// Side of the crop divided by the width of the Haar box.
    pub scale: f32,
    /// Shift of the crop's centre below the box centre, as a fraction of the box height.
    pub shift_down: f32,
}

impl Default for Framing {
    /// The framing of the default detector's boxes.
    fn default() -> Self {
        Self::for_detector(DetectorKind::default())
    }
}

/// Measured with `emocam measure-framing ../shared/fer2013/train --limit 3000 --detector haar`:
/// the default cascade found one face in 1923 of 3000 upscaled images; median crop side / box
/// width 1.185, median centre shift 0.009 box heights (README, "Face framing").
pub const HAAR_FRAMING: Framing = Framing { scale: 1.19, shift_down: 0.01 };
/// Measured with `emocam measure-framing ../shared/fer2013/train --limit 3000` (BlazeFace),
/// see the README's "Face framing".
pub const BLAZEFACE_FRAMING: Framing = Framing { scale: BLAZEFACE_FRAMING_SCALE, shift_down: BLAZEFACE_FRAMING_SHIFT_DOWN };
const BLAZEFACE_FRAMING_SCALE: f32 = 1.143;
const BLAZEFACE_FRAMING_SHIFT_DOWN: f32 = -0.055;

impl Framing {
    /// The framing measured for `detector`'s boxes.
    pub fn for_detector(detector: DetectorKind) -> Self {
        match detector {
            DetectorKind::Blazeface => BLAZEFACE_FRAMING,
            DetectorKind::Haar => HAAR_FRAMING,
        }
    }

    /// The square crop around `face`; it may reach outside the frame.
    pub fn crop_rect(&self, face: Rect) -> Rect {
        let side = (face.width.max(face.height) as f32 * self.scale).round().max(1.0) as i32;
        let cx = face.x as f32 + face.width as f32 / 2.0;
        let cy = face.y as f32 + face.height as f32 / 2.0 + self.shift_down * face.height as f32;
        Rect::new((cx - side as f32 / 2.0).round() as i32, (cy - side as f32 / 2.0).round() as i32, side, side)
    }

    /// The crops of the faces found in a grey frame, with each face's track id and box; a face
    /// whose crop fails (a box outside the frame) is left out of both.
    pub fn extract_all(&self, grey_frame: &Mat, found: &[FoundFace]) -> (Vec<FoundFace>, Vec<GrayFace>) {
        found.iter().filter_map(|face| Some((*face, self.extract(grey_frame, face.bbox).ok()?))).unzip()
    }

    /// Finds the faces of a colour or grey `image` and crops them: as a still image (the full
    /// scan, every face checked, nothing carried over) or as the next frame of a video (faces
    /// followed from the frames before). The one path from a frame to crops, live or not.
    pub fn find_and_crop(&self, finder: &mut FaceFinder, image: &Mat, as_still: bool) -> Result<FacesInFrame, DetectError> {
        let detect_started = Instant::now();
        let grey = to_grey(image)?;
        let found = if as_still { finder.find_in_still(image, &grey)? } else { finder.find(image, &grey)? };
        let detect_ms = detect_started.elapsed().as_secs_f64() * 1e3;
        let crop_started = Instant::now();
        let (faces, crops) = self.extract_all(&grey, &found);
        Ok(FacesInFrame { faces, crops, detect_ms, crop_ms: crop_started.elapsed().as_secs_f64() * 1e3 })
    }

    /// Cuts the crop for `face` out of a grey frame, replicating the border where the crop leaves
    /// the frame, and scales it to 48x48 with area averaging (as FER-2013 was made).
    pub fn extract(&self, grey_frame: &Mat, face: Rect) -> opencv::Result<GrayFace> {
        let crop = self.crop_rect(face);
        let frame = Rect::new(0, 0, grey_frame.cols(), grey_frame.rows());
        let inside = crop & frame;
        if inside.width <= 0 || inside.height <= 0 {
            return Err(opencv::Error::new(core::StsBadArg, format!("face box {face:?} is outside the frame")));
        }
        let visible = Mat::roi(grey_frame, inside)?;
        let mut padded = Mat::default();
        core::copy_make_border(
            &visible,
            &mut padded,
            inside.y - crop.y,
            (crop.y + crop.height) - (inside.y + inside.height),
            inside.x - crop.x,
            (crop.x + crop.width) - (inside.x + inside.width),
            core::BORDER_REPLICATE,
            core::Scalar::default(),
        )?;
        GrayFace::from_image(&padded)
    }
}

/// A single-channel copy of a grey, BGR or BGRA image.
pub fn to_grey(image: &Mat) -> opencv::Result<Mat> {
    let code = match image.channels() {
        1 => return image.try_clone(),
        3 => imgproc::COLOR_BGR2GRAY,
        4 => imgproc::COLOR_BGRA2GRAY,
        n => return Err(opencv::Error::new(core::StsBadArg, format!("unsupported image with {n} channels"))),
    };
    let mut grey = Mat::default();
    imgproc::cvt_color(image, &mut grey, code, 0)?;
    Ok(grey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Scalar, CV_8UC1};

    #[test]
    fn crop_is_square_centred_and_scaled() {
        let framing = Framing { scale: 1.5, shift_down: 0.0 };
        let crop = framing.crop_rect(Rect::new(100, 100, 80, 80));
        assert_eq!(crop, Rect::new(80, 80, 120, 120));
    }

    #[test]
    fn crop_shifts_down_by_a_fraction_of_the_height() {
        let framing = Framing { scale: 1.0, shift_down: 0.1 };
        assert_eq!(framing.crop_rect(Rect::new(0, 0, 100, 100)), Rect::new(0, 10, 100, 100));
    }

    #[test]
    fn crop_of_a_non_square_box_uses_the_longer_side() {
        let framing = Framing { scale: 1.0, shift_down: 0.0 };
        assert_eq!(framing.crop_rect(Rect::new(10, 0, 40, 60)), Rect::new(0, 0, 60, 60));
    }

    #[test]
    fn extract_gives_48x48_even_at_the_frame_edge() -> opencv::Result<()> {
        let frame = Mat::new_rows_cols_with_default(100, 100, CV_8UC1, Scalar::all(200.0))?;
        let framing = Framing { scale: 2.0, shift_down: 0.0 };
        let face = framing.extract(&frame, Rect::new(0, 0, 50, 50))?;
        assert_eq!(face.pixels.len(), 48 * 48);
        // Replicated border: the padding has the frame's value, not black.
        assert!(face.pixels.iter().all(|&p| p == 200));
        Ok(())
    }

    #[test]
    fn extract_rejects_a_box_outside_the_frame() -> opencv::Result<()> {
        let frame = Mat::new_rows_cols_with_default(50, 50, CV_8UC1, Scalar::all(0.0))?;
        assert!(Framing::default().extract(&frame, Rect::new(500, 500, 20, 20)).is_err());
        Ok(())
    }

    #[test]
    fn from_pixels_checks_the_size() {
        assert!(GrayFace::from_pixels(vec![0; 48 * 48]).is_some());
        assert!(GrayFace::from_pixels(vec![0; 47 * 48]).is_none());
    }
}
