//! Saving the annotated frame as a PNG at the source's native resolution, on a background
//! thread (PNG encoding of a 1080p frame takes tens of ms).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender};
use opencv::core::Mat;

use super::workers::Workers;
use crate::inference::classifier::ModelInfo;
use crate::output::annotate::{annotate, FaceAnnotation};
use crate::pipeline::FaceResult;

/// Environment variable naming the screenshot folder (`--screenshots` wins over it).
pub const SCREENSHOT_DIR_ENV: &str = "EMOCAM_SCREENSHOT_DIR";

/// Where screenshots go: `--screenshots`, `$EMOCAM_SCREENSHOT_DIR`, `<Pictures>/emocam`, or
/// `./screenshots` when the system has no pictures folder.
pub fn screenshot_dir(from_command_line: Option<&Path>) -> PathBuf {
    if let Some(dir) = from_command_line {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(SCREENSHOT_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::UserDirs::new().and_then(|dirs| dirs.picture_dir().map(|p| p.join("emocam"))).unwrap_or_else(|| PathBuf::from("screenshots"))
}

/// A file name that sorts by time and says which model scored the faces.
pub fn file_name(now: chrono::DateTime<chrono::Local>, model_name: &str, extension: &str) -> String {
    let model: String = model_name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
    format!("emocam_{}_{model}.{extension}", now.format("%Y-%m-%d_%H-%M-%S%.3f"))
}

/// What a screenshot needs: the raw frame and the results to draw on it.
pub struct ScreenshotJob {
    pub frame: Mat,
    pub faces: Vec<FaceResult>,
    /// The model that scored `faces` (its labels and name).
    pub model: Arc<ModelInfo>,
    pub dir: PathBuf,
}

/// Saves screenshots one at a time in the background; results come back on `done()`.
pub struct ScreenshotSaver {
    done_tx: Sender<anyhow::Result<PathBuf>>,
    done_rx: Receiver<anyhow::Result<PathBuf>>,
    last_saved: Option<PathBuf>,
}

impl Default for ScreenshotSaver {
    fn default() -> Self {
        let (done_tx, done_rx) = crossbeam_channel::bounded(16);
        Self { done_tx, done_rx, last_saved: None }
    }
}

impl ScreenshotSaver {
    /// Starts saving; `repaint` is called when the outcome is ready. Fails only when the
    /// thread that saves cannot start.
    pub fn save(&self, workers: &mut Workers, job: ScreenshotJob, repaint: impl Fn() + Send + 'static) -> std::io::Result<()> {
        let done = self.done_tx.clone();
        workers.spawn("emocam-screenshot", move |_stop| {
            let _ = done.send(write_screenshot(job));
            repaint();
        })
    }

    /// Outcomes that arrived since the last call.
    pub fn finished(&mut self) -> Vec<anyhow::Result<PathBuf>> {
        let outcomes: Vec<_> = self.done_rx.try_iter().collect();
        for path in outcomes.iter().flatten() {
            self.last_saved = Some(path.clone());
        }
        outcomes
    }

    pub fn last_saved(&self) -> Option<&Path> {
        self.last_saved.as_deref()
    }
}

/// Draws the results on a copy of the native frame (the same drawing as `emocam analyze
/// --annotate`) and writes it as PNG.
pub fn write_screenshot(job: ScreenshotJob) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&job.dir).with_context(|| format!("cannot create the screenshot folder {}", job.dir.display()))?;
    let path = job.dir.join(file_name(chrono::Local::now(), &job.model.display_name, "png"));
    let mut image = job.frame;
    let faces: Vec<FaceAnnotation<'_>> = job.faces.iter().map(FaceAnnotation::from).collect();
    annotate(&mut image, &faces, &job.model.labels).context("drawing the results on the screenshot")?;
    crate::output::image::write_image(&path, &image).with_context(|| format!("is the screenshot folder {} writable?", job.dir.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn file_names_carry_time_and_a_safe_model_name() {
        let when = chrono::Local.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).single().expect("valid date");
        assert_eq!(file_name(when, "emonet tiny/v2", "png"), "emocam_2024-05-06_07-08-09.000_emonet_tiny_v2.png");
    }

    #[test]
    fn command_line_folder_wins() {
        assert_eq!(screenshot_dir(Some(Path::new("/x/y"))), PathBuf::from("/x/y"));
    }
}
