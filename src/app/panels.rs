//! The window's panels: controls on top, status at the bottom, the selected face and settings
//! on the right, the timeline below the video, and the video itself in the middle.

use egui::{Color32, RichText};

use super::overlay::{self, FrameGeometry};
use super::EmocamApp;
use crate::source::SourceSpec;
use crate::vision::detect::DetectorKind;

/// Accessible names of the controls (the UI tests find them by these).
pub const SCREENSHOT_BUTTON: &str = "Screenshot";
pub const RECORD_TOGGLE: &str = "Record";
pub const PAUSE_TOGGLE: &str = "Pause";
pub const DISMISS_BANNER: &str = "Dismiss";
pub const REPLAY_BUTTON: &str = "Replay";
pub const PREVIOUS_PHOTO: &str = "< Previous";
pub const NEXT_PHOTO: &str = "Next >";
pub const FRAME_BACK: &str = "< Frame";
pub const FRAME_FORWARD: &str = "Frame >";
/// The seek bar's accessible name.
pub const SEEK_BAR: &str = "Position in the video";

/// While the seek bar is dragged, a seek goes out at most this often; releasing it always
/// seeks to where it was let go. A seek costs the capture thread a decode from the key frame
/// before the target (a whole group of pictures in an H.264 file, tens of ms at 1080p), so one
/// per pointer move (every 16 ms) would ask for more than it can do: the picture would lag
/// further behind the pointer. The capture thread also keeps only the last of the seeks
/// waiting; this keeps the commands few besides.
const DRAG_SEEK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// The status bar turns the frame rate orange below this share of the source's rate.
const DROPPED_FRAMES_WARNING: f64 = 0.9;

/// Below this window width the side panel folds away (the "Details" toggle brings it back).
const NARROW_WINDOW: f32 = 1000.0;
pub const DETAILS_TOGGLE: &str = "Details";

/// Above this minimum face size, a view with one face or none gets a hint to lower it.
const FEW_FACES_HINT_MIN_FACE: f32 = 0.08;

impl EmocamApp {
    pub(super) fn top_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("emocam-top").show(ui, |ui| {
            ui.add_space(2.0);
            ui.horizontal_wrapped(|ui| {
                self.model_picker(ui);
                ui.separator();
                self.source_picker(ui);
                ui.separator();
                if ui.button(SCREENSHOT_BUTTON).on_hover_text("Save the annotated frame at full resolution (S)").clicked() {
                    self.take_screenshot();
                }
                let mut recording = self.is_recording();
                if ui.toggle_value(&mut recording, RECORD_TOGGLE).on_hover_text("Write one CSV row per face per frame").changed() {
                    self.set_recording(recording);
                }
                let mut paused = self.session.paused;
                if ui.toggle_value(&mut paused, PAUSE_TOGGLE).on_hover_text("Pause the video (Space)").changed() {
                    self.set_paused(paused);
                }
                ui.checkbox(&mut self.settings.mirror, "Mirror").on_hover_text("Show the video mirrored (M)");
                self.player_controls(ui);
                ui.separator();
                let mut open = self.side_panel_open(ui.ctx().content_rect().width());
                if ui.toggle_value(&mut open, DETAILS_TOGGLE).on_hover_text("Show or hide the side panel: selected face, faces, detector").changed() {
                    self.view.side_panel_wanted = Some(open);
                }
            });
            ui.add_space(2.0);
        });
    }

    /// Controls for files: step through a folder's photos, replay or loop a video.
    fn player_controls(&mut self, ui: &mut egui::Ui) {
        if let Some((position, count)) = self.photo_position() {
            ui.separator();
            if ui.add_enabled(position > 1, egui::Button::new(PREVIOUS_PHOTO)).on_hover_text("The previous photo in this folder (Left arrow key)").clicked() {
                self.step_photo(-1);
            }
            ui.label(format!("photo {position} of {count}"));
            if ui.add_enabled(position < count, egui::Button::new(NEXT_PHOTO)).on_hover_text("The next photo in this folder (Right arrow key)").clicked() {
                self.step_photo(1);
            }
        }
        if matches!(self.session.source, Some(SourceSpec::Video(_))) {
            ui.separator();
            if ui.add_enabled(self.session.finished(), egui::Button::new(REPLAY_BUTTON)).on_hover_text("Play the video again from the start").clicked() {
                self.replay();
            }
            ui.checkbox(&mut self.settings.loop_video, "Loop").on_hover_text("Start the video again when it ends");
        }
    }

    /// Under the video, for video files: step back, the seek bar (drag or click it), step
    /// forward, and where the video is in mm:ss and frames. A file that cannot seek shows the
    /// bar greyed out, with the reason on hover.
    pub(super) fn seek_panel(&mut self, ui: &mut egui::Ui) {
        if !matches!(self.session.source, Some(SourceSpec::Video(_))) || self.session.starting.is_some() {
            return;
        }
        let Some(pipeline) = self.session.pipeline.as_ref() else { return };
        let total = pipeline.source_frame_count().filter(|&n| n > 0);
        let fps = pipeline.source_fps();
        let seekable = self.session.seekable().is_some();
        let shown = self.view.current().map(|r| r.frame_index).unwrap_or(0);
        // The handle stays where it was dragged or sent until that frame comes.
        let position = self.session.scrub.or(self.session.seek.map(|s| s.frame)).unwrap_or(shown);
        egui::Panel::bottom("emocam-seek").show(ui, |ui| {
            ui.add_space(2.0);
            ui.horizontal(|ui| {
                let mut step = 0;
                if ui
                    .add_enabled(seekable, egui::Button::new(FRAME_BACK))
                    .on_hover_text("One frame back, paused (,)")
                    .on_disabled_hover_text(NOT_SEEKABLE)
                    .clicked()
                {
                    step = -1;
                }
                if ui
                    .add_enabled(seekable, egui::Button::new(FRAME_FORWARD))
                    .on_hover_text("One frame forward, paused (.)")
                    .on_disabled_hover_text(NOT_SEEKABLE)
                    .clicked()
                {
                    step = 1;
                }
                let time = |frame: u64| fps.map(|fps| clock(frame as f64 / fps));
                let label = match (time(position), total.and_then(time)) {
                    (Some(now), Some(length)) => format!("{now} / {length}"),
                    (Some(now), None) => now,
                    _ => String::new(),
                };
                ui.label(RichText::new(label).monospace());
                let frames = match total {
                    // As wide as the last frame's number: the bar keeps its length as it moves.
                    Some(total) => format!("frame {:>width$} of {total}", (position + 1).min(total), width = total.to_string().len()),
                    None => format!("frame {}", position + 1),
                };
                // The frame count on the right, the bar taking the width between.
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(RichText::new(frames).monospace());
                    let last = total.unwrap_or(1).saturating_sub(1).max(1);
                    let mut value = position.min(last);
                    ui.spacing_mut().slider_width = ui.available_width().max(80.0);
                    let slider = egui::Slider::new(&mut value, 0..=last).show_value(false).clamping(egui::SliderClamping::Always);
                    let response = ui.add_enabled(seekable && total.is_some(), slider).on_disabled_hover_text(NOT_SEEKABLE);
                    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, true, SEEK_BAR));
                    self.seek_bar_moved(&response, value);
                });
                if step != 0 {
                    self.step_frame(step);
                }
            });
            ui.add_space(2.0);
        });
    }

    /// Seeks as the bar is dragged (at most every [`DRAG_SEEK_INTERVAL`]), let go, clicked, or
    /// moved with the arrow keys while it has the focus.
    fn seek_bar_moved(&mut self, response: &egui::Response, value: u64) {
        let frame = if response.dragged() {
            if response.changed() {
                self.session.scrub = Some(value);
            }
            let due = self.session.last_drag_seek.is_none_or(|last| last.elapsed() >= DRAG_SEEK_INTERVAL);
            self.session.scrub.filter(|_| due && response.changed())
        } else if response.drag_stopped() {
            self.session.last_drag_seek = None;
            Some(self.session.scrub.take().unwrap_or(value))
        } else {
            // A click on the bar, or the arrow keys while it has the focus.
            self.session.scrub = None;
            response.changed().then_some(value)
        };
        // Let go where the last seek while dragging went: that frame is coming already.
        if let Some(frame) = frame.filter(|&f| self.session.seek.is_none_or(|s| s.frame != f)) {
            if response.dragged() {
                self.session.last_drag_seek = Some(std::time::Instant::now());
            }
            self.seek_to(frame);
        }
    }

    fn model_picker(&mut self, ui: &mut egui::Ui) {
        let current = self.current_model_path().map(std::path::PathBuf::from);
        let selected_text = match (&self.session.model, &self.session.pending_model) {
            (_, Some(pending)) => format!("loading {}…", pending.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()),
            (Some(model), None) => model.display_name.clone(),
            (None, None) => "no model".into(),
        };
        let mut chosen = None;
        ui.label("Model");
        egui::ComboBox::from_id_salt("emocam-model").selected_text(selected_text).width(260.0).height(400.0).show_ui(ui, |ui| {
            if self.catalog.models.is_scanning() {
                ui.label("reading models…");
            }
            for (i, entry) in self.catalog.models.entries().iter().enumerate() {
                let is_current = current.as_deref().is_some_and(|c| super::models::same_file(c, &entry.path));
                let key = if i < 9 { format!("{}. ", i + 1) } else { String::new() };
                let text = RichText::new(format!("{key}{}", entry.title()));
                let text = if entry.info.is_ok() { text } else { text.color(ui.visuals().warn_fg_color) };
                if ui.selectable_label(is_current, text).on_hover_text(entry.details()).clicked() {
                    chosen = Some(entry.path.clone());
                }
            }
        });
        if ui.button(super::open::OPEN_MODEL_BUTTON).on_hover_text("Use an .onnx model from anywhere").clicked() {
            self.open.open(super::open::OpenKind::Model);
        }
        if let Some(path) = chosen {
            self.switch_model(path);
        }
    }

    fn source_picker(&mut self, ui: &mut egui::Ui) {
        let playing = match (&self.session.source, &self.session.starting) {
            (_, Some(_)) => "starting…".to_string(),
            (Some(source), None) => source_title(source),
            (None, None) => "no source".into(),
        };
        let mut chosen: Option<SourceSpec> = None;
        ui.label("Source");
        let menu = egui::ComboBox::from_id_salt("emocam-source").selected_text(playing).width(170.0).show_ui(ui, |ui| {
            let cameras = self.catalog.cameras(self.session.source.as_ref());
            for &index in &cameras {
                let spec = SourceSpec::Camera(index);
                if ui.selectable_label(self.session.source.as_ref() == Some(&spec), source_title(&spec)).clicked() {
                    chosen = Some(spec);
                }
            }
            if self.catalog.probing() {
                ui.label("looking for cameras…");
            } else if cameras.is_empty() && self.catalog.cameras_probed() {
                ui.label("no camera found");
            }
            if ui.selectable_label(self.session.source == Some(SourceSpec::Demo), "Built-in demo").clicked() {
                chosen = Some(SourceSpec::Demo);
            }
            if !self.settings.recent_files.is_empty() {
                ui.separator();
                ui.label(RichText::new("Recent files").small());
                for path in &self.settings.recent_files {
                    let spec: SourceSpec = path.display().to_string().parse().unwrap_or(SourceSpec::Video(path.clone()));
                    let name = source_title(&spec);
                    if ui.selectable_label(self.session.source.as_ref() == Some(&spec), name).on_hover_text(path.display().to_string()).clicked() {
                        chosen = Some(spec);
                    }
                }
            }
        });
        // Probing opens every camera, so it happens only when someone looks at the list.
        if menu.response.clicked() && !self.catalog.cameras_probed() {
            self.probe_cameras();
        }
        if ui.small_button("Rescan").on_hover_text("Look for cameras again").clicked() {
            self.probe_cameras();
        }
        if ui.button(super::open::OPEN_FILE_BUTTON).on_hover_text("Play a video, a photo or a folder of photos").clicked() {
            self.open.open(super::open::OpenKind::Source);
        }
        if let Some(spec) = chosen {
            self.notices.set_banner(None);
            self.start_source(Some(spec));
        }
    }

    pub(super) fn status_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("emocam-status").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                let stats = self.session.feed.as_ref().map(|f| f.stats()).unwrap_or_default();
                let finished = self.session.finished();
                let state = match (&self.session.source, self.session.paused, finished) {
                    (None, ..) => "Starting",
                    (_, true, _) => "Paused",
                    (_, _, true) => "Finished",
                    _ => "Playing",
                };
                ui.label(RichText::new(state).strong());
                if self.session.rescorer.busy() {
                    ui.spinner();
                    ui.label("updating this frame…").on_hover_text("Finding faces and scoring them again with the new settings or model");
                }
                // Rates and delays describe frames flowing: stale once paused or finished.
                let playing = self.session.source.is_some() && !self.session.paused && !finished;
                if playing {
                    ui.separator();
                    // Frames the source gave that were not shown: the machine cannot keep up.
                    let dropping = stats.capture_fps > 0.0 && stats.processed_fps < DROPPED_FRAMES_WARNING * stats.capture_fps;
                    let rate = RichText::new(format!("{:.0} of {:.0} frames/s shown", stats.processed_fps, stats.capture_fps));
                    ui.label(if dropping { rate.color(Color32::from_rgb(240, 170, 60)) } else { rate })
                        .on_hover_text("Frames analysed and shown per second, of those the source delivered. Orange: frames are being skipped to keep up.");
                    ui.separator();
                    let delay = match self.view.latency.p95_ms() {
                        Some(p95) => format!("delay {p95:.0} ms"),
                        None => "delay –".into(),
                    };
                    ui.label(delay).on_hover_text("From a frame's capture to its display, for 95% of recent frames");
                    ui.separator();
                    ui.label(format!("finding faces {:.1} ms · emotions {:.1} ms", stats.detect_ms, stats.infer_ms))
                        .on_hover_text("Time per frame spent finding faces and classifying them");
                }
                ui.separator();
                ui.label(format!("model: {}", self.current_model_name().unwrap_or("none")));
                if let Some(source) = &self.session.source {
                    ui.separator();
                    ui.label(format!("source: {}", source_title(source)));
                }
                let recording = self.outputs.recorder.is_on().then(|| self.outputs.recorder.status());
                if let Some(super::record::RecordingStatus { rows, file }) = recording {
                    let file = file.map(|p| p.display().to_string());
                    ui.separator();
                    ui.label(RichText::new(format!("REC {rows} rows")).color(Color32::from_rgb(230, 70, 70))).on_hover_text(file.unwrap_or_default());
                }
            });
        });
    }

    pub(super) fn timeline_panel(&mut self, ui: &mut egui::Ui) {
        let selected = self.selected_face();
        // A fifth of the window: the video keeps most of a small window.
        let height = (ui.available_height() * 0.2).clamp(90.0, 220.0);
        egui::Panel::bottom("emocam-timeline").resizable(true).default_size(height).show(ui, |ui| {
            let title = match selected.map(|id| (id, self.view.timeline.span_seconds(id).unwrap_or(0.0))) {
                Some((id, span)) => format!("Face #{id}, last {span:.0} s"),
                None => "Timeline (no face)".into(),
            };
            ui.label(RichText::new(title).strong());
            self.view.timeline.show(ui, selected);
        });
    }

    /// True when the side panel shows: as the user chose, else only in windows wide enough to
    /// leave the video most of the width.
    pub(super) fn side_panel_open(&self, window_width: f32) -> bool {
        self.view.side_panel_wanted.unwrap_or(window_width >= NARROW_WINDOW)
    }

    pub(super) fn side_panel(&mut self, ui: &mut egui::Ui) {
        if !self.side_panel_open(ui.ctx().content_rect().width()) {
            return;
        }
        egui::Panel::right("emocam-side").resizable(true).default_size(280.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                self.selected_face_ui(ui);
                ui.separator();
                // The detector controls above the face list: a list that grows with the faces
                // must not move a slider away from under the pointer.
                self.settings_ui(ui);
                ui.separator();
                self.face_list_ui(ui);
            });
        });
    }

    fn selected_face_ui(&mut self, ui: &mut egui::Ui) {
        let selected = self.selected_face();
        let picked = self.face_was_picked();
        let Some(result) = self.view.current() else {
            ui.heading("Selected face");
            ui.label(if self.session.starting.is_some() { "Starting the video…" } else { "No video" });
            return;
        };
        let Some(face) = selected.and_then(|id| result.faces.iter().find(|f| f.track_id == id)) else {
            ui.heading("Selected face");
            ui.label("No face in view");
            return;
        };
        let how = if picked { "picked" } else { "largest" };
        ui.heading(format!("Face #{} ({how})", face.track_id));
        ui.label(RichText::new(format!("model: {}", result.model.display_name)).small());
        ui.add_space(4.0);
        let best = crate::inference::scores::top(&face.probabilities).map(|(i, _)| i);
        egui::Grid::new("emocam-face-bars").num_columns(3).spacing([8.0, 6.0]).show(ui, |ui| {
            for (i, p) in face.probabilities.iter().enumerate() {
                let name = crate::output::layout::label_name(&result.model.labels, i);
                let text = RichText::new(name);
                ui.label(if best == Some(i) { text.strong() } else { text });
                ui.add(egui::ProgressBar::new(p.clamp(0.0, 1.0)).fill(overlay::label_color(&result.model.labels, i)).desired_width(140.0).corner_radius(2.0));
                ui.label(format!("{:>3.0}%", p * 100.0));
                ui.end_row();
            }
        });
    }

    fn face_list_ui(&mut self, ui: &mut egui::Ui) {
        let Some(result) = self.view.current() else { return };
        ui.label(RichText::new(format!("Faces in view: {}", result.faces.len())).strong());
        let selected = self.selected_face();
        let mut clicked = None;
        for face in &result.faces {
            let text = crate::output::layout::face_title(face.track_id, &face.probabilities, &result.model.labels)
                .map(|(_, title)| title)
                .unwrap_or_else(|| format!("#{}", face.track_id));
            if ui.selectable_label(selected == Some(face.track_id), text).clicked() {
                clicked = Some(face.track_id);
            }
        }
        if let Some(id) = clicked {
            self.pick_face(id);
        }
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Face detector").strong());
        let before = self.settings.clone();
        egui::Grid::new("emocam-detector").num_columns(2).show(ui, |ui| {
            ui.label("Detector");
            egui::ComboBox::from_id_salt("emocam-detector-kind").selected_text(detector_title(self.settings.detector.detector)).show_ui(ui, |ui| {
                for kind in DetectorKind::ALL {
                    ui.selectable_value(&mut self.settings.detector.detector, kind, detector_title(kind));
                }
            });
            ui.end_row();
            let haar = self.settings.detector.detector == DetectorKind::Haar;
            if haar {
                ui.label("Cascade");
                egui::ComboBox::from_id_salt("emocam-cascade").selected_text(self.settings.cascade_label()).show_ui(ui, |ui| {
                    for name in &self.catalog.cascades {
                        ui.selectable_value(&mut self.settings.detector.cascade, name.clone(), super::settings::cascade_title(name));
                    }
                });
                ui.end_row();
            }
            ui.label("Min face size");
            // `Edits`: a value given on the command line or saved outside a slider's range (any
            // the detector accepts) stays as it is until the person moves the slider.
            let clamping = egui::SliderClamping::Edits;
            ui.add(
                egui::Slider::new(&mut self.settings.detector.min_face_fraction, 0.03..=0.6)
                    .clamping(clamping)
                    .custom_formatter(|v, _| format!("{:.0}%", v * 100.0)),
            )
            .on_hover_text("Smallest face, as a share of the frame's shorter side");
            ui.end_row();
            // BlazeFace has no such knobs: its scores decide.
            if !haar {
                return;
            }
            ui.label("Strictness");
            ui.add(egui::Slider::new(&mut self.settings.detector.min_neighbors, 1..=15).clamping(clamping))
                .on_hover_text("Evidence needed per face (Haar neighbours): higher shows fewer false faces but may miss faint ones");
            ui.end_row();
            ui.label("Scale step");
            ui.add(egui::Slider::new(&mut self.settings.detector.scale_factor, 1.05..=1.5).clamping(clamping))
                .on_hover_text("Smaller finds more faces, slower");
            ui.end_row();
        });
        if self.settings.detector != before.detector {
            self.apply_detector_settings();
        }
        // A group at a laptop shows faces a twentieth of the frame high: say why they are missed.
        let faces_in_view = self.view.faces().len();
        if faces_in_view <= 1 && self.settings.detector.min_face_fraction > FEW_FACES_HINT_MIN_FACE {
            ui.label(
                RichText::new(format!(
                    "Faces smaller than {:.0}% of the frame are not looked for: lower \"Min face size\" to find smaller ones",
                    self.settings.detector.min_face_fraction * 100.0
                ))
                .small()
                .color(Color32::from_rgb(230, 190, 90)),
            );
        }
        ui.add_space(4.0);
        if ui.checkbox(&mut self.settings.smoothing, "Smooth over time").on_hover_text("Average each face's scores over recent frames").changed() {
            self.apply_smoothing();
        }
        ui.checkbox(&mut self.settings.show_timeline, "Show timeline");
        ui.add_space(8.0);
        ui.label(RichText::new(format!("Screenshots go to {}", self.outputs.dir.display())).small());
        ui.label(RichText::new("Keys: S screenshot · Space pause · M mirror · 1–9 models · , and . frame back/forward · Left/Right photos").small());
    }

    pub(super) fn video_panel(&mut self, ui: &mut egui::Ui) {
        // No fill: the window is cleared to `VIDEO_BACKGROUND` before painting, and a fill here
        // would be painted again under the whole video, pixel by pixel (`WindowApp::clear_color`).
        egui::CentralPanel::default().frame(egui::Frame::NONE).show(ui, |ui| {
            if let Some(banner) = self.notices.banner() {
                let banner = banner.to_string();
                let mut dismissed = false;
                egui::Frame::NONE.fill(Color32::from_rgb(110, 80, 20)).inner_margin(6.0).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(banner).color(Color32::WHITE).strong());
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            dismissed = ui.small_button(DISMISS_BANNER).clicked();
                        });
                    });
                });
                if dismissed {
                    self.notices.set_banner(None);
                }
            }
            let available = ui.available_rect_before_wrap();
            let (Some(texture), Some(result)) = (self.view.texture(), self.view.current()) else {
                ui.centered_and_justified(|ui| {
                    if self.session.starting.is_some() {
                        ui.spinner();
                    } else {
                        ui.label("No video");
                    }
                });
                return;
            };
            let frame_size = egui::vec2(result.frame_size.width as f32, result.frame_size.height as f32);
            let geometry = FrameGeometry::fit(available, frame_size, self.settings.mirror);
            ui.painter().image(texture.id(), geometry.image_rect, geometry.uv(), Color32::WHITE);
            let selected = self.selected_face();
            let clicked = overlay::show_faces(ui, &geometry, &result.faces, &result.model.labels, selected);
            if let Some(id) = clicked {
                self.pick_face(id);
            }
        });
    }
}

/// Behind the video (letterbox bars) and in the window before any video comes.
pub const VIDEO_BACKGROUND: Color32 = Color32::from_gray(16);

/// Why the seek bar and frame steps are greyed out.
const NOT_SEEKABLE: &str = "This file cannot jump to a frame: its container does not say how many frames it has. Replay plays it from the start.";

/// `seconds` as mm:ss (h:mm:ss from an hour on), rounded down.
pub fn clock(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 { seconds as u64 } else { 0 };
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes:02}:{seconds:02}")
    }
}

/// How a source is named in the UI.
pub fn source_title(source: &SourceSpec) -> String {
    match source {
        SourceSpec::Camera(index) => format!("Camera {index}"),
        SourceSpec::Demo => "Built-in demo".into(),
        SourceSpec::Video(p) | SourceSpec::Image(p) | SourceSpec::Folder(p) => {
            p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
        }
    }
}

/// A detector's name in the app.
fn detector_title(kind: DetectorKind) -> &'static str {
    match kind {
        DetectorKind::Blazeface => "BlazeFace (learned)",
        DetectorKind::Haar => "Haar cascades (the study's)",
    }
}
