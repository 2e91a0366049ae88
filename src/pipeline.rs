//! The running pipeline: a capture thread (read, detect, crop) and an inference thread
//! (classify, smooth), joined by bounded channels.
//!
//! In [`Mode::Live`] both channels keep only the newest item, so a slow stage drops frames
//! instead of building a queue, and file sources are played at their own frame rate. In
//! [`Mode::Offline`] every frame is processed as fast as possible, in order (analyzer, bench).
//! Both threads check a stop flag at least every [`POLL_INTERVAL`], so shutdown is prompt.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, SendTimeoutError, Sender};
use opencv::core::{Mat, Rect, Size};
use opencv::prelude::*;

use crate::detect::{DetectorSettings, FaceFinder};
use crate::face::{to_grey, Framing, GrayFace};
use crate::latest::{self, LatestSender};
use crate::model::{Classifier, ClassifierOptions, ModelInfo};
use crate::smooth::Smoother;
use crate::source::{self, FrameSource, SourceSpec};

/// How often blocked threads look at the stop flag.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Pause between attempts to reopen a camera that stopped delivering frames.
const CAMERA_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// A file source that fails this many frames in a row is given up.
const MAX_CONSECUTIVE_READ_ERRORS: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Real time: newest frame wins, files play at their own rate, cameras are re-tried.
    Live,
    /// Every frame, in order, as fast as possible.
    Offline,
}

/// Everything needed to start a pipeline.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub source: SourceSpec,
    pub detector: DetectorSettings,
    pub framing: Framing,
    pub model: PathBuf,
    pub classifier: ClassifierOptions,
    /// EMA weight of the newest frame, or `None` for raw probabilities.
    pub smoothing_alpha: Option<f32>,
    pub mode: Mode,
    /// Send each frame's image with its result (for display or annotation).
    pub keep_frames: bool,
}

/// Time spent in each stage for one frame, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    pub decode_ms: f64,
    pub detect_ms: f64,
    pub crop_ms: f64,
    pub infer_ms: f64,
}

/// One face's result.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceResult {
    pub track_id: u64,
    pub bbox: Rect,
    /// In the order of `FrameResult::model.labels`.
    pub probabilities: Vec<f32>,
}

impl FaceResult {
    /// What [`crate::annotate::annotate`] needs to draw this face.
    pub fn annotation(&self) -> crate::annotate::FaceAnnotation<'_> {
        crate::annotate::FaceAnnotation { track_id: self.track_id, bbox: self.bbox, probabilities: &self.probabilities }
    }
}

/// Everything known about one processed frame.
pub struct FrameResult {
    pub frame_index: u64,
    /// Position in the source's time line (ms).
    pub source_time_ms: f64,
    /// File the frame came from, or the source's description.
    pub source_name: String,
    pub frame_size: Size,
    /// The BGR frame, when `keep_frames` is set.
    pub frame: Option<Mat>,
    pub faces: Vec<FaceResult>,
    pub model: Arc<ModelInfo>,
    pub timings: StageTimings,
    /// When capture of this frame started and when its result was ready.
    pub captured_at: Instant,
    pub finished_at: Instant,
}

/// Things that happen besides results.
#[derive(Clone, Debug)]
pub enum PipelineEvent {
    /// The model last asked for by [`Pipeline::switch_model`] runs now.
    ModelLoaded(Arc<ModelInfo>),
    /// The model last asked for could not be loaded; the previous model keeps running.
    ModelSwitchFailed {
        path: PathBuf,
        error: String,
    },
    /// The running model failed on a frame (that frame has no faces).
    ModelFailed(String),
    /// The source failed (a camera was unplugged, say); cameras are re-tried.
    SourceProblem(String),
    SourceRecovered,
    /// A finite source has no more frames.
    SourceEnded,
}

/// Where the threads report events: a bounded channel that never blocks them. When the channel
/// is full (nobody reading, or a burst of warnings) an event is counted instead of sent, and a
/// model failure is also kept aside, so that the failure that matters is never lost.
#[derive(Clone)]
struct EventSink {
    tx: Sender<PipelineEvent>,
    dropped: Arc<AtomicU64>,
    first_model_failure: Arc<Mutex<Option<String>>>,
}

impl EventSink {
    fn report(&self, event: PipelineEvent) {
        if let PipelineEvent::ModelFailed(reason) = &event {
            if let Ok(mut first) = self.first_model_failure.lock() {
                first.get_or_insert_with(|| reason.clone());
            }
        }
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Messages to the inference thread.
enum InferenceCommand {
    SwitchModel(PathBuf),
    SetSmoothing(Option<f32>),
}

/// Messages to the capture thread.
enum CaptureCommand {
    SetDetector(DetectorSettings),
    SetPaused(bool),
}

/// A detected frame on its way to the inference thread.
struct DetectedFrame {
    frame_index: u64,
    source_time_ms: f64,
    source_name: String,
    frame_size: Size,
    frame: Option<Mat>,
    faces: Vec<(u64, Rect)>,
    crops: Vec<GrayFace>,
    timings: StageTimings,
    captured_at: Instant,
}

/// A frame channel that either drops old frames (live) or blocks (offline).
enum FrameSender<T> {
    Latest(LatestSender<T>),
    Blocking(Sender<T>),
}

impl<T> FrameSender<T> {
    fn new(mode: Mode) -> (Self, Receiver<T>) {
        match mode {
            Mode::Live => {
                let (tx, rx) = latest::channel(1);
                (FrameSender::Latest(tx), rx)
            }
            Mode::Offline => {
                let (tx, rx) = crossbeam_channel::bounded(4);
                (FrameSender::Blocking(tx), rx)
            }
        }
    }

    /// False once the receiver is gone or `stop` was raised (a live sender never waits; the
    /// pipeline's stop flag ends it).
    fn send(&self, mut item: T, stop: &AtomicBool) -> bool {
        match self {
            FrameSender::Latest(tx) => {
                tx.send(item);
                true
            }
            FrameSender::Blocking(tx) => loop {
                match tx.send_timeout(item, POLL_INTERVAL) {
                    Ok(()) => return true,
                    Err(SendTimeoutError::Timeout(back)) if !stop.load(Ordering::Relaxed) => item = back,
                    Err(_) => return false,
                }
            },
        }
    }
}

/// Why a pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Detector(#[from] crate::detect::DetectError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("could not start a thread: {0}")]
    Thread(std::io::Error),
}

/// A running pipeline. Dropping it stops both threads and releases the source.
pub struct Pipeline {
    stop: Arc<AtomicBool>,
    results: Receiver<FrameResult>,
    events: Receiver<PipelineEvent>,
    /// Events that did not fit the channel (see [`EventSink`]).
    events_dropped: Arc<AtomicU64>,
    first_model_failure: Arc<Mutex<Option<String>>>,
    inference_commands: Sender<InferenceCommand>,
    capture_commands: Sender<CaptureCommand>,
    threads: Vec<JoinHandle<()>>,
    model: Arc<ModelInfo>,
    source_description: String,
    source_frame_count: Option<u64>,
}

impl Pipeline {
    /// Opens the source, detector and model (reporting any problem right away) and starts the
    /// threads.
    pub fn start(config: PipelineConfig) -> Result<Self, StartError> {
        let source = source::open(&config.source, config.mode == Mode::Live)?;
        Self::start_with_source(config, source)
    }

    /// Like [`Pipeline::start`], with a source that is already open.
    pub fn start_with_source(config: PipelineConfig, source: Box<dyn FrameSource>) -> Result<Self, StartError> {
        let finder = new_finder(config.detector.clone(), config.mode)?;
        let classifier = Classifier::load(&config.model, config.classifier)?;
        let model = classifier.info().clone();
        let source_description = source.description();
        let source_frame_count = source.frame_count();

        let stop = Arc::new(AtomicBool::new(false));
        let (frame_tx, frame_rx) = FrameSender::new(config.mode);
        let (result_tx, results) = FrameSender::new(config.mode);
        let (event_tx, events) = crossbeam_channel::bounded(64);
        let event_tx = EventSink { tx: event_tx, dropped: Arc::new(AtomicU64::new(0)), first_model_failure: Arc::new(Mutex::new(None)) };
        let (events_dropped, first_model_failure) = (event_tx.dropped.clone(), event_tx.first_model_failure.clone());
        let (inference_commands, inference_rx) = crossbeam_channel::bounded(16);
        let (capture_commands, capture_rx) = crossbeam_channel::bounded(16);

        let capture = CaptureLoop {
            source,
            spec: config.source.clone(),
            finder,
            framing: config.framing,
            mode: config.mode,
            keep_frames: config.keep_frames,
            frames: frame_tx,
            events: event_tx.clone(),
            commands: capture_rx,
            stop: stop.clone(),
            paused: false,
        };
        let inference = InferenceLoop {
            classifier,
            classifier_options: config.classifier,
            smoother: config.smoothing_alpha.map(Smoother::new),
            frames: frame_rx,
            results: result_tx,
            events: event_tx,
            commands: inference_rx,
            stop: stop.clone(),
        };
        let mut threads = Vec::new();
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| std::thread::Builder::new().name(name.into()).spawn(body).map_err(StartError::Thread);
        threads.push(spawn("emocam-capture", Box::new(move || capture.run()))?);
        match spawn("emocam-inference", Box::new(move || inference.run())) {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(Self {
            stop,
            results,
            events,
            events_dropped,
            first_model_failure,
            inference_commands,
            capture_commands,
            threads,
            model,
            source_description,
            source_frame_count,
        })
    }

    /// Results, in frame order (offline) or newest-only (live). Disconnects when the source ends.
    pub fn results(&self) -> &Receiver<FrameResult> {
        &self.results
    }

    pub fn events(&self) -> &Receiver<PipelineEvent> {
        &self.events
    }

    /// Events that were counted, not delivered, because the channel was full.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }

    /// The first model failure reported, whether or not its event was delivered.
    pub fn first_model_failure(&self) -> Option<String> {
        self.first_model_failure.lock().ok().and_then(|first| first.clone())
    }

    /// The model the pipeline started with.
    pub fn initial_model(&self) -> &Arc<ModelInfo> {
        &self.model
    }

    pub fn source_description(&self) -> &str {
        &self.source_description
    }

    pub fn source_frame_count(&self) -> Option<u64> {
        self.source_frame_count
    }

    /// Loads `path` in the background and switches to it; the result arrives as
    /// [`PipelineEvent::ModelLoaded`] or [`PipelineEvent::ModelSwitchFailed`]. Of several
    /// requests in a row the last one wins: the ones it overtook are never loaded or reported.
    pub fn switch_model(&self, path: PathBuf) {
        let _ = self.inference_commands.try_send(InferenceCommand::SwitchModel(path));
    }

    pub fn set_smoothing(&self, alpha: Option<f32>) {
        let _ = self.inference_commands.try_send(InferenceCommand::SetSmoothing(alpha));
    }

    /// New detector settings (a bad cascade is reported as a `SourceProblem` and ignored).
    pub fn set_detector(&self, settings: DetectorSettings) {
        let _ = self.capture_commands.try_send(CaptureCommand::SetDetector(settings));
    }

    pub fn set_paused(&self, paused: bool) {
        let _ = self.capture_commands.try_send(CaptureCommand::SetPaused(paused));
    }

    /// Stops both threads and waits for them (the source is released when this returns).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct CaptureLoop {
    source: Box<dyn FrameSource>,
    spec: SourceSpec,
    finder: FaceFinder,
    framing: Framing,
    mode: Mode,
    keep_frames: bool,
    frames: FrameSender<DetectedFrame>,
    events: EventSink,
    commands: Receiver<CaptureCommand>,
    stop: Arc<AtomicBool>,
    paused: bool,
}

/// Live, full scans run beside the capture thread, so that no frame waits for one; offline
/// they run in line, so that the same frames always give the same faces.
fn new_finder(settings: crate::detect::DetectorSettings, mode: Mode) -> Result<FaceFinder, crate::detect::DetectError> {
    let finder = FaceFinder::new(settings)?;
    match mode {
        Mode::Live => finder.scan_in_background(),
        Mode::Offline => Ok(finder),
    }
}

impl CaptureLoop {
    fn run(mut self) {
        let started = Instant::now();
        // Files and the demo play at their own rate in live mode; cameras pace themselves.
        let pace = self.mode == Mode::Live && !self.source.is_camera();
        let fallback_fps = self.source.nominal_fps().unwrap_or(crate::source::DEMO_FPS);
        let mut played_ms = 0.0;
        let mut read_errors = 0;
        while !self.stop.load(Ordering::Relaxed) {
            self.handle_commands();
            if self.paused {
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
            if pace {
                // Wait for the frame's due time before reading it, so that `captured_at` is
                // when a camera would have delivered it.
                played_ms += 1e3 / fallback_fps;
                let due = started + Duration::from_secs_f64(played_ms / 1e3);
                match due.checked_duration_since(Instant::now()) {
                    Some(wait) => std::thread::sleep(wait.min(Duration::from_millis(500))),
                    // Far behind (after a pause, or a slow stage): play on from now instead of
                    // rushing through the backlog.
                    None => played_ms = played_ms.max(started.elapsed().as_secs_f64() * 1e3 - 100.0),
                }
            }
            let captured_at = Instant::now();
            let frame = match self.source.next_frame() {
                Ok(Some(frame)) => {
                    read_errors = 0;
                    frame
                }
                Ok(None) => {
                    self.events.report(PipelineEvent::SourceEnded);
                    break;
                }
                Err(error) => {
                    self.events.report(PipelineEvent::SourceProblem(crate::errors::one_line(&error)));
                    if self.source.is_camera() && self.mode == Mode::Live && self.reopen_camera() {
                        continue;
                    }
                    read_errors += 1;
                    // A folder moves on to its next image whatever happens, so every good image
                    // is read; a video that keeps failing at one place is given up.
                    let stuck = !self.source.frames_are_independent() && read_errors >= MAX_CONSECUTIVE_READ_ERRORS;
                    if self.source.is_camera() || stuck {
                        break;
                    }
                    continue; // an unreadable image in a folder: skip it
                }
            };
            let decode_ms = ms_since(captured_at);
            match self.detect(frame, captured_at, decode_ms) {
                Ok(detected) => {
                    if !self.frames.send(detected, &self.stop) {
                        break;
                    }
                }
                Err(error) => {
                    self.events.report(PipelineEvent::SourceProblem(crate::errors::one_line(&error)));
                }
            }
        }
    }

    fn detect(&mut self, frame: source::Frame, captured_at: Instant, decode_ms: f64) -> Result<DetectedFrame, crate::detect::DetectError> {
        let t0 = Instant::now();
        let grey = to_grey(&frame.image)?;
        let found = if self.source.frames_are_independent() { self.finder.find_in_still(&grey)? } else { self.finder.find(&grey)? };
        let detect_ms = ms_since(t0);
        let t1 = Instant::now();
        let mut faces = Vec::with_capacity(found.len());
        let mut crops = Vec::with_capacity(found.len());
        for face in found {
            if let Ok(crop) = self.framing.extract(&grey, face.bbox) {
                faces.push((face.track_id, face.bbox));
                crops.push(crop);
            }
        }
        let crop_ms = ms_since(t1);
        Ok(DetectedFrame {
            frame_index: frame.index,
            source_time_ms: frame.time_ms,
            source_name: frame.name,
            frame_size: frame.image.size()?,
            frame: self.keep_frames.then_some(frame.image),
            faces,
            crops,
            timings: StageTimings { decode_ms, detect_ms, crop_ms, infer_ms: 0.0 },
            captured_at,
        })
    }

    fn handle_commands(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                CaptureCommand::SetPaused(paused) => self.paused = paused,
                CaptureCommand::SetDetector(settings) => match new_finder(settings, self.mode) {
                    Ok(finder) => self.finder = finder,
                    Err(error) => {
                        self.events.report(PipelineEvent::SourceProblem(crate::errors::one_line(&error)));
                    }
                },
            }
        }
    }

    /// Re-tries the camera until it opens again or the pipeline stops.
    fn reopen_camera(&mut self) -> bool {
        let mut waited = Duration::ZERO;
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(POLL_INTERVAL);
            waited += POLL_INTERVAL;
            if waited < CAMERA_RETRY_INTERVAL {
                continue;
            }
            waited = Duration::ZERO;
            if let Ok(source) = source::open(&self.spec, true) {
                self.source = source;
                self.finder.reset();
                self.events.report(PipelineEvent::SourceRecovered);
                return true;
            }
        }
        false
    }
}

struct InferenceLoop {
    classifier: Classifier,
    classifier_options: ClassifierOptions,
    smoother: Option<Smoother>,
    frames: Receiver<DetectedFrame>,
    results: FrameSender<FrameResult>,
    events: EventSink,
    commands: Receiver<InferenceCommand>,
    stop: Arc<AtomicBool>,
}

/// A model load on the loader thread: which request it answers, and how it went.
struct LoadedModel {
    request: u64,
    path: PathBuf,
    classifier: Result<Classifier, String>,
}

/// Model switches in order: one load at a time, and only the latest request is loaded next
/// and reported, so rapid requests end on the last one asked for.
#[derive(Default)]
struct SwitchQueue {
    /// Number of the latest request.
    latest: u64,
    /// The request being loaded now.
    loading: Option<u64>,
    /// The latest request, when it waits for the load in progress.
    waiting: Option<(u64, PathBuf)>,
}

impl InferenceLoop {
    fn run(mut self) {
        let (loaded_tx, loaded_rx) = crossbeam_channel::bounded::<LoadedModel>(1);
        // Loader threads are joined before this thread ends: one still inside ONNX Runtime at
        // process exit can crash it.
        let mut loaders: Vec<JoinHandle<()>> = Vec::new();
        let mut switches = SwitchQueue::default();
        while !self.stop.load(Ordering::Relaxed) {
            select! {
                recv(self.frames) -> message => match message {
                    Ok(detected) => {
                        let result = self.classify(detected);
                        if !self.results.send(result, &self.stop) {
                            break;
                        }
                    }
                    Err(_) => break, // capture ended
                },
                recv(self.commands) -> command => match command {
                    Ok(InferenceCommand::SwitchModel(path)) => {
                        switches.latest += 1;
                        if switches.loading.is_some() {
                            switches.waiting = Some((switches.latest, path));
                        } else {
                            loaders.retain(|handle| !handle.is_finished());
                            switches.loading = Some(switches.latest);
                            loaders.extend(self.load_in_background(switches.latest, path, loaded_tx.clone()));
                        }
                    }
                    Ok(InferenceCommand::SetSmoothing(alpha)) => self.smoother = alpha.map(Smoother::new),
                    Err(_) => break,
                },
                recv(loaded_rx) -> loaded => if let Ok(loaded) = loaded {
                    switches.loading = None;
                    // A later request overtook this one: it is dropped unseen.
                    if loaded.request == switches.latest {
                        self.use_loaded_model(loaded);
                    }
                    if let Some((request, path)) = switches.waiting.take() {
                        loaders.retain(|handle| !handle.is_finished());
                        switches.loading = Some(request);
                        loaders.extend(self.load_in_background(request, path, loaded_tx.clone()));
                    }
                },
                default(POLL_INTERVAL) => {}
            }
        }
        drop(loaded_rx);
        for loader in loaders {
            let _ = loader.join();
        }
    }

    fn use_loaded_model(&mut self, loaded: LoadedModel) {
        match loaded.classifier {
            Ok(classifier) => {
                let info = classifier.info().clone();
                self.classifier = classifier;
                if let Some(smoother) = &mut self.smoother {
                    smoother.reset();
                }
                self.events.report(PipelineEvent::ModelLoaded(info));
            }
            Err(error) => self.events.report(PipelineEvent::ModelSwitchFailed { path: loaded.path, error }),
        }
    }

    /// Loading takes tens of ms; doing it on the side keeps results flowing meanwhile. A load
    /// that cannot start is answered at once, as a failed load.
    fn load_in_background(&self, request: u64, path: PathBuf, done: Sender<LoadedModel>) -> Option<JoinHandle<()>> {
        let options = self.classifier_options;
        let spawned = std::thread::Builder::new().name("emocam-model-loader".into()).spawn({
            let (path, done) = (path.clone(), done.clone());
            move || {
                let classifier = Classifier::load(&path, options).map_err(|e| crate::errors::one_line(&e));
                // Blocks only until the inference thread takes it, or not at all once it is gone.
                let _ = done.send(LoadedModel { request, path, classifier });
            }
        });
        match spawned {
            Ok(handle) => Some(handle),
            Err(error) => {
                let _ = done.try_send(LoadedModel { request, path, classifier: Err(format!("could not start the model loader: {error}")) });
                None
            }
        }
    }

    fn classify(&mut self, detected: DetectedFrame) -> FrameResult {
        let t0 = Instant::now();
        let mut faces: Vec<FaceResult> = match self.classifier.classify(&detected.crops) {
            Ok(all) => detected.faces.iter().zip(all).map(|(&(track_id, bbox), probabilities)| FaceResult { track_id, bbox, probabilities }).collect(),
            Err(error) => {
                self.events.report(PipelineEvent::ModelFailed(crate::errors::one_line(&error)));
                Vec::new()
            }
        };
        if let Some(smoother) = &mut self.smoother {
            smoother.apply(faces.iter_mut().map(|f| (f.track_id, &mut f.probabilities)));
        }
        let mut timings = detected.timings;
        timings.infer_ms = ms_since(t0);
        FrameResult {
            frame_index: detected.frame_index,
            source_time_ms: detected.source_time_ms,
            source_name: detected.source_name,
            frame_size: detected.frame_size,
            frame: detected.frame,
            faces,
            model: self.classifier.info().clone(),
            timings,
            captured_at: detected.captured_at,
            finished_at: Instant::now(),
        }
    }
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}
