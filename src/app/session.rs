//! Starting (and restarting) the pipeline off the UI thread: opening a camera can take a
//! second, and a missing camera falls back to the built-in demo with a notice.

use std::path::PathBuf;

use crossbeam_channel::Receiver;

use super::workers::Workers;

use crate::inference::classifier::ClassifierOptions;
use crate::pipeline::{Mode, Pipeline, PipelineConfig, StartError};
use crate::source::{CameraSource, SourceSpec};
use crate::vision::detect::DetectorSettings;
use crate::vision::face::Framing;

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
    pub overtaken_start: Option<Receiver<Result<Started, String>>>,
}

/// A running pipeline and how it came about.
pub struct Started {
    pub pipeline: Pipeline,
    pub source: SourceSpec,
    /// Set when the requested source could not be opened and the demo plays instead.
    pub fallback_notice: Option<String>,
}

/// Starts the pipeline on a named thread; the outcome arrives on the returned channel and
/// `repaint` is called then.
pub fn start_in_background(workers: &mut Workers, request: StartRequest, repaint: impl Fn() + Send + 'static) -> Receiver<Result<Started, String>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = workers.spawn("emocam-start", {
        let tx = tx.clone();
        move |_stop| {
            let _ = tx.send(start(request));
            repaint();
        }
    });
    if let Err(error) = spawned {
        let _ = tx.send(Err(format!("could not start the video thread: {error}")));
    }
    rx
}

fn start(mut request: StartRequest) -> Result<Started, String> {
    if let Some(previous) = request.previous.take() {
        previous.stop();
    }
    if let Some(Ok(Ok(overtaken))) = request.overtaken_start.take().map(|rx| rx.recv()) {
        overtaken.pipeline.stop();
    }
    let wanted = request.source.clone().unwrap_or(SourceSpec::Camera(DEFAULT_CAMERA));
    let config = |source: SourceSpec| PipelineConfig {
        source,
        detector: request.detector.clone(),
        framing: Framing::default(),
        model: request.model.clone(),
        classifier: request.classifier,
        smoothing_alpha: request.smoothing_alpha,
        mode: Mode::Live,
        keep_frames: true,
    };
    match Pipeline::start(config(wanted.clone())) {
        Ok(pipeline) => Ok(Started { pipeline, source: wanted, fallback_notice: None }),
        Err(StartError::Source(error)) if wanted != SourceSpec::Demo => {
            let notice = match (&request.source, &wanted) {
                (None, SourceSpec::Camera(_)) => "No camera found — playing the built-in demo".to_string(),
                _ => format!("{} — playing the built-in demo", crate::errors::one_line(&error)),
            };
            let pipeline = Pipeline::start(config(SourceSpec::Demo)).map_err(|e| describe(&e, &request.model))?;
            Ok(Started { pipeline, source: SourceSpec::Demo, fallback_notice: Some(notice) })
        }
        Err(error) => Err(describe(&error, &request.model)),
    }
}

fn describe(error: &StartError, model: &std::path::Path) -> String {
    match error {
        StartError::Model(e) => format!("cannot use model {}: {} — pick another model", model.display(), crate::errors::one_line(e)),
        other => crate::errors::one_line(other),
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
