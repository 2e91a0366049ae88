//! The desktop app: live video with emotion overlays, model switching, screenshots, sources,
//! detector controls, a timeline and CSV recording.
//!
//! [`EmocamApp`] holds all state and draws everything in [`EmocamApp::ui`], so tests drive it
//! with `egui_kittest` without a window; [`run`] wraps it in an eframe window. Slow work never
//! runs on the UI thread: pipelines start on "emocam-start", frames are converted on
//! "emocam-display", screenshots are written on "emocam-screenshot", and models are read on
//! "emocam-model-scan".

mod models;
mod notices;
mod overlay;
mod panels;
mod record;
mod screenshot;
mod session;
mod settings;
mod timeline;
mod video;
mod workers;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use opencv::prelude::MatTraitConst as _;

use crate::inference::classifier::{ClassifierOptions, ModelInfo};
use crate::pipeline::{FaceResult, FrameResult, Pipeline, PipelineEvent, SwitchId};
use crate::source::SourceSpec;
use crate::vision::detect::DetectorOverrides;

pub use models::{ModelCatalog, ModelEntry};
pub use notices::{Notices, Severity};
pub use overlay::face_label;
pub use panels::DISMISS_BANNER;
pub use screenshot::{screenshot_dir, SCREENSHOT_DIR_ENV};
pub use settings::Settings;

use session::{StartRequest, Started};
use video::{DisplayFeed, LatencyMeter};

/// A model switch asked of the pipeline and not answered yet.
struct PendingSwitch {
    id: SwitchId,
    path: PathBuf,
}

/// What the command line asked for.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// `None`: camera 0, else the built-in demo.
    pub source: Option<SourceSpec>,
    pub model: PathBuf,
    pub models_dir: PathBuf,
    pub classifier: ClassifierOptions,
    /// Detector options given on the command line (each replaces its saved setting).
    pub detector: DetectorOverrides,
    /// Screenshot (and recording) folder; `None`: `$EMOCAM_SCREENSHOT_DIR` or `<Pictures>/emocam`.
    pub screenshots: Option<PathBuf>,
    /// Start recording (the Record toggle) as soon as the first video plays.
    pub record: bool,
}

/// Opens the window and runs until it is closed.
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let native_options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_title("emocam").with_inner_size([1280.0, 800.0]).with_min_inner_size([640.0, 400.0]),
        ..Default::default()
    };
    eframe::run_native(
        "emocam",
        native_options,
        Box::new(move |cc| {
            // SIGINT/SIGTERM/SIGHUP close the window like its close button: the recording is
            // completed and the camera released on the way out (`on_exit`).
            let ctx = cc.egui_ctx.clone();
            crate::interrupt::install_with_callback(move || {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx.request_repaint();
            })?;
            let saved = cc.storage.and_then(|storage| eframe::get_value::<Settings>(storage, settings::STORAGE_KEY));
            Ok(Box::new(WindowApp(EmocamApp::new(options, cc.egui_ctx.clone(), saved))))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    match crate::interrupt::requested() {
        Some(signal) => Err(signal.into()),
        None => Ok(()),
    }
}

/// eframe's view of the app: drawing, saving settings, and stopping the pipeline on exit.
struct WindowApp(EmocamApp);

impl eframe::App for WindowApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.0.ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::STORAGE_KEY, self.0.settings());
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        eprintln!("emocam: {}", self.0.performance_summary());
        self.0.shut_down();
    }
}

/// The whole app state.
pub struct EmocamApp {
    ctx: egui::Context,
    options: AppOptions,
    settings: Settings,
    screenshot_dir: PathBuf,

    pipeline: Option<Pipeline>,
    feed: Option<DisplayFeed>,
    starting: Option<Receiver<Result<Started, String>>>,
    /// The source playing (after any fallback).
    source: Option<SourceSpec>,
    /// The model to use when (re)starting a pipeline.
    model_path: PathBuf,
    /// The model the pipeline uses now.
    model: Option<Arc<ModelInfo>>,
    /// A switch in progress.
    pending_model: Option<PendingSwitch>,
    paused: bool,
    source_ended: bool,
    /// `--record`: turn recording on once the first pipeline runs (its model names the file).
    record_when_playing: bool,

    texture: Option<egui::TextureHandle>,
    current: Option<FrameResult>,
    frames_shown: u64,
    latency: LatencyMeter,
    /// Time spent in [`EmocamApp::ui`] per pass.
    ui_time: LatencyMeter,
    /// A face the user clicked; `None` follows the largest face.
    picked_face: Option<u64>,

    catalog: ModelCatalog,
    cameras: Vec<i32>,
    camera_probe: Option<Receiver<Vec<i32>>>,
    cameras_probed: bool,
    cascades: Vec<String>,
    notices: Notices,
    screenshots: screenshot::ScreenshotSaver,
    recorder: record::SharedRecorder,
    timeline: timeline::Timeline,
    model_path_input: String,
    source_path_input: String,
    workers: workers::Workers,
}

impl EmocamApp {
    /// Starts the pipeline (in the background) and reads the models folder. `saved` are the
    /// settings of the last run.
    pub fn new(options: AppOptions, ctx: egui::Context, saved: Option<Settings>) -> Self {
        crate::source::quiet_opencv_logging();
        let settings = Settings::merged(saved, &options.detector);
        let screenshot_dir = screenshot_dir(options.screenshots.as_deref());
        let mut app = Self {
            settings,
            screenshot_dir,
            pipeline: None,
            feed: None,
            starting: None,
            source: None,
            model_path: options.model.clone(),
            model: None,
            pending_model: None,
            paused: false,
            source_ended: false,
            record_when_playing: options.record,
            texture: None,
            current: None,
            frames_shown: 0,
            latency: LatencyMeter::default(),
            ui_time: LatencyMeter::default(),
            picked_face: None,
            catalog: ModelCatalog::default(),
            cameras: Vec::new(),
            camera_probe: None,
            cameras_probed: false,
            cascades: crate::resources::available_cascades(),
            notices: Notices::default(),
            screenshots: screenshot::ScreenshotSaver::default(),
            recorder: record::SharedRecorder::default(),
            timeline: timeline::Timeline::default(),
            model_path_input: String::new(),
            source_path_input: String::new(),
            workers: workers::Workers::default(),
            ctx,
            options,
        };
        let repaint = app.repainter();
        app.catalog.scan(&mut app.workers, &app.options.models_dir, app.options.classifier, repaint);
        app.start_source(app.options.source.clone());
        app
    }

    // ----- What tests (and the window) can ask -----

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The lasting notice (e.g. the demo fallback), if any.
    pub fn notice(&self) -> Option<&str> {
        self.notices.banner()
    }

    /// Texts of the toasts on screen.
    pub fn toasts(&self) -> Vec<(Severity, String)> {
        self.notices.toasts().iter().map(|t| (t.severity, t.text.clone())).collect()
    }

    /// The face shown in the side panel: the one clicked, else the largest.
    pub fn selected_face(&self) -> Option<u64> {
        let faces = self.current_faces();
        self.picked_face.filter(|id| faces.iter().any(|f| f.track_id == *id)).or_else(|| overlay::largest_face(faces))
    }

    /// True when the user picked the selected face (rather than it being the largest).
    pub fn face_was_picked(&self) -> bool {
        self.picked_face.is_some() && self.selected_face() == self.picked_face
    }

    pub fn current_faces(&self) -> &[FaceResult] {
        self.current.as_ref().map(|r| r.faces.as_slice()).unwrap_or(&[])
    }

    pub fn current_model_name(&self) -> Option<&str> {
        self.model.as_deref().map(|m| m.display_name.as_str())
    }

    pub fn current_model_path(&self) -> Option<&Path> {
        self.model.as_deref().map(|m| m.path.as_path())
    }

    /// The source playing, once started.
    pub fn source(&self) -> Option<&SourceSpec> {
        self.source.as_ref()
    }

    /// Frames put on screen so far.
    pub fn frames_shown(&self) -> u64 {
        self.frames_shown
    }

    pub fn last_screenshot(&self) -> Option<&Path> {
        self.screenshots.last_saved()
    }

    pub fn screenshot_folder(&self) -> &Path {
        &self.screenshot_dir
    }

    pub fn models(&self) -> &[ModelEntry] {
        self.catalog.entries()
    }

    pub fn is_recording(&self) -> bool {
        self.recorder.lock().recording.is_some()
    }

    // ----- Actions -----

    /// Switches to the model at `path` while the video runs (or starts the video with it when
    /// no pipeline runs). A failure keeps the current model and shows why.
    pub fn switch_model(&mut self, path: PathBuf) {
        if self.current_model_path().is_some_and(|current| models::same_file(current, &path)) {
            return;
        }
        match &self.pipeline {
            Some(pipeline) => {
                let id = pipeline.switch_model(path.clone());
                self.pending_model = Some(PendingSwitch { id, path });
            }
            None => {
                self.model_path = path;
                if self.starting.is_none() {
                    self.start_source(self.source.clone().or_else(|| self.options.source.clone()));
                }
            }
        }
    }

    /// Plays `source` (`None`: default camera, else demo), replacing the current one.
    pub fn start_source(&mut self, source: Option<SourceSpec>) {
        self.feed = None; // stops the display thread before its pipeline goes
        let request = StartRequest {
            source,
            model: self.model_path.clone(),
            classifier: self.options.classifier,
            detector: self.settings.detector.clone(),
            smoothing_alpha: self.settings.smoothing_alpha(),
            previous: self.pipeline.take(),
            overtaken_start: self.starting.take(),
        };
        self.pending_model = None;
        self.timeline.clear();
        self.source_ended = false;
        self.paused = false;
        let repaint = self.repainter();
        self.starting = Some(session::start_in_background(&mut self.workers, request, repaint));
    }

    /// Saves the current frame with its results as a PNG (in the background).
    pub fn take_screenshot(&mut self) {
        let Some(current) = &self.current else {
            self.notices.error("No frame to save yet");
            return;
        };
        let Some(frame) = current.frame.as_ref().and_then(|f| f.try_clone().ok()) else {
            self.notices.error("This frame's image is not available");
            return;
        };
        let job = screenshot::ScreenshotJob { frame, faces: current.faces.clone(), model: current.model.clone(), dir: self.screenshot_dir.clone() };
        let repaint = self.repainter();
        if let Err(error) = self.screenshots.save(&mut self.workers, job, repaint) {
            self.notices.error(error);
        }
    }

    /// Starts or stops writing per-face CSV records into the screenshot folder.
    pub fn set_recording(&mut self, on: bool) {
        let mut state = self.recorder.lock();
        if on && state.recording.is_none() {
            let model = self.model.as_deref().map(|m| m.display_name.clone()).unwrap_or_default();
            match record::Recording::start(&self.screenshot_dir, &model) {
                Ok(recording) => {
                    let path = recording.current_file().map(|p| p.display().to_string()).unwrap_or_default();
                    state.recording = Some(recording);
                    drop(state);
                    self.notices.info(format!("Recording to {path}"));
                }
                Err(error) => {
                    drop(state);
                    self.notices.error(error);
                }
            }
        } else if !on {
            if let Some(recording) = state.recording.take() {
                let rows = recording.rows();
                drop(state);
                match recording.finish() {
                    Ok(files) => {
                        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                        self.notices.info(format!("Recorded {rows} face rows to {}", names.join(", ")));
                    }
                    Err(error) => self.notices.error(format!("recording: {error}")),
                }
            }
        }
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if let Some(pipeline) = &self.pipeline {
            pipeline.set_paused(paused);
        }
    }

    /// Selects a face for the side panel and timeline.
    pub fn pick_face(&mut self, track_id: u64) {
        self.picked_face = Some(track_id);
    }

    /// Stops recording, the display thread and the pipeline (and so releases the camera).
    pub fn shut_down(&mut self) {
        self.set_recording(false);
        self.feed = None;
        self.workers.join_all();
        // A pipeline that finished starting meanwhile is in the channel: stop it too.
        if let Some(Ok(started)) = self.starting.take().and_then(|rx| rx.try_recv().ok()) {
            started.pipeline.stop();
        }
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.stop();
        }
    }

    fn apply_detector_settings(&self) {
        if let Some(pipeline) = &self.pipeline {
            pipeline.set_detector(self.settings.detector.clone());
        }
    }

    fn apply_smoothing(&self) {
        if let Some(pipeline) = &self.pipeline {
            pipeline.set_smoothing(self.settings.smoothing_alpha());
        }
    }

    /// Looks for cameras in the background (the source menu lists them).
    fn probe_cameras(&mut self) {
        if self.camera_probe.is_none() {
            let repaint = self.repainter();
            self.camera_probe = Some(session::probe_cameras_in_background(&mut self.workers, repaint));
        }
    }

    fn repainter(&self) -> impl Fn() + Send + 'static {
        let ctx = self.ctx.clone();
        move || ctx.request_repaint()
    }

    // ----- Per-frame bookkeeping -----

    /// Takes in everything that arrived from the background threads.
    fn poll(&mut self) {
        self.poll_start();
        self.poll_events();
        self.poll_frame();
        for outcome in self.screenshots.finished() {
            match outcome {
                Ok(path) => self.notices.info(format!("Screenshot saved: {}", path.display())),
                Err(error) => self.notices.error(format!("Screenshot failed: {error:#}")),
            }
        }
        if let Some(error) = self.catalog.poll() {
            self.notices.error(crate::errors::one_line(&error));
        }
        if let Some(found) = self.camera_probe.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.camera_probe = None;
            self.cameras = found;
            if let Some(SourceSpec::Camera(index)) = self.source {
                // The camera in use may not open a second time; it's there all the same.
                if !self.cameras.contains(&index) {
                    self.cameras.push(index);
                    self.cameras.sort_unstable();
                }
            }
        }
        let failure = self.recorder.lock().failure.take();
        if let Some(failure) = failure {
            self.notices.error(failure);
        }
    }

    fn poll_start(&mut self) {
        let Some(outcome) = self.starting.as_ref().and_then(|rx| rx.try_recv().ok()) else { return };
        self.starting = None;
        match outcome {
            Ok(started) => {
                self.notices.set_banner(started.fallback_notice);
                self.model = Some(started.pipeline.initial_model().clone());
                self.model_path = started.pipeline.initial_model().path.clone();
                if let Some(model) = &self.model {
                    self.catalog.upsert(ModelEntry { path: model.path.clone(), info: Ok(model.clone()) });
                }
                match DisplayFeed::start(started.pipeline.results().clone(), self.ctx.clone(), self.recorder.clone()) {
                    Ok(feed) => self.feed = Some(feed),
                    Err(error) => self.notices.error(format!("cannot start the display thread: {error}")),
                }
                self.source = Some(started.source);
                self.pipeline = Some(started.pipeline);
                if std::mem::take(&mut self.record_when_playing) {
                    self.set_recording(true);
                }
            }
            Err(error) => {
                self.notices.set_banner(Some(error.clone()));
                self.notices.error(error);
            }
        }
    }

    fn poll_events(&mut self) {
        let events: Vec<PipelineEvent> = self.pipeline.as_ref().map(|p| p.events().try_iter().collect()).unwrap_or_default();
        for event in events {
            match event {
                PipelineEvent::ModelSwitched { id, info } => {
                    self.notices.info(format!("Now using {}", info.display_name));
                    self.catalog.upsert(ModelEntry { path: info.path.clone(), info: Ok(info.clone()) });
                    self.model_path = info.path.clone();
                    self.model = Some(info);
                    if self.pending_model.as_ref().is_some_and(|pending| pending.id == id) {
                        self.pending_model = None;
                    }
                }
                PipelineEvent::ModelSwitchFailed { id, path, error } => {
                    let still = self.current_model_name().unwrap_or("the previous model").to_string();
                    let reason = models::short_reason(&error, &path);
                    self.notices.error(format!("Cannot switch to {}: {reason} — still using {still}", path.display()));
                    if self.pending_model.as_ref().is_some_and(|pending| pending.id == id) {
                        self.pending_model = None;
                    }
                    self.catalog.upsert(ModelEntry { path, info: Err(error) });
                }
                // The running model's failure on a frame: a switch in progress is not its cause.
                PipelineEvent::InferenceFailed(error) => {
                    let running = self.current_model_name().unwrap_or("the model").to_string();
                    self.notices.error(format!("{running}: {}", crate::errors::one_line(&*error)));
                }
                PipelineEvent::SourceLost(error) => {
                    let problem = crate::errors::one_line(&*error);
                    let retrying = matches!(self.source, Some(SourceSpec::Camera(_)));
                    let text = if retrying { format!("{problem} — retrying…") } else { problem };
                    self.notices.set_banner(Some(text.clone()));
                    self.notices.error(text);
                }
                PipelineEvent::DetectionFailed(error) => {
                    self.notices.error(format!("Face detection: {}", crate::errors::one_line(&*error)));
                }
                PipelineEvent::SourceRecovered => {
                    self.notices.set_banner(None);
                    self.notices.info("The camera is back");
                }
                PipelineEvent::SourceEnded => {
                    self.source_ended = true;
                }
            }
        }
    }

    fn poll_frame(&mut self) {
        let Some(ready) = self.feed.as_ref().and_then(DisplayFeed::take_newest) else { return };
        if let Some(image) = ready.image {
            match &mut self.texture {
                // Same texture every frame: only the pixels are replaced.
                Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
                None => self.texture = Some(self.ctx.load_texture("emocam-video", image, egui::TextureOptions::LINEAR)),
            }
        }
        // The frame is painted at the end of this pass; measuring here leaves out only painting.
        self.latency.add(ready.result.captured_at.elapsed());
        self.frames_shown += 1;
        self.timeline.add(&ready.result);
        if self.model.as_ref().is_none_or(|m| !Arc::ptr_eq(m, &ready.result.model)) && self.pending_model.is_none() {
            self.model = Some(ready.result.model.clone());
        }
        self.current = Some(ready.result);
        if self.picked_face.is_some() && !self.current_faces().iter().any(|f| Some(f.track_id) == self.picked_face) {
            self.picked_face = None;
        }
    }

    /// Keyboard shortcuts (ignored while typing in a text field).
    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (screenshot, pause, mirror, quit, number) = ctx.input(|i| {
            let number = [
                egui::Key::Num1,
                egui::Key::Num2,
                egui::Key::Num3,
                egui::Key::Num4,
                egui::Key::Num5,
                egui::Key::Num6,
                egui::Key::Num7,
                egui::Key::Num8,
                egui::Key::Num9,
            ]
            .iter()
            .position(|k| i.key_pressed(*k) && !i.modifiers.any());
            (
                i.key_pressed(egui::Key::S) && !i.modifiers.any(),
                i.key_pressed(egui::Key::Space),
                i.key_pressed(egui::Key::M) && !i.modifiers.any(),
                i.key_pressed(egui::Key::Q) && i.modifiers.command,
                number,
            )
        });
        if screenshot {
            self.take_screenshot();
        }
        if pause {
            self.set_paused(!self.paused);
        }
        if mirror {
            self.settings.mirror = !self.settings.mirror;
        }
        if quit {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if let Some(entry) = number.and_then(|n| self.catalog.entries().get(n)) {
            let path = entry.path.clone();
            self.switch_model(path);
        }
    }

    /// Draws one frame of the UI. Call once per pass.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let started = std::time::Instant::now();
        let ctx = ui.ctx().clone();
        self.poll();
        self.handle_keys(&ctx);
        self.top_bar(ui);
        self.status_bar(ui);
        if self.settings.show_timeline {
            self.timeline_panel(ui);
        }
        self.side_panel(ui);
        self.video_panel(ui);
        self.notices.show(&ctx);
        // Layout and drawing commands only; egui's tessellation and GL painting come after.
        self.ui_time.add(started.elapsed());
    }

    /// One line of performance figures, printed when the window closes.
    pub fn performance_summary(&self) -> String {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.1} ms")).unwrap_or_else(|| "–".into());
        format!(
            "{} frames shown; capture-to-display p95 {} over the whole run, {} over the last {} frames; UI pass p95 {}",
            self.frames_shown,
            ms(self.latency.whole_run_p95_ms()),
            ms(self.latency.p95_ms()),
            self.latency.sample_count(),
            ms(self.ui_time.p95_ms()),
        )
    }
}

impl Drop for EmocamApp {
    fn drop(&mut self) {
        self.shut_down();
    }
}
