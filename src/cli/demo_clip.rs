//! `emocam demo-clip`: the built-in demo as a video file, for tests and benchmarks.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;

use super::number_in;
use crate::output::video_file::VideoFile;
use crate::source::{DemoSource, DEMO_FPS, DEMO_SIZE};

/// Options of `emocam demo-clip`.
#[derive(Debug, Args)]
pub(super) struct DemoClipArgs {
    /// Output video (.avi: MJPG, .mp4: mp4v)
    output: PathBuf,
    /// Number of frames (the demo shows each photo for 300 frames)
    #[arg(long, default_value_t = 300, value_parser = number_in(1..=1_000_000u64))]
    frames: u64,
}

pub(super) fn run(DemoClipArgs { output, frames }: &DemoClipArgs) -> Result<()> {
    crate::interrupt::install().context("cannot set up signal handling")?;
    if !write_demo_clip(output, *frames, || crate::interrupt::requested().is_some())? {
        eprintln!("stopped: no clip written to {}", output.display());
        return Err(crate::interrupt::requested().map_or_else(|| anyhow::anyhow!("stopped"), anyhow::Error::from));
    }
    eprintln!("wrote {frames} frames to {}", output.display());
    Ok(())
}

/// Writes `frames` demo frames to a video file: a clip for tests and benchmarks.
/// Complete or absent (see `output::video_file`); `false` (and no file) when `should_stop` says so first.
fn write_demo_clip(path: &Path, frames: u64, should_stop: impl Fn() -> bool) -> anyhow::Result<bool> {
    let demo = DemoSource::new(true)?;
    let mut video = VideoFile::create(path, DEMO_FPS, DEMO_SIZE)?;
    for index in 0..frames {
        if should_stop() {
            return Ok(false);
        }
        video.write(&demo.render(index)?.1)?;
    }
    video.finish()?;
    Ok(true)
}
