//! 48x48 grey faces to the input tensor a model wants.
//!
//! Models differ in layout (PyTorch exports NCHW, Keras/TensorFlow NHWC), channels (grey or a
//! grey face repeated into RGB), input size and normalisation; [`InputSpec`] and
//! [`Normalization`] describe one model and [`fill_batch`] writes a whole batch at once.

use opencv::core::{Mat, Size, CV_8UC1};
use opencv::imgproc;
use opencv::prelude::*;

use crate::vision::face::{GrayFace, FACE_SIDE_PX};

/// Memory order of an image tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Batch, channels, height, width (PyTorch).
    Nchw,
    /// Batch, height, width, channels (Keras/TensorFlow).
    Nhwc,
}

impl Layout {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "NCHW" => Some(Layout::Nchw),
            "NHWC" => Some(Layout::Nhwc),
            _ => None,
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Nchw => "NCHW",
            Layout::Nhwc => "NHWC",
        })
    }
}

/// Shape of one image input.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub layout: Layout,
    /// 1 (grey) or 3 (the grey face repeated; FER-2013 has no colour).
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `Some(n)` when the graph only takes batches of exactly `n`.
    pub fixed_batch: Option<usize>,
}

impl InputSpec {
    pub fn values_per_face(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The tensor shape for a batch of `batch` faces.
    pub fn shape(&self, batch: usize) -> [usize; 4] {
        match self.layout {
            Layout::Nchw => [batch, self.channels, self.height, self.width],
            Layout::Nhwc => [batch, self.height, self.width, self.channels],
        }
    }
}

/// `value = (pixel * pixel_scale - mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    pub pixel_scale: f32,
    /// One value, or one per channel.
    pub mean: Vec<f32>,
    /// One value, or one per channel.
    pub std: Vec<f32>,
}

impl Default for Normalization {
    /// Pixels scaled to 0..1, nothing else.
    fn default() -> Self {
        Self { pixel_scale: 1.0 / 255.0, mean: vec![0.0], std: vec![1.0] }
    }
}

/// Normalisation numbers that can't be used.
#[derive(Debug, thiserror::Error)]
pub enum NormalizationError {
    #[error("'{name}' has {count} values for a {channels}-channel input")]
    ValueCount { name: &'static str, count: usize, channels: usize },
    #[error("'std' must be above zero, got {0:?}")]
    Std(Vec<f32>),
    #[error("'mean' must be a number, got {0:?}")]
    Mean(Vec<f32>),
    #[error("'pixel_scale' must be above zero, got {0}")]
    PixelScale(f32),
}

impl Normalization {
    /// Checks that mean/std fit `channels` and that no std is zero.
    pub fn validate(&self, channels: usize) -> Result<(), NormalizationError> {
        for (name, values) in [("mean", &self.mean), ("std", &self.std)] {
            if values.len() != 1 && values.len() != channels {
                return Err(NormalizationError::ValueCount { name, count: values.len(), channels });
            }
        }
        // Numbers from a model file are untrusted: NaN or a zero scale would make every face
        // the same, and every score meaningless.
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(NormalizationError::Std(self.std.clone()));
        }
        if self.mean.iter().any(|m| !m.is_finite()) {
            return Err(NormalizationError::Mean(self.mean.clone()));
        }
        if !(self.pixel_scale.is_finite() && self.pixel_scale > 0.0) {
            return Err(NormalizationError::PixelScale(self.pixel_scale));
        }
        Ok(())
    }

    fn channel(&self, values: &[f32], c: usize) -> f32 {
        values.get(c).or(values.first()).copied().unwrap_or(0.0)
    }
}

/// Writes the input tensor for `faces` into `out` (cleared first), in the model's layout.
pub fn fill_batch(faces: &[GrayFace], spec: &InputSpec, norm: &Normalization, out: &mut Vec<f32>) -> opencv::Result<()> {
    out.clear();
    out.resize(faces.len() * spec.values_per_face(), 0.0);
    let (h, w, channels) = (spec.height, spec.width, spec.channels);
    let plane = h * w;
    // Per-channel affine map from a pixel value, so the inner loop is one multiply-add.
    let gains: Vec<f32> = (0..channels).map(|c| norm.pixel_scale / norm.channel(&norm.std, c)).collect();
    let offsets: Vec<f32> = (0..channels).map(|c| -norm.channel(&norm.mean, c) / norm.channel(&norm.std, c)).collect();
    for (n, face) in faces.iter().enumerate() {
        let resized;
        let pixels: &[u8] = if h == FACE_SIDE_PX as usize && w == FACE_SIDE_PX as usize {
            &face.pixels
        } else {
            resized = resize_face(face, w, h)?;
            &resized
        };
        let base = n * spec.values_per_face();
        let dst = &mut out[base..base + spec.values_per_face()];
        match spec.layout {
            Layout::Nchw => {
                for c in 0..channels {
                    for (d, &p) in dst[c * plane..(c + 1) * plane].iter_mut().zip(pixels) {
                        *d = p as f32 * gains[c] + offsets[c];
                    }
                }
            }
            Layout::Nhwc => {
                for (i, &p) in pixels.iter().enumerate() {
                    for c in 0..channels {
                        dst[i * channels + c] = p as f32 * gains[c] + offsets[c];
                    }
                }
            }
        }
    }
    Ok(())
}

fn resize_face(face: &GrayFace, width: usize, height: usize) -> opencv::Result<Vec<u8>> {
    let src = Mat::new_rows_cols_with_data(FACE_SIDE_PX, FACE_SIDE_PX, &face.pixels)?;
    let mut dst = Mat::default();
    imgproc::resize(&src, &mut dst, Size::new(width as i32, height as i32), 0.0, 0.0, imgproc::INTER_LINEAR)?;
    debug_assert_eq!(dst.typ(), CV_8UC1);
    Ok(dst.data_bytes()?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp_face() -> GrayFace {
        GrayFace::from_pixels((0..48 * 48).map(|i| (i % 256) as u8).collect()).unwrap()
    }

    fn spec(layout: Layout, channels: usize, side: usize) -> InputSpec {
        InputSpec { layout, channels, height: side, width: side, fixed_batch: None }
    }

    #[test]
    fn nchw_grey_with_mean_and_std() {
        let norm = Normalization { pixel_scale: 1.0 / 255.0, mean: vec![0.5], std: vec![0.5] };
        let mut out = Vec::new();
        fill_batch(&[ramp_face()], &spec(Layout::Nchw, 1, 48), &norm, &mut out).unwrap();
        assert_eq!(out.len(), 48 * 48);
        assert!((out[0] - -1.0).abs() < 1e-6); // pixel 0
        assert!((out[255] - 1.0).abs() < 1e-6); // pixel 255
    }

    #[test]
    fn nhwc_and_nchw_hold_the_same_values_in_another_order() {
        let norm = Normalization { pixel_scale: 1.0, mean: vec![1.0, 2.0, 3.0], std: vec![1.0, 2.0, 4.0] };
        let faces = [ramp_face(), ramp_face()];
        let (mut nchw, mut nhwc) = (Vec::new(), Vec::new());
        fill_batch(&faces, &spec(Layout::Nchw, 3, 48), &norm, &mut nchw).unwrap();
        fill_batch(&faces, &spec(Layout::Nhwc, 3, 48), &norm, &mut nhwc).unwrap();
        let plane = 48 * 48;
        for n in 0..2 {
            for c in 0..3 {
                for i in [0, 17, plane - 1] {
                    assert_eq!(nchw[n * 3 * plane + c * plane + i], nhwc[n * 3 * plane + i * 3 + c]);
                }
            }
        }
        // Channel 2 of pixel 17: (17 - 3) / 4.
        assert_eq!(nhwc[17 * 3 + 2], 3.5);
    }

    #[test]
    fn resizes_to_the_model_size() {
        let face = GrayFace::from_pixels(vec![100; 48 * 48]).unwrap();
        let mut out = Vec::new();
        fill_batch(&[face], &spec(Layout::Nchw, 1, 64), &Normalization::default(), &mut out).unwrap();
        assert_eq!(out.len(), 64 * 64);
        assert!(out.iter().all(|v| (v - 100.0 / 255.0).abs() < 1e-6));
    }

    #[test]
    fn shape_follows_the_layout() {
        assert_eq!(spec(Layout::Nchw, 1, 48).shape(4), [4, 1, 48, 48]);
        assert_eq!(spec(Layout::Nhwc, 3, 64).shape(2), [2, 64, 64, 3]);
    }

    #[test]
    fn validation_catches_mismatched_channels_and_zero_std() {
        let norm = Normalization { pixel_scale: 1.0, mean: vec![0.0, 0.0], std: vec![1.0] };
        assert!(norm.validate(3).is_err());
        let zero = Normalization { pixel_scale: 1.0, mean: vec![0.0], std: vec![0.0] };
        assert!(zero.validate(1).is_err());
        assert!(Normalization::default().validate(3).is_ok());
    }
}
