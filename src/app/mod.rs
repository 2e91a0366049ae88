//! The desktop app: live video with emotion overlays, model switching, screenshots, sources,
//! detector controls, a timeline and CSV recording.
//!
//! [`EmocamApp`] holds all state and draws everything in [`EmocamApp::ui`], so tests drive it
//! with `egui_kittest` without a window; [`run`] wraps it in an eframe window. Slow work never
//! runs on the UI thread: pipelines start on "emocam-start", frames are converted on
//! "emocam-display", CSV is written on "emocam-recorder", screenshots on "emocam-screenshot",
//! a still frame is scored again on "emocam-rescore", file dialogs wait on
//! "emocam-file-dialog", and models are read on "emocam-model-scan".

mod catalog;
mod models;
mod notices;
mod open;
mod outputs;
mod overlay;
mod panels;
mod record;
mod rescore;
mod screenshot;
mod session;
mod settings;
mod timeline;
mod video;
mod view;
mod workers;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opencv::prelude::MatTraitConst as _;

use crate::inference::classifier::{ClassifierOptions, ModelError, ModelInfo};
use crate::pipeline::{FaceResult, PipelineEvent, SeekError, SwitchId};
use crate::source::SourceSpec;
use crate::vision::detect::DetectorOverrides;

pub use models::{ModelCatalog, ModelEntry};
pub use notices::{Notices, Severity};
pub use open::{OPEN_BUTTON, OPEN_FILE_BUTTON, OPEN_MODEL_BUTTON, PATH_FIELD};
pub use overlay::face_label;
pub use panels::{clock, DETAILS_TOGGLE, DISMISS_BANNER, FRAME_BACK, FRAME_FORWARD, NEXT_PHOTO, PREVIOUS_PHOTO, REPLAY_BUTTON, SEEK_BAR};
pub use screenshot::{screenshot_dir, SCREENSHOT_DIR_ENV};
pub use settings::Settings;

use catalog::Catalog;
use outputs::Outputs;
use session::{Session, StartRequest};
use video::DisplayFeed;
use view::View;

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
    // The full-scan thread lowers its own priority so that the frame on screen never waits for a
    // scan, but OpenCV hands the rows of `detect_multi_scale` to its worker pool, whose threads
    // took both cores from capture, inference and painting at normal priority. Linux threads
    // inherit the niceness of the thread that starts them, so the pool is started here from a
    // thread at the scan's priority. (OpenCV on one thread instead showed new faces up to a
    // second later: the lone niced scan waited behind everything else.)
    crate::vision::background_scan::start_opencv_workers_at_scan_priority();
    let native_options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_title("emocam").with_inner_size([1280.0, 800.0]).with_min_inner_size([640.0, 400.0]),
        // Without a GPU, Mesa's llvmpipe runs every pixel's shader on the CPU, and it was the
        // largest user of the CPU on the 1280x720 group clip. Dithering (noise against banding in
        // smooth gradients, of which video frames and egui's flat panels have none) cost a tenth
        // of a core there.
        dithering: false,
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

    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        panels::VIDEO_BACKGROUND.to_normalized_gamma_f32()
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::STORAGE_KEY, self.0.settings());
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        eprintln!("emocam: {}", self.0.performance_summary());
        self.0.shut_down();
    }
}

/// The whole app: what runs ([`Session`]), what is on screen ([`View`]), what the menus offer
/// ([`Catalog`]) and what is written ([`Outputs`]), plus the settings and messages they share.
pub struct EmocamApp {
    ctx: egui::Context,
    options: AppOptions,
    settings: Settings,
    notices: Notices,
    workers: workers::Workers,
    session: Session,
    view: View,
    catalog: Catalog,
    outputs: Outputs,
    open: open::OpenWindow,
}

impl EmocamApp {
    /// Starts the pipeline (in the background) and reads the models folder. `saved` are the
    /// settings of the last run.
    pub fn new(options: AppOptions, ctx: egui::Context, saved: Option<Settings>) -> Self {
        crate::source::quiet_opencv_logging();
        let settings = Settings::merged(saved, &options.detector);
        let repaint = {
            let ctx = ctx.clone();
            move || ctx.request_repaint()
        };
        let outputs = Outputs::new(screenshot_dir(options.screenshots.as_deref()), repaint);
        // No text below 11 points: egui's "small" style (hints, captions) is 9 by default.
        ctx.all_styles_mut(|style| {
            style.text_styles.insert(egui::TextStyle::Small, egui::FontId::proportional(11.0));
        });
        let mut app = Self {
            settings,
            notices: Notices::default(),
            workers: workers::Workers::default(),
            session: Session::new(options.model.clone(), options.record),
            view: View::default(),
            catalog: Catalog::new(),
            outputs,
            open: open::OpenWindow::default(),
            ctx,
            options,
        };
        let repaint = app.repainter();
        app.catalog.models.scan(&mut app.workers, &app.options.models_dir, app.options.classifier, repaint);
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
        self.view.selected_face()
    }

    /// True when the user picked the selected face (rather than it being the largest).
    pub fn face_was_picked(&self) -> bool {
        self.view.face_was_picked()
    }

    pub fn current_faces(&self) -> &[FaceResult] {
        self.view.faces()
    }

    pub fn current_model_name(&self) -> Option<&str> {
        self.session.model.as_deref().map(|m| m.display_name.as_str())
    }

    pub fn current_model_path(&self) -> Option<&Path> {
        self.session.model.as_deref().map(|m| m.path.as_path())
    }

    /// True while a model switch has not finished.
    pub fn model_switch_pending(&self) -> bool {
        self.session.pending_model.is_some()
    }

    /// The source playing, once started.
    pub fn source(&self) -> Option<&SourceSpec> {
        self.session.source.as_ref()
    }

    /// True once the source has no more frames.
    pub fn source_finished(&self) -> bool {
        self.session.finished()
    }

    /// Frames put on screen so far.
    pub fn frames_shown(&self) -> u64 {
        self.view.frames_shown()
    }

    pub fn last_screenshot(&self) -> Option<&Path> {
        self.outputs.screenshots.last_saved()
    }

    pub fn screenshot_folder(&self) -> &Path {
        &self.outputs.dir
    }

    pub fn models(&self) -> &[ModelEntry] {
        self.catalog.models.entries()
    }

    pub fn is_recording(&self) -> bool {
        self.outputs.recorder.is_on()
    }

    /// The path typed in the open window, while it is open.
    pub fn typed_path(&self) -> Option<&str> {
        self.open.typed_path()
    }

    /// Model names marked on the timeline as switches.
    pub fn timeline_switches(&self) -> Vec<String> {
        self.view.timeline.switches().map(str::to_owned).collect()
    }

    /// The model that scored the results on screen.
    pub fn result_model_path(&self) -> Option<&Path> {
        self.view.current().map(|r| r.model.path.as_path())
    }

    /// The index (0-based) of the frame on screen.
    pub fn current_frame_index(&self) -> Option<u64> {
        self.view.current().map(|r| r.frame_index)
    }

    /// True while the source playing can go to another frame (a video file whose frames are
    /// counted): the seek bar and frame steps work.
    pub fn can_seek(&self) -> bool {
        self.session.seekable().is_some()
    }

    /// True while a seek's frame has not come yet.
    pub fn seek_pending(&self) -> bool {
        self.session.seek.is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.session.paused
    }

    // ----- Actions -----

    /// Changes settings as the side panel does, and applies what changed (to the frame on
    /// screen too, when no new frames come).
    pub fn update_settings(&mut self, change: impl FnOnce(&mut Settings)) {
        let before = self.settings.clone();
        change(&mut self.settings);
        if self.settings.detector != before.detector {
            self.apply_detector_settings();
        }
        if self.settings.smoothing != before.smoothing {
            self.apply_smoothing();
        }
    }

    /// Switches to the model at `path` while the video runs (or starts the video with it when
    /// no pipeline runs). A failure keeps the current model and shows why. When no new frames
    /// come (paused, or the source has ended), the frame on screen is scored with it at once.
    pub fn switch_model(&mut self, path: PathBuf) {
        if self.current_model_path().is_some_and(|current| models::same_file(current, &path)) {
            return;
        }
        if self.session.pipeline.is_none() {
            self.session.model_path = path;
            if self.session.starting.is_none() {
                self.start_source(self.session.source.clone().or_else(|| self.options.source.clone()));
            }
            return;
        }
        self.session.pending_model = Some(path.clone());
        if let Some(pipeline) = self.session.pipeline.as_ref().filter(|p| p.is_running()) {
            // Paused, playing, or a video waiting at its end for a seek: the pipeline switches
            // for the frames to come.
            self.session.pending_switch = Some(pipeline.switch_model(path.clone()));
        } else {
            // An ended pipeline reads no commands: the next replay starts with this model.
            self.session.model_path = path.clone();
        }
        if self.session.standing_still() && !self.rescore(path.clone()) && self.session.finished() {
            // No frame to score (nothing was shown): the model waits for the next start.
            self.session.pending_model = None;
            self.notices.info(format!("{} will be used when the source plays again", path.display()));
        }
    }

    /// Scores the frame on screen again with `model` and the detector settings (see [`rescore`]).
    /// False when there is no frame to score.
    fn rescore(&mut self, model: PathBuf) -> bool {
        let Some(current) = self.view.current() else { return false };
        let Some(frame) = current.frame.as_ref().and_then(|f| f.try_clone().ok()) else { return false };
        let request = rescore::RescoreRequest {
            frame,
            frame_index: current.frame_index,
            source_time_ms: current.source_time_ms,
            source_name: current.source_name.clone(),
            seek_id: current.seek_id,
            detector: self.settings.detector.clone(),
            model,
            classifier: self.options.classifier,
        };
        let repaint = self.repainter();
        if let Err(error) = self.session.rescorer.request(&mut self.workers, request, repaint) {
            self.notices.error(crate::errors::one_line(&error));
            return false;
        }
        true
    }

    /// Plays `source` (`None`: default camera, else demo), replacing the current one.
    pub fn start_source(&mut self, source: Option<SourceSpec>) {
        self.session.feed = None; // stops the display thread before its pipeline goes
        let request = StartRequest {
            source,
            model: self.session.model_path.clone(),
            classifier: self.options.classifier,
            detector: self.settings.detector.clone(),
            smoothing_alpha: self.settings.smoothing_alpha(),
            previous: self.session.pipeline.take(),
            overtaken_start: self.session.starting.take(),
        };
        self.session.pending_model = None;
        self.view.timeline.clear();
        self.session.source_ended = false;
        self.session.paused = false;
        self.session.seek = None;
        self.session.scrub = None;
        let repaint = self.repainter();
        self.session.starting = Some(session::start_in_background(&mut self.workers, request, repaint));
    }

    /// Plays the source again from its start (a video that ended, say).
    pub fn replay(&mut self) {
        if let Some(source) = self.session.source.clone() {
            self.start_source(Some(source));
        }
    }

    /// Goes to frame `frame` (0-based) of the video playing, playing or paused as it was. A
    /// video that has ended is paused at the frame, as a media player does (an HTML video, mpv
    /// with keep-open): seeking back looks at a place; Pause (Space) plays on from there. The
    /// tracker, the smoothing and the timeline start anew there; a failure is a toast.
    pub fn seek_to(&mut self, frame: u64) {
        self.seek(frame, true);
    }

    /// One frame forward (`step` 1) or back (-1), like mpv's `.` and `,`: playback pauses, and
    /// steps follow each other even before the frame of the last one came.
    pub fn step_frame(&mut self, step: i64) {
        let Some(pipeline) = self.session.seekable() else { return };
        let last = pipeline.source_frame_count().map(|n| n.saturating_sub(1)).unwrap_or(u64::MAX);
        let Some(from) = self.session.seek.map(|s| s.frame).or_else(|| self.current_frame_index()) else { return };
        let to = from.saturating_add_signed(step).min(last);
        if to == from && self.session.finished() {
            return; // forward from the last frame: nothing to step to
        }
        if !self.session.paused {
            self.set_paused(true);
        }
        // A step forward is the same scene, a frame on: the timeline goes on.
        if to != from {
            self.seek(to, step < 0);
        }
    }

    fn seek(&mut self, frame: u64, new_timeline: bool) {
        let Some(pipeline) = self.session.seekable() else {
            self.notices.error("This source cannot jump to a frame");
            return;
        };
        let outcome = pipeline.seek(frame);
        match outcome {
            Ok(id) => {
                self.session.seek = Some(session::PendingSeek { id, frame });
                if self.session.finished() {
                    self.session.source_ended = false;
                    self.set_paused(true);
                }
                if new_timeline {
                    self.view.timeline.clear();
                }
            }
            // The next pointer move or release asks again.
            Err(SeekError::Busy) => {}
            Err(error) => self.notices.error(format!("Cannot jump to frame {}: {error}", frame + 1)),
        }
    }

    /// Shows the photo `step` places from the one on screen (a photo or folder playing).
    pub fn step_photo(&mut self, step: isize) {
        let Some(next) = self.session.photos.as_ref().and_then(|p| p.step(step)).cloned() else { return };
        self.start_source(Some(SourceSpec::Image(next)));
    }

    /// Where the photo on screen is in its folder: (1-based position, count).
    pub fn photo_position(&self) -> Option<(usize, usize)> {
        self.session.photos.as_ref().map(|p| (p.index + 1, p.files.len()))
    }

    /// Opens what the open window chose.
    fn open_window(&mut self, ctx: &egui::Context) {
        let repaint = self.repainter();
        match self.open.show(ctx, repaint) {
            Some(open::Chosen::Source(path)) => {
                let source = if path.is_dir() {
                    SourceSpec::Folder(path)
                } else if crate::source::is_image_path(&path) {
                    SourceSpec::Image(path)
                } else {
                    SourceSpec::Video(path)
                };
                self.notices.set_banner(None);
                self.start_source(Some(source));
            }
            Some(open::Chosen::Model(path)) => self.switch_model(path),
            None => {}
        }
    }

    /// Saves the current frame with its results as a PNG (in the background).
    pub fn take_screenshot(&mut self) {
        let Some(current) = self.view.current() else {
            self.notices.error("No frame to save yet");
            return;
        };
        let Some(frame) = current.frame.as_ref().and_then(|f| f.try_clone().ok()) else {
            self.notices.error("This frame's image is not available");
            return;
        };
        let job = screenshot::ScreenshotJob { frame, faces: current.faces.clone(), model: current.model.clone(), dir: self.outputs.dir.clone() };
        let repaint = self.repainter();
        if let Err(error) = self.outputs.screenshots.save(&mut self.workers, job, repaint) {
            self.notices.error(format!("Could not start saving the screenshot: {error}"));
        }
    }

    /// Starts or stops writing per-face CSV records into the screenshot folder (on the
    /// recorder thread; its outcome comes back as a toast).
    pub fn set_recording(&mut self, on: bool) {
        let outcome = if on {
            let model = self.current_model_name().unwrap_or_default().to_string();
            self.outputs.recorder.start(&self.outputs.dir, &model)
        } else {
            self.outputs.recorder.stop()
        };
        if let Err(error) = outcome {
            self.notices.error(format!("Recording: {}", crate::errors::one_line(&error)));
        }
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.session.paused = paused;
        if let Some(pipeline) = &self.session.pipeline {
            pipeline.set_paused(paused);
        }
    }

    /// Selects a face for the side panel and timeline.
    pub fn pick_face(&mut self, track_id: u64) {
        self.view.pick_face(track_id);
    }

    /// Completes the recording and stops every thread (and so releases the camera).
    pub fn shut_down(&mut self) {
        self.session.feed = None;
        self.outputs.recorder.shut_down();
        self.workers.join_all();
        self.session.stop();
    }

    fn apply_detector_settings(&mut self) {
        if let Some(pipeline) = &self.session.pipeline {
            pipeline.set_detector(self.settings.detector.clone());
        }
        if self.session.standing_still() {
            let model = self.session.pending_model.clone().unwrap_or_else(|| self.session.model_path.clone());
            // Nothing on screen yet: the next frame uses the new settings anyway.
            let _ = self.rescore(model);
        }
    }

    fn apply_smoothing(&self) {
        if let Some(pipeline) = &self.session.pipeline {
            pipeline.set_smoothing(self.settings.smoothing_alpha());
        }
    }

    fn probe_cameras(&mut self) {
        let repaint = self.repainter();
        self.catalog.probe_cameras(&mut self.workers, repaint);
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
        self.poll_rescore();
        for outcome in self.outputs.screenshots.finished() {
            match outcome {
                Ok(path) => self.notices.info(format!("Screenshot saved: {}", path.display())),
                Err(error) => self.notices.error(format!("Screenshot failed: {error:#}")),
            }
        }
        if let Some(error) = self.catalog.poll() {
            self.notices.error(crate::errors::one_line(&error));
        }
        for outcome in self.outputs.recorder.finished() {
            match outcome {
                record::RecorderOutcome::Started(path) => self.notices.info(format!("Recording to {}", path.display())),
                record::RecorderOutcome::Finished { rows, files, skipped } => {
                    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                    let skipped = if skipped > 0 { format!(" ({skipped} frames skipped: the disk was too slow)") } else { String::new() };
                    self.notices.info(format!("Recorded {rows} face rows to {}{skipped}", names.join(", ")));
                }
                record::RecorderOutcome::Failed(error) => self.notices.error(format!("Recording stopped: {}", crate::errors::one_line(&error))),
            }
        }
    }

    fn poll_start(&mut self) {
        let Some(outcome) = self.session.starting.as_ref().and_then(|rx| rx.try_recv().ok()) else { return };
        self.session.starting = None;
        match outcome {
            Ok(started) => {
                self.notices.set_banner(started.fallback_notice);
                let model = started.pipeline.initial_model().clone();
                self.session.model_path = model.path.clone();
                self.catalog.models.upsert(ModelEntry::loaded(model.path.clone(), Ok(model.clone())));
                self.session.model = Some(model);
                match DisplayFeed::start(started.pipeline.results().clone(), self.ctx.clone(), self.outputs.recorder.feed()) {
                    Ok(feed) => self.session.feed = Some(feed),
                    Err(error) => self.notices.error(format!("cannot start the display thread: {error}")),
                }
                let opened = started.photos.as_ref().and_then(|p| p.folder.clone()).or_else(|| match &started.source {
                    SourceSpec::Video(path) | SourceSpec::Image(path) | SourceSpec::Folder(path) => Some(path.clone()),
                    SourceSpec::Camera(_) | SourceSpec::Demo => None,
                });
                if let Some(path) = opened {
                    self.settings.add_recent(&path);
                }
                self.session.photos = started.photos;
                self.session.source = Some(started.source);
                self.session.pipeline = Some(started.pipeline);
                if std::mem::take(&mut self.session.record_when_playing) {
                    self.set_recording(true);
                }
            }
            Err(error) => {
                let text = error.describe();
                self.notices.set_banner(Some(text.clone()));
                self.notices.error(text);
            }
        }
    }

    /// A model now in use (`id`: the pipeline's answer to that switch request; `None`: a
    /// rescore): the menu, the status bar and a toast say so.
    fn model_switched(&mut self, id: Option<SwitchId>, info: Arc<ModelInfo>) {
        let previous = self.session.model.clone();
        if previous.as_ref().is_none_or(|m| !models::same_file(&m.path, &info.path)) {
            let text = self.switch_message(previous.as_deref(), &info);
            self.notices.info(text);
        }
        self.catalog.models.upsert(ModelEntry::loaded(info.path.clone(), Ok(info.clone())));
        self.session.model_path = info.path.clone();
        self.session.model = Some(info);
        // An answer to an earlier request than the last one leaves the last one pending.
        if id.is_none() || id == self.session.pending_switch {
            self.session.pending_model = None;
            self.session.pending_switch = None;
        }
    }

    /// "Now using X", with what changed: how often it is right and how fast, against the model
    /// before it.
    fn switch_message(&self, previous: Option<&ModelInfo>, now: &ModelInfo) -> String {
        let entry = |path: &Path| self.catalog.models.entries().iter().find(|e| models::same_file(&e.path, path)).cloned();
        let (new_entry, old_entry) = (entry(&now.path), previous.and_then(|p| entry(&p.path)));
        let mut changes = Vec::new();
        if let Some(accuracy) = now.publictest_accuracy {
            let was = previous.and_then(|p| p.publictest_accuracy).map(|a| format!(" (was {:.0}%)", a * 100.0)).unwrap_or_default();
            changes.push(format!("right {:.0}% of the time{was}", accuracy * 100.0));
        }
        if let Some(ms) = new_entry.and_then(|e| e.ms_per_face) {
            let was = old_entry.and_then(|e| e.ms_per_face).map(|ms| format!(" (was {ms:.1})")).unwrap_or_default();
            changes.push(format!("{ms:.1} ms per face{was}"));
        }
        if previous.is_some_and(|p| p.labels != now.labels) {
            changes.push(format!("{} emotions: {}", now.labels.len(), now.labels.join(", ")));
        }
        if changes.is_empty() {
            format!("Now using {}", now.display_name)
        } else {
            format!("Now using {}: {}", now.display_name, changes.join(", "))
        }
    }

    fn model_switch_failed(&mut self, id: Option<SwitchId>, path: PathBuf, error: Arc<ModelError>) {
        let still = self.current_model_name().unwrap_or("the previous model").to_string();
        let reason = models::short_reason(&error, &path);
        self.notices.error(format!("Cannot switch to {}: {reason} — still using {still}", path.display()));
        if id.is_none() || id == self.session.pending_switch {
            self.session.pending_model = None;
            self.session.pending_switch = None;
            if let Some(model) = &self.session.model {
                self.session.model_path = model.path.clone();
            }
        }
        self.catalog.models.upsert(ModelEntry::loaded(path, Err(error)));
    }

    fn poll_events(&mut self) {
        let events: Vec<PipelineEvent> = self.session.pipeline.as_ref().map(|p| p.events().try_iter().collect()).unwrap_or_default();
        for event in events {
            match event {
                PipelineEvent::ModelSwitched { id, info } => self.model_switched(Some(id), info),
                PipelineEvent::ModelSwitchFailed { id, path, error } => self.model_switch_failed(Some(id), path, error),
                // The running model's failure on a frame: a switch in progress is not its cause.
                PipelineEvent::InferenceFailed(error) => {
                    let running = self.current_model_name().unwrap_or("the model").to_string();
                    self.notices.error(format!("{running}: {}", crate::errors::one_line(&*error)));
                }
                PipelineEvent::SourceLost(error) => {
                    let problem = crate::errors::one_line(&*error);
                    let retrying = matches!(self.session.source, Some(SourceSpec::Camera(_)));
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
                PipelineEvent::SeekFailed { id, frame, error } => {
                    if self.session.seek.is_some_and(|s| s.id == id) {
                        self.session.seek = None;
                    }
                    let at =
                        self.session.pipeline.as_ref().and_then(|p| p.source_fps()).map(|fps| format!(" ({})", clock(frame as f64 / fps))).unwrap_or_default();
                    self.notices.error(format!("Cannot jump to frame {}{at}: {} — playing on from where it was", frame + 1, crate::errors::one_line(&*error)));
                }
                PipelineEvent::SourceEnded => {
                    self.session.source_ended = true;
                    if self.settings.loop_video && matches!(self.session.source, Some(SourceSpec::Video(_))) {
                        self.replay();
                    }
                }
            }
        }
    }

    fn poll_frame(&mut self) {
        let Some(ready) = self.session.feed.as_ref().and_then(DisplayFeed::take_newest) else { return };
        // A frame read before the last seek was asked for: the place it shows is left behind.
        if let Some(seek) = self.session.seek {
            if ready.result.seek_id < seek.id {
                return;
            }
            self.session.seek = None;
        }
        let model = ready.result.model.clone();
        self.view.show_frame(&self.ctx, ready);
        // The frame's model becomes the one shown as in use only when it is the model the
        // pipeline runs now: frames scored just before a switch still arrive after the pipeline
        // has said that it switched, and would put the old model back in the menu.
        // `same_file` last: it may ask the file system, and most frames stop at the first two.
        let adopt = self.session.pending_model.is_none()
            && self.session.model.as_ref().is_none_or(|m| !Arc::ptr_eq(m, &model))
            && models::same_file(&model.path, &self.session.model_path);
        if adopt {
            self.session.model = Some(model);
        }
    }

    fn poll_rescore(&mut self) {
        for outcome in self.session.rescorer.finished() {
            match outcome {
                rescore::RescoreOutcome::Done(result) => {
                    let model = result.model.clone();
                    // A seek since the request put another frame on screen: these are not its faces.
                    let same_frame = self.view.current().is_some_and(|c| c.frame_index == result.frame_index && c.seek_id == result.seek_id);
                    if same_frame {
                        self.view.set_result(result);
                    }
                    self.model_switched(None, model);
                }
                rescore::RescoreOutcome::ModelFailed { path, error } => self.model_switch_failed(None, path, error),
                rescore::RescoreOutcome::Failed(error) => self.notices.error(format!("Cannot score this frame again: {}", crate::errors::one_line(&error))),
            }
        }
    }

    /// Keyboard shortcuts, only while no text field has the keyboard: typing a path must not
    /// save screenshots or switch models.
    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() || self.open.is_open() {
            return;
        }
        let (previous, next) = ctx.input(|i| (i.key_pressed(egui::Key::ArrowLeft), i.key_pressed(egui::Key::ArrowRight)));
        if previous || next {
            self.step_photo(if next { 1 } else { -1 });
        }
        // `,` and `.` step a video frame by frame, as in mpv.
        let (frame_back, frame_forward) =
            ctx.input(|i| (i.key_pressed(egui::Key::Comma) && !i.modifiers.any(), i.key_pressed(egui::Key::Period) && !i.modifiers.any()));
        if frame_back || frame_forward {
            self.step_frame(if frame_forward { 1 } else { -1 });
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
            self.set_paused(!self.session.paused);
        }
        if mirror {
            self.settings.mirror = !self.settings.mirror;
        }
        if quit {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if let Some(entry) = number.and_then(|n| self.catalog.models.entries().get(n)) {
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
        self.seek_panel(ui);
        self.video_panel(ui);
        self.open_window(&ctx);
        self.notices.show(&ctx);
        // Layout and drawing commands only; egui's tessellation and GL painting come after.
        self.view.ui_time.add(started.elapsed());
    }

    /// One line of performance figures, printed when the window closes.
    pub fn performance_summary(&self) -> String {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.1} ms")).unwrap_or_else(|| "–".into());
        format!(
            "{} frames shown; capture-to-display p95 {} over the whole run, {} over the last {} frames; UI pass p95 {}",
            self.view.frames_shown(),
            ms(self.view.latency.whole_run_p95_ms()),
            ms(self.view.latency.p95_ms()),
            self.view.latency.sample_count(),
            ms(self.view.ui_time.p95_ms()),
        )
    }
}

impl Drop for EmocamApp {
    fn drop(&mut self) {
        self.shut_down();
    }
}
