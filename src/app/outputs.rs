//! What the app writes: screenshots (one background thread each) and CSV recordings (the
//! recorder thread), both into the screenshot folder.

use std::path::PathBuf;

use super::record::Recorder;
use super::screenshot::ScreenshotSaver;

pub struct Outputs {
    pub dir: PathBuf,
    pub screenshots: ScreenshotSaver,
    pub recorder: Recorder,
}

impl Outputs {
    pub fn new(dir: PathBuf, repaint: impl Fn() + Send + 'static) -> Self {
        Self { dir, screenshots: ScreenshotSaver::default(), recorder: Recorder::new(repaint) }
    }
}
