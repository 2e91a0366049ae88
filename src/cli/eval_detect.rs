//! `emocam eval-detect`: detection scored against annotated photos, BlazeFace and Haar beside plain Haar
//! ([`crate::vision::evaluate`]), or the rendered clips written as videos with their truth
//! (`group_<W>x<H>.truth.json`, scored against the app by `scripts/measure_live_detection.sh`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use opencv::core::Size;

use super::DetectorArgs;
use crate::output::pending_file::PendingFile;
use crate::output::video_file::VideoFile;
use crate::vision::evaluate::{clip_frames, evaluate, load_annotated_photos, AnnotatedPhoto, CLIP_FPS};

/// `emocam eval-detect`: the report, or with `--write-clips` the clips as videos.
pub(super) fn run(args: &EvalDetectArgs) -> anyhow::Result<()> {
    if let Some(clips_dir) = &args.write_clips {
        std::fs::create_dir_all(clips_dir).with_context(|| format!("cannot create folder {}", clips_dir.display()))?;
        let photos = load_annotated_photos(&args.dir)?;
        for &size in &args.sizes {
            let path = clips_dir.join(format!("group_{}x{}.avi", size.width, size.height));
            let truth_path = clips_dir.join(format!("group_{}x{}.truth.json", size.width, size.height));
            let frames = write_clip(&photos, size, args.frames_per_photo, &path, &truth_path)?;
            println!("wrote {frames} frames to {} and their faces to {}", path.display(), truth_path.display());
        }
        return Ok(());
    }
    let report = evaluate(&args.dir, &args.detector.settings()?, args.detector.detector, &args.sizes, args.frames_per_photo)?;
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
    /// for trying the app and `bench` on group scenes, and its annotated faces per frame beside
    /// it, DIR/group_<W>x<H>.truth.json
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

/// The annotated faces of one clip frame, as `[x, y, w, h]` in frame pixels.
#[derive(serde::Serialize)]
struct FrameTruth {
    /// 0-based, as the video's frame numbers (and the app's frame indices).
    frame: u64,
    /// Faces that must be found.
    faces: Vec<[i32; 4]>,
    /// Faces cut by the frame's edge: finding them is neither required nor false.
    partial_faces: Vec<[i32; 4]>,
}

/// A clip's `.truth.json`: the frame size and rate, and every frame's faces in frame order;
/// scored with `evaluate::is_match` and `Score::add_frame`'s rule.
#[derive(serde::Serialize)]
struct ClipTruth {
    width: i32,
    height: i32,
    fps: f64,
    frames_per_photo: u32,
    frames: Vec<FrameTruth>,
}

/// Writes the clip `evaluate_clip` scores as a video (30 frames/s) and its faces per frame to
/// `truth_path`, each complete or absent (the truth is moved into place after the video).
fn write_clip(photos: &[AnnotatedPhoto], frame_size: Size, frames_per_photo: u32, path: &Path, truth_path: &Path) -> anyhow::Result<u64> {
    let as_list = |r: &opencv::core::Rect| [r.x, r.y, r.width, r.height];
    let mut video = VideoFile::create(path, CLIP_FPS, frame_size)?;
    let mut truth = ClipTruth { width: frame_size.width, height: frame_size.height, fps: CLIP_FPS, frames_per_photo, frames: Vec::new() };
    for (index, frame) in clip_frames(photos, frame_size, frames_per_photo).enumerate() {
        let frame = frame?;
        video.write(&frame.image)?;
        truth.frames.push(FrameTruth {
            frame: index as u64,
            faces: frame.faces.iter().map(as_list).collect(),
            partial_faces: frame.partial_faces.iter().map(as_list).collect(),
        });
    }
    let pending = PendingFile::beside(truth_path)?;
    std::fs::write(pending.path(), serde_json::to_vec(&truth)?).with_context(|| format!("cannot write {}", truth_path.display()))?;
    let frames = video.finish()?;
    pending.commit()?;
    Ok(frames)
}
