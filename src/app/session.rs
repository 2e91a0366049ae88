//! Starting (and restarting) the pipeline off the UI thread: opening a camera can take a
//! second, and a missing camera falls back to the built-in demo with a notice.

use std::path::PathBuf;

use crossbeam_channel::Receiver;

use super::workers::Workers;

use crate::inference::classifier::ClassifierOptions;
use crate::pipeline::{Mode, Pipeline, PipelineConfig, StartError};
use crate::source::{CameraSource, SourceSpec};
use crate::vision::detect::DetectorSettings;

/// The camera tried when no source is given.
pub const DEFAULT_CAMERA: i32 = 0;
/// Camera indices probed for the picker.
pub const CAMERAS_TO_PROBE: i32 = 6;

/// What to start.
pub struct StartRequest {
    /// `None`: the default camera, else the demo.
    pub source: Option<SourceSpec>,
    pub model: PathBuf,
    pub classifier: ClassifierOptions,
    pub detector: DetectorSettings,
    pub smoothing_alpha: Option<f32>,
    /// The pipeline being replaced: stopped first, so a camera it holds is free again.
    pub previous: Option<Pipeline>,
    /// A start still in flight when this one was asked for: awaited and its pipeline stopped
    /// first, so that two starts never race for one camera.
    pub overtaken_start: Option<Receiver<Result<Started, StartFailure>>>,
}

/// Why a source could not be played (the demo is played instead where that helps).
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error("could not start the video thread")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    Pipeline(#[from] StartError),
}

impl StartFailure {
    /// The text for the banner: what failed, and what to do about a model that can't be used.
    pub fn describe(&self) -> String {
        match self {
            StartFailure::Pipeline(StartError::Model(e)) => format!("cannot use this model: {} — pick another model", crate::errors::one_line(e)),
            other => crate::errors::one_line(other),
        }
    }
}

/// A running pipeline and how it came about.
pub struct Started {
    pub pipeline: Pipeline,
    pub source: SourceSpec,
    /// The photos beside the one playing, for stepping through them.
    pub photos: Option<Photos>,
    /// Set when the requested source could not be opened and the demo plays instead.
    pub fallback_notice: Option<String>,
}

/// Starts the pipeline on a named thread; the outcome arrives on the returned channel and
/// `repaint` is called then.
pub fn start_in_background(workers: &mut Workers, request: StartRequest, repaint: impl Fn() + Send + 'static) -> Receiver<Result<Started, StartFailure>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = workers.spawn("emocam-start", {
        let tx = tx.clone();
        move |_stop| {
            let _ = tx.send(start(request));
            repaint();
        }
    });
    if let Err(error) = spawned {
        let _ = tx.send(Err(StartFailure::Thread(error)));
    }
    rx
}

fn start(mut request: StartRequest) -> Result<Started, StartFailure> {
    if let Some(previous) = request.previous.take() {
        previous.stop();
    }
    if let Some(Ok(Ok(overtaken))) = request.overtaken_start.take().map(|rx| rx.recv()) {
        overtaken.pipeline.stop();
    }
    let (wanted, photos) = photos_for(request.source.clone().unwrap_or(SourceSpec::Camera(DEFAULT_CAMERA)));
    let config = |source: SourceSpec| PipelineConfig {
        source,
        detector: request.detector.clone(),
        model: request.model.clone(),
        classifier: request.classifier,
        smoothing_alpha: request.smoothing_alpha,
        mode: Mode::Live,
        keep_frames: true,
    };
    match Pipeline::start(config(wanted.clone())) {
        Ok(pipeline) => Ok(Started { pipeline, source: wanted, photos, fallback_notice: None }),
        Err(StartError::Source(error)) if wanted != SourceSpec::Demo => {
            let notice = match (&request.source, &wanted) {
                (None, SourceSpec::Camera(_)) => "No camera found — playing the built-in demo".to_string(),
                _ => format!("{} — playing the built-in demo", crate::errors::one_line(&error)),
            };
            let pipeline = Pipeline::start(config(SourceSpec::Demo))?;
            Ok(Started { pipeline, source: SourceSpec::Demo, photos: None, fallback_notice: Some(notice) })
        }
        Err(error) => Err(error.into()),
    }
}

/// The photos of one folder, one of them on screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Photos {
    pub files: Vec<PathBuf>,
    pub index: usize,
    /// Set when a folder was opened (rather than one of its photos): "recent files" lists it.
    pub folder: Option<PathBuf>,
}

impl Photos {
    /// The photo `step` places from the one on screen, if there is one.
    pub fn step(&self, step: isize) -> Option<&PathBuf> {
        self.index.checked_add_signed(step).and_then(|i| self.files.get(i))
    }
}

/// One photo at a time: a folder opens on its first photo, and a photo knows its neighbours,
/// so that ←/→ step through the folder (a slideshow at video speed lets no one look).
fn photos_for(source: SourceSpec) -> (SourceSpec, Option<Photos>) {
    match &source {
        SourceSpec::Folder(dir) => match crate::source::list_images(dir) {
            Ok(files) if !files.is_empty() => (SourceSpec::Image(files[0].clone()), Some(Photos { files, index: 0, folder: Some(dir.clone()) })),
            // Let the pipeline say what is wrong with the folder.
            _ => (source, None),
        },
        SourceSpec::Image(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let photos = crate::source::list_images(dir)
                .ok()
                .and_then(|files| files.iter().position(|f| f.file_name() == path.file_name()).map(|index| Photos { files, index, folder: None }));
            (source, photos)
        }
        _ => (source, None),
    }
}

/// Lists the cameras that open, on a background thread (each failed index can take a while).
pub fn probe_cameras_in_background(workers: &mut Workers, repaint: impl Fn() + Send + 'static) -> Receiver<Vec<i32>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let _ = workers.spawn("emocam-camera-probe", move |stop| {
        let mut found = Vec::new();
        for index in 0..CAMERAS_TO_PROBE {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            if CameraSource::open(index).is_ok() {
                found.push(index);
            }
        }
        let _ = tx.send(found);
        repaint();
    });
    rx
}

/// The running video: the pipeline, its display thread, the source and model in use, and
/// whether it plays.
pub struct Session {
    pub pipeline: Option<Pipeline>,
    pub feed: Option<super::video::DisplayFeed>,
    pub starting: Option<Receiver<Result<Started, StartFailure>>>,
    /// The source playing (after any fallback).
    pub source: Option<SourceSpec>,
    /// The model to use when (re)starting a pipeline.
    pub model_path: PathBuf,
    /// The model the results on screen come from.
    pub model: Option<std::sync::Arc<crate::inference::classifier::ModelInfo>>,
    /// A switch in progress.
    pub pending_model: Option<PathBuf>,
    /// The pipeline's id of that switch, when the pipeline was asked (not a rescore).
    pub pending_switch: Option<crate::pipeline::SwitchId>,
    pub paused: bool,
    pub source_ended: bool,
    /// `--record`: turn recording on once the first pipeline runs (its model names the file).
    pub record_when_playing: bool,
    /// The photo on screen and its neighbours, when a photo or folder plays.
    pub photos: Option<Photos>,
    /// Scores the frame on screen again while no new frames come.
    pub rescorer: super::rescore::Rescorer,
    /// A seek asked of the pipeline whose frame has not come yet.
    pub seek: Option<PendingSeek>,
    /// The seek bar's handle while it is dragged: the frame under the pointer.
    pub scrub: Option<u64>,
    /// When the last seek while dragging was sent (see `panels::DRAG_SEEK_INTERVAL`).
    pub last_drag_seek: Option<std::time::Instant>,
}

/// A seek on its way: results read before it are not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSeek {
    pub id: crate::pipeline::SeekId,
    pub frame: u64,
}

impl Session {
    pub fn new(model_path: PathBuf, record_when_playing: bool) -> Self {
        Self {
            pipeline: None,
            feed: None,
            starting: None,
            source: None,
            model_path,
            model: None,
            pending_model: None,
            pending_switch: None,
            paused: false,
            source_ended: false,
            record_when_playing,
            photos: None,
            rescorer: Default::default(),
            seek: None,
            scrub: None,
            last_drag_seek: None,
        }
    }

    /// True once the source has no more frames (a photo, a video at its end).
    pub fn finished(&self) -> bool {
        self.source_ended || self.feed.as_ref().is_some_and(|f| f.ended())
    }

    /// True while no new frames come: paused or finished. Changes then apply to the frame on
    /// screen (see [`super::rescore`]).
    pub fn standing_still(&self) -> bool {
        self.pipeline.is_some() && (self.paused || self.finished())
    }

    /// The pipeline when it can go to another frame now: a video file that can seek, whose
    /// capture thread still runs (live, a video stays open at its end).
    /// Video files only: the demo could go to any frame too, but it stands in for a camera.
    pub fn seekable(&self) -> Option<&Pipeline> {
        let video = matches!(self.source, Some(SourceSpec::Video(_)));
        self.pipeline.as_ref().filter(|p| video && p.can_seek() && p.is_running())
    }

    /// Stops the display thread and the pipeline (and so releases the camera).
    pub fn stop(&mut self) {
        self.feed = None;
        // A pipeline that finished starting meanwhile is in the channel: stop it too.
        if let Some(Ok(started)) = self.starting.take().and_then(|rx| rx.try_recv().ok()) {
            started.pipeline.stop();
        }
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.stop();
        }
    }
}
