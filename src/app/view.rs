//! What is on screen: the frame (as a texture) with its results, which face is selected, the
//! timeline, and the display figures (frames shown, latency, time per UI pass), optionally
//! logged frame by frame ([`ShownFramesLog`]).

use super::overlay;
use super::timeline::Timeline;
use super::video::{LatencyMeter, ReadyFrame};
use crate::pipeline::{FaceResult, FrameResult};

#[derive(Default)]
pub struct View {
    texture: Option<egui::TextureHandle>,
    current: Option<FrameResult>,
    frames_shown: u64,
    pub latency: LatencyMeter,
    /// Time spent in `EmocamApp::ui` per pass.
    pub ui_time: LatencyMeter,
    /// A face the user clicked; `None` follows the largest face.
    picked_face: Option<u64>,
    pub timeline: Timeline,
    /// The side panel shown or hidden by the user; `None`: by the window's width.
    pub side_panel_wanted: Option<bool>,
    shown_log: ShownFramesLog,
}

impl View {
    /// Shows a new frame from the display thread.
    pub fn show_frame(&mut self, ctx: &egui::Context, ready: ReadyFrame) {
        if let Some(image) = ready.image {
            match &mut self.texture {
                // Same texture every frame: only the pixels are replaced.
                Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
                None => self.texture = Some(ctx.load_texture("emocam-video", image, egui::TextureOptions::LINEAR)),
            }
        }
        // The frame is painted at the end of this pass; measuring here leaves out only painting.
        let latency = ready.result.captured_at.elapsed();
        self.latency.add(latency);
        self.shown_log.add(&ready.result, latency);
        self.frames_shown += 1;
        self.timeline.add(&ready.result);
        self.set_result(ready.result);
    }

    /// New results for the frame already on screen (scored again after a change).
    pub fn set_result(&mut self, result: FrameResult) {
        self.current = Some(result);
        if self.picked_face.is_some() && !self.faces().iter().any(|f| Some(f.track_id) == self.picked_face) {
            self.picked_face = None;
        }
    }

    pub fn current(&self) -> Option<&FrameResult> {
        self.current.as_ref()
    }

    pub fn texture(&self) -> Option<&egui::TextureHandle> {
        self.texture.as_ref()
    }

    pub fn faces(&self) -> &[FaceResult] {
        self.current.as_ref().map(|r| r.faces.as_slice()).unwrap_or(&[])
    }

    pub fn frames_shown(&self) -> u64 {
        self.frames_shown
    }

    /// The face shown in the side panel: the one clicked, else the largest.
    pub fn selected_face(&self) -> Option<u64> {
        let faces = self.faces();
        self.picked_face.filter(|id| faces.iter().any(|f| f.track_id == *id)).or_else(|| overlay::largest_face(faces))
    }

    /// True when the user picked the selected face (rather than it being the largest).
    pub fn face_was_picked(&self) -> bool {
        self.picked_face.is_some() && self.selected_face() == self.picked_face
    }

    pub fn pick_face(&mut self, track_id: u64) {
        self.picked_face = Some(track_id);
    }
}

/// `EMOCAM_SHOWN_FRAMES_LOG=/path/file.jsonl`: when set, the app writes one JSON line per frame
/// it shows, `{"frame": 12, "latency_ms": 41.3, "faces": [[x, y, w, h], ...]}`: the frame's
/// index in the source (0-based, as a video's frame numbers), its capture-to-display latency (the
/// figure the exit summary's p95 is taken over) and the face boxes drawn on it, in frame pixels
/// (a face is drawn once it has scores; `[]` when none). `scripts/measure_live_detection.sh`
/// scores it against a clip's annotated faces. Opened at the first frame shown, written through
/// an 8 KiB buffer (a write to the disk every 50 to 100 frames) and flushed when the app closes; a
/// failure is a warning, once, and ends the log.
pub const SHOWN_FRAMES_LOG_VAR: &str = "EMOCAM_SHOWN_FRAMES_LOG";

#[derive(Default)]
enum ShownFramesLog {
    /// No frame shown yet: the variable has not been read.
    #[default]
    Unopened,
    Writing(std::io::BufWriter<std::fs::File>, std::path::PathBuf),
    /// Not asked for, or failed.
    Off,
}

#[derive(serde::Serialize)]
struct ShownFrame {
    frame: u64,
    latency_ms: f64,
    faces: Vec<[i32; 4]>,
}

impl ShownFramesLog {
    fn add(&mut self, result: &FrameResult, latency: std::time::Duration) {
        if let Self::Unopened = self {
            *self = match std::env::var_os(SHOWN_FRAMES_LOG_VAR).filter(|path| !path.is_empty()) {
                None => Self::Off,
                Some(path) => {
                    let path = std::path::PathBuf::from(path);
                    match std::fs::File::create(&path) {
                        Ok(file) => Self::Writing(std::io::BufWriter::new(file), path),
                        Err(error) => {
                            tracing::warn!("{SHOWN_FRAMES_LOG_VAR}: cannot write {}: {error}", path.display());
                            Self::Off
                        }
                    }
                }
            };
        }
        let Self::Writing(out, path) = self else { return };
        // The boxes the overlay draws: those of faces with scores (`overlay::show_faces`).
        let faces = result
            .faces
            .iter()
            .filter(|f| crate::inference::scores::top(&f.probabilities).is_some())
            .map(|f| [f.bbox.x, f.bbox.y, f.bbox.width, f.bbox.height]);
        let line = ShownFrame { frame: result.frame_index, latency_ms: latency.as_secs_f64() * 1e3, faces: faces.collect() };
        let written = serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from).and_then(|()| std::io::Write::write_all(out, b"\n"));
        if let Err(error) = written {
            tracing::warn!("{SHOWN_FRAMES_LOG_VAR}: cannot write {}: {error}; no more frames are logged", path.display());
            *self = Self::Off;
        }
    }
}

impl Drop for ShownFramesLog {
    fn drop(&mut self) {
        if let Self::Writing(out, path) = self {
            if let Err(error) = std::io::Write::flush(out) {
                tracing::warn!("{SHOWN_FRAMES_LOG_VAR}: cannot write {}: {error}", path.display());
            }
        }
    }
}
