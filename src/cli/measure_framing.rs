//! `emocam measure-framing`: how FER-2013 crops relate to a detector's boxes.
//!
//! Runs the detector on FER-2013 faces (upscaled, since 48 px is near the cascade's 24 px limit;
//! for BlazeFace also set in a border, so that the face is not cut by the picture's edge, as
//! `python -m emotrain.end_to_end` shows them) and reports the median crop side over box width and the vertical offset of the
//! crop centre: the [`crate::vision::face::Framing`] that makes live crops look like training data.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use opencv::core::{Rect, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;

use crate::source::{is_image_path, read_image};
use crate::vision::detect::{load_cascade, DetectorKind, DetectorSettings, FaceFinder};
use crate::vision::face::to_grey;

/// FER faces are upscaled to this side before detection.
const UPSCALED_SIDE_PX: i32 = 192;

/// Options of `emocam measure-framing`.
#[derive(Debug, clap::Args)]
pub(super) struct MeasureFramingArgs {
    /// Folder of face images, searched recursively (e.g. ../shared/fer2013/train)
    dir: PathBuf,
    /// Images to measure
    #[arg(long, default_value_t = 3000)]
    limit: usize,
    /// The detector whose boxes are measured
    #[arg(long, value_enum, default_value_t = DetectorKind::default())]
    detector: DetectorKind,
}

/// BlazeFace sees each face upscaled to this side, in a border of a quarter of it.
const BLAZEFACE_UPSCALED_SIDE_PX: i32 = 224;
const BLAZEFACE_BORDER_PX: i32 = 56;

pub(super) fn run(MeasureFramingArgs { dir, limit, detector }: &MeasureFramingArgs) -> Result<()> {
    let (dir, limit) = (dir.as_path(), *limit);
    let mut files = Vec::new();
    collect_images(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        bail!("no images under {}", dir.display());
    }
    // Spread the sample over all classes instead of taking the first folder.
    let step = (files.len() / limit.max(1)).max(1);
    let sample: Vec<&PathBuf> = files.iter().step_by(step).take(limit).collect();
    let (measured, mut scales, mut shifts) = match detector {
        DetectorKind::Haar => haar_framing(&sample)?,
        DetectorKind::Blazeface => blazeface_framing(&sample)?,
    };
    if scales.is_empty() {
        bail!("no face found in {measured} images");
    }
    println!("faces found in {} of {measured} images", scales.len());
    println!("crop side / {detector} box width: median {:.3}", median(&mut scales));
    println!("crop centre below box centre, in box heights: median {:.3}", median(&mut shifts));
    Ok(())
}

/// The images measured, and for each face found alone in one: crop side over box width, and
/// the crop centre's shift below the box centre in box heights.
type Measurements = (usize, Vec<f64>, Vec<f64>);

/// BlazeFace, as the app runs it on a still.
fn blazeface_framing(sample: &[&PathBuf]) -> Result<Measurements> {
    let mut finder = FaceFinder::new(DetectorSettings { detector: DetectorKind::Blazeface, ..DetectorSettings::default() })?;
    let (mut scales, mut shifts) = (Vec::new(), Vec::new());
    let side = BLAZEFACE_UPSCALED_SIDE_PX;
    for path in sample {
        let grey = to_grey(&read_image(path)?)?;
        let mut big = opencv::core::Mat::default();
        imgproc::resize(&grey, &mut big, Size::new(side, side), 0.0, 0.0, imgproc::INTER_CUBIC)?;
        let mut framed = opencv::core::Mat::default();
        let border = BLAZEFACE_BORDER_PX;
        opencv::core::copy_make_border(&big, &mut framed, border, border, border, border, opencv::core::BORDER_REPLICATE, opencv::core::Scalar::default())?;
        let found = finder.find_in_still(&framed, &framed)?;
        let [face] = found.as_slice() else { continue };
        let face = face.bbox;
        scales.push(side as f64 / face.width as f64);
        let centre_y = face.y as f64 + face.height as f64 / 2.0;
        shifts.push(((border + side / 2) as f64 - centre_y) / face.height as f64);
    }
    Ok((sample.len(), scales, shifts))
}

/// The default cascade, on equalised upscaled faces (how `HAAR_FRAMING` was measured).
fn haar_framing(sample: &[&PathBuf]) -> Result<Measurements> {
    let mut cascade = load_cascade(&crate::resources::cascade_path(crate::vision::detect::DEFAULT_CASCADE))?;
    let (mut scales, mut shifts) = (Vec::new(), Vec::new());
    for path in sample {
        let grey = to_grey(&read_image(path)?)?;
        let mut big = opencv::core::Mat::default();
        imgproc::resize(&grey, &mut big, Size::new(UPSCALED_SIDE_PX, UPSCALED_SIDE_PX), 0.0, 0.0, imgproc::INTER_CUBIC)?;
        let mut equalized = opencv::core::Mat::default();
        imgproc::equalize_hist(&big, &mut equalized)?;
        let mut found = Vector::<Rect>::new();
        cascade.detect_multi_scale(&equalized, &mut found, 1.05, 5, 0, Size::new(UPSCALED_SIDE_PX / 3, UPSCALED_SIDE_PX / 3), Size::default())?;
        if found.len() != 1 {
            continue;
        }
        let face = found.get(0)?;
        scales.push(UPSCALED_SIDE_PX as f64 / face.width as f64);
        let centre_y = face.y as f64 + face.height as f64 / 2.0;
        shifts.push((UPSCALED_SIDE_PX as f64 / 2.0 - centre_y) / face.height as f64);
    }
    Ok((sample.len(), scales, shifts))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn collect_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_images(&path, out)?;
        } else if is_image_path(&path) {
            out.push(path);
        }
    }
    Ok(())
}
