//! `emocam eval-detect`: detection scored against annotated photos, beside plain Haar
//! ([`crate::vision::evaluate`]), or the rendered clips written as videos.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use opencv::core::Size;

use super::DetectorArgs;
use crate::output::video_file::VideoFile;
use crate::vision::evaluate::{clip_frames, evaluate, load_annotated_photos, AnnotatedPhoto, CLIP_FPS};

/// `emocam eval-detect`: the report, or with `--write-clips` the clips as videos.
pub(super) fn run(args: &EvalDetectArgs) -> anyhow::Result<()> {
    if let Some(clips_dir) = &args.write_clips {
        std::fs::create_dir_all(clips_dir).with_context(|| format!("cannot create folder {}", clips_dir.display()))?;
        let photos = load_annotated_photos(&args.dir)?;
        for &size in &args.sizes {
            let path = clips_dir.join(format!("group_{}x{}.avi", size.width, size.height));
            let frames = write_clip(&photos, size, args.frames_per_photo, &path)?;
            println!("wrote {frames} frames to {}", path.display());
        }
        return Ok(());
    }
    let report = evaluate(&args.dir, &args.detector.settings(), &args.sizes, args.frames_per_photo)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct EvalDetectArgs {
    /// Folder with annotated photos and their faces.json ({"photo.jpg": [[x, y, w, h], ...]})
    #[arg(env = "EMOCAM_FACES_DIR", default_value = "../shared/faces")]
    dir: PathBuf,
    /// Clip frame sizes to render the photos at
    #[arg(long = "size", value_name = "WxH", value_parser = parse_frame_size, default_values = ["640x480", "1280x720"])]
    sizes: Vec<Size>,
    /// Frames per photo in the clips
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    frames_per_photo: u32,
    /// Print the figures as one JSON object instead of a table
    #[arg(long)]
    json: bool,
    /// Instead of scoring, write each clip as a video, DIR/group_<W>x<H>.avi (30 frames/s),
    /// for trying the app and `bench` on group scenes
    #[arg(long, value_name = "DIR")]
    write_clips: Option<PathBuf>,
    #[command(flatten)]
    detector: DetectorArgs,
}

/// A `--size` that is not WIDTHxHEIGHT within the sizes a clip can have.
#[derive(Debug, thiserror::Error)]
#[error("expected WIDTHxHEIGHT between 16x16 and 7680x4320, like 640x480, got '{0}'")]
pub(super) struct FrameSizeError(String);

fn parse_frame_size(text: &str) -> Result<Size, FrameSizeError> {
    let parsed = text.split_once('x').and_then(|(w, h)| Some((w.trim().parse::<i32>().ok()?, h.trim().parse::<i32>().ok()?)));
    match parsed {
        Some((w, h)) if (16..=7680).contains(&w) && (16..=4320).contains(&h) => Ok(Size::new(w, h)),
        _ => Err(FrameSizeError(text.to_string())),
    }
}

/// Writes the clip `evaluate_clip` scores as a video (30 frames/s), complete or absent.
fn write_clip(photos: &[AnnotatedPhoto], frame_size: Size, frames_per_photo: u32, path: &Path) -> anyhow::Result<u64> {
    let mut video = VideoFile::create(path, CLIP_FPS, frame_size)?;
    for frame in clip_frames(photos, frame_size, frames_per_photo) {
        video.write(&frame?.image)?;
    }
    Ok(video.finish()?)
}
