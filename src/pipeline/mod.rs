//! The running pipeline: a capture thread (read, detect, crop) and an inference thread
//! (classify, smooth), joined by bounded channels.
//!
//! In [`Mode::Live`] both channels keep only the newest item, so a slow stage drops frames
//! instead of building a queue, and file sources are played at their own frame rate. In
//! [`Mode::Offline`] every frame is processed as fast as possible, in order (analyzer, bench).
//! Both threads check a stop flag at least every [`POLL_INTERVAL`], so shutdown is prompt.

mod capture;
mod channels;
mod infer;
pub(crate) mod latest;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use opencv::core::{Mat, Rect, Size};

use crate::inference::classifier::{Classifier, ClassifierOptions, ModelError, ModelInfo};
use crate::inference::smooth::Smoother;
use crate::source::{self, FrameSource, SourceError, SourceSpec};
use crate::vision::detect::{DetectError, DetectorSettings, FoundFace};
use crate::vision::detector::Keypoints;
use crate::vision::face::Framing;
use capture::{CaptureCommand, CaptureLoop};
use channels::{EventSink, FrameSender};
use infer::{InferenceCommand, InferenceLoop};

/// How often blocked threads look at the stop flag.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

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
    /// Eyes, nose, mouth and ears, where the detector finds them (BlazeFace).
    pub keypoints: Option<Keypoints>,
    /// In the order of `FrameResult::model.labels`.
    pub probabilities: Vec<f32>,
}

impl FaceResult {
    pub fn new(face: &FoundFace, probabilities: Vec<f32>) -> Self {
        Self { track_id: face.track_id, bbox: face.bbox, keypoints: face.keypoints, probabilities }
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
    /// When capture of this frame started (the app measures capture-to-display from it).
    pub captured_at: Instant,
    /// The last [`Pipeline::seek`] request handled before this frame was read (0: none), so
    /// that results from before a seek can be told apart.
    pub seek_id: SeekId,
}

/// Numbers [`Pipeline::switch_model`] requests, so that its answers can be told apart.
pub type SwitchId = u64;

/// Numbers [`Pipeline::seek`] requests, from 1.
pub type SeekId = u64;

/// Why [`Pipeline::seek`] was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SeekError {
    #[error("this source cannot jump to a frame")]
    NotSeekable,
    #[error("the video thread has ended")]
    Stopped,
    #[error("the video thread is busy: try again")]
    Busy,
}

/// Things that happen besides results. Errors come whole (shared, since events are cloned), so
/// that whoever shows them can tell what failed and print the cause once.
#[derive(Clone, Debug)]
pub enum PipelineEvent {
    /// The model of switch request `id`, the last one asked for, runs now.
    ModelSwitched { id: SwitchId, info: Arc<ModelInfo> },
    /// The model of switch request `id` could not be loaded; the previous model keeps running.
    ModelSwitchFailed { id: SwitchId, path: PathBuf, error: Arc<ModelError> },
    /// The running model failed on a frame (that frame has no faces).
    InferenceFailed(Arc<ModelError>),
    /// The source failed (a camera was unplugged, say); cameras are re-tried.
    SourceLost(Arc<SourceError>),
    /// A camera lost before delivers frames again.
    SourceRecovered,
    /// Faces could not be looked for in a frame, or new detector settings were refused (the
    /// previous ones stay).
    DetectionFailed(Arc<DetectError>),
    /// A finite source has no more frames. Live, a source that can seek stays open at its end
    /// (see [`Pipeline::seek`]).
    SourceEnded,
    /// Seek request `id` to `frame` failed; the source reads on from where it was.
    SeekFailed { id: SeekId, frame: u64, error: Arc<SourceError> },
}

/// Why a pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Detector(#[from] crate::vision::detect::DetectError),
    #[error(transparent)]
    Model(#[from] crate::inference::classifier::ModelError),
    #[error("could not start a thread")]
    Thread(#[source] std::io::Error),
}

/// A running pipeline. Dropping it stops both threads and releases the source.
pub struct Pipeline {
    stop: Arc<AtomicBool>,
    results: Receiver<FrameResult>,
    events: Receiver<PipelineEvent>,
    /// Events that did not fit the channel (see [`EventSink`]).
    events_dropped: Arc<AtomicU64>,
    first_model_failure: Arc<Mutex<Option<Arc<ModelError>>>>,
    /// The id of the last model switch asked for.
    last_switch: AtomicU64,
    inference_commands: Sender<InferenceCommand>,
    capture_commands: Sender<CaptureCommand>,
    threads: Vec<JoinHandle<()>>,
    model: Arc<ModelInfo>,
    source_frame_count: Option<u64>,
    source_fps: Option<f64>,
    can_seek: bool,
    /// The id of the last seek asked for.
    last_seek: AtomicU64,
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
        let finder = capture::new_finder(config.detector.clone(), config.mode)?;
        let classifier = Classifier::load(&config.model, config.classifier)?;
        let model = classifier.info().clone();
        let source_frame_count = source.frame_count();
        let (source_fps, can_seek) = (source.nominal_fps(), source.can_seek());

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
            framing: Framing::for_detector(config.detector.detector),
            mode: config.mode,
            keep_frames: config.keep_frames,
            frames: frame_tx,
            events: event_tx.clone(),
            commands: capture_rx,
            stop: stop.clone(),
            paused: false,
            seek_id: 0,
            show_one: false,
            at_end: false,
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
            seek_id: 0,
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
            last_switch: AtomicU64::new(0),
            inference_commands,
            capture_commands,
            threads,
            model,
            source_frame_count,
            source_fps,
            can_seek,
            last_seek: AtomicU64::new(0),
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
    pub fn first_model_failure(&self) -> Option<Arc<ModelError>> {
        self.first_model_failure.lock().ok().and_then(|first| first.clone())
    }

    /// The model the pipeline started with.
    pub fn initial_model(&self) -> &Arc<ModelInfo> {
        &self.model
    }

    pub fn source_frame_count(&self) -> Option<u64> {
        self.source_frame_count
    }

    /// Loads `path` in the background and switches to it; the answer arrives as
    /// [`PipelineEvent::ModelSwitched`] or [`PipelineEvent::ModelSwitchFailed`] with the id
    /// returned here. Of several requests in a row the last one wins: the ones it overtook are
    /// never loaded or answered.
    pub fn switch_model(&self, path: PathBuf) -> SwitchId {
        let id = self.last_switch.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = self.inference_commands.try_send(InferenceCommand::SwitchModel(id, path));
        id
    }

    pub fn set_smoothing(&self, alpha: Option<f32>) {
        let _ = self.inference_commands.try_send(InferenceCommand::SetSmoothing(alpha));
    }

    /// New detector settings (a bad cascade is reported as [`PipelineEvent::DetectionFailed`]
    /// and ignored).
    pub fn set_detector(&self, settings: DetectorSettings) {
        let _ = self.capture_commands.try_send(CaptureCommand::SetDetector(settings));
    }

    pub fn set_paused(&self, paused: bool) {
        let _ = self.capture_commands.try_send(CaptureCommand::SetPaused(paused));
    }

    /// The source's frame rate, if it has one.
    pub fn source_fps(&self) -> Option<f64> {
        self.source_fps
    }

    /// True when [`Pipeline::seek`] can work (a counted video file, the demo, a folder).
    pub fn can_seek(&self) -> bool {
        self.can_seek
    }

    /// True while the capture thread reads commands: not after the source ended for good, or
    /// failed. Live, a source that can seek stays running at its end.
    pub fn is_running(&self) -> bool {
        self.threads.iter().all(|thread| !thread.is_finished())
    }

    /// Asks the capture thread to go to frame `frame` (past the end: the last frame), without
    /// waiting. Tracked faces and smoothing start anew there; the frame is read and scored even
    /// while paused or at the end (it stays paused). Results read after it carry the returned
    /// id in [`FrameResult::seek_id`]; a failure arrives as [`PipelineEvent::SeekFailed`] with
    /// it. Of several seeks waiting, only the last is done.
    pub fn seek(&self, frame: u64) -> Result<SeekId, SeekError> {
        if !self.can_seek {
            return Err(SeekError::NotSeekable);
        }
        let id = self.last_seek.load(Ordering::Relaxed) + 1;
        match self.capture_commands.try_send(CaptureCommand::Seek { id, frame }) {
            Ok(()) => {
                self.last_seek.store(id, Ordering::Relaxed);
                Ok(id)
            }
            Err(crossbeam_channel::TrySendError::Full(_)) => Err(SeekError::Busy),
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(SeekError::Stopped),
        }
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

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}
