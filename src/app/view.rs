//! What is on screen: the frame (as a texture) with its results, which face is selected, the
//! timeline, and the display figures (frames shown, latency, time per UI pass).

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
        self.latency.add(ready.result.captured_at.elapsed());
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
