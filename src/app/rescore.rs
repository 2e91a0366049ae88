//! Results for a frame that stands still: when the video is paused or the source has ended (a
//! photo, a video at its end), the pipeline produces no more results, so a model switch or a
//! detector change would show nothing until the file is reopened. The "emocam-rescore" thread
//! runs detection and scoring on the frame on screen instead, with the settings and model just
//! chosen, and hands back a new result. Only the newest request counts: a slider dragged over
//! ten values costs one or two runs, not ten.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use opencv::core::Mat;
use opencv::prelude::MatTraitConst as _;

use super::workers::Workers;
use crate::inference::classifier::{Classifier, ClassifierOptions, ModelError};
use crate::pipeline::latest::LatestSender;
use crate::pipeline::{FaceResult, FrameResult, StageTimings};
use crate::vision::detect::{DetectError, DetectorSettings, FaceFinder};
use crate::vision::face::{FacesInFrame, Framing};

/// A frame to score again.
pub struct RescoreRequest {
    pub frame: Mat,
    pub frame_index: u64,
    pub source_time_ms: f64,
    pub source_name: String,
    /// The seek the frame came after (see `FrameResult::seek_id`).
    pub seek_id: crate::pipeline::SeekId,
    pub detector: DetectorSettings,
    pub model: PathBuf,
    pub classifier: ClassifierOptions,
}

pub enum RescoreOutcome {
    Done(FrameResult),
    /// The model could not be loaded; the frame keeps its old results.
    ModelFailed {
        path: PathBuf,
        error: Arc<ModelError>,
    },
    /// Detection or scoring failed on this frame.
    Failed(RescoreError),
}

/// Why the frame on screen could not be scored again.
#[derive(Debug, thiserror::Error)]
pub enum RescoreError {
    #[error("cannot start the rescore thread")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("image processing failed")]
    OpenCv(#[from] opencv::Error),
}

/// The UI's end of the rescore thread (started on first use).
#[derive(Default)]
pub struct Rescorer {
    requests: Option<LatestSender<RescoreRequest>>,
    outcomes: Option<Receiver<RescoreOutcome>>,
    /// Requests sent whose outcome has not come back yet.
    waiting: usize,
}

impl Rescorer {
    pub fn request(&mut self, workers: &mut Workers, request: RescoreRequest, repaint: impl Fn() + Send + 'static) -> Result<(), RescoreError> {
        if self.requests.is_none() {
            let (requests, incoming) = crate::pipeline::latest::channel(1);
            let (done, outcomes) = crossbeam_channel::bounded(4);
            workers
                .spawn("emocam-rescore", move |stop| {
                    let mut cached: Option<Classifier> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let request = match incoming.recv_timeout(Duration::from_millis(100)) {
                            Ok(request) => request,
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Disconnected) => return,
                        };
                        let _ = done.send(rescore(request, &mut cached));
                        repaint();
                    }
                })
                .map_err(RescoreError::Thread)?;
            self.requests = Some(requests);
            self.outcomes = Some(outcomes);
        }
        if let Some(requests) = &self.requests {
            // A request still queued is replaced: its outcome will never come.
            let replaced = requests.send(request);
            self.waiting = (self.waiting + 1).saturating_sub(replaced);
        }
        Ok(())
    }

    /// True while a frame is being scored again.
    pub fn busy(&self) -> bool {
        self.waiting > 0
    }

    pub fn finished(&mut self) -> Vec<RescoreOutcome> {
        let outcomes: Vec<RescoreOutcome> = self.outcomes.as_ref().map(|rx| rx.try_iter().collect()).unwrap_or_default();
        self.waiting = self.waiting.saturating_sub(outcomes.len());
        outcomes
    }
}

fn rescore(request: RescoreRequest, cached: &mut Option<Classifier>) -> RescoreOutcome {
    // The model is kept between requests: a detector change should not reload it.
    let classifier = match cached.take() {
        Some(classifier) if super::models::same_file(&classifier.info().path, &request.model) => cached.insert(classifier),
        _ => match Classifier::load(&request.model, request.classifier) {
            Ok(classifier) => cached.insert(classifier),
            Err(error) => return RescoreOutcome::ModelFailed { path: request.model, error: Arc::new(error) },
        },
    };
    match score(&request, classifier) {
        Ok(result) => RescoreOutcome::Done(result),
        Err(error) => RescoreOutcome::Failed(error),
    }
}

fn score(request: &RescoreRequest, classifier: &mut Classifier) -> Result<FrameResult, RescoreError> {
    let captured_at = Instant::now();
    let mut finder = FaceFinder::new(request.detector.clone())?;
    let FacesInFrame { faces: boxes, crops, detect_ms, crop_ms } =
        Framing::for_detector(request.detector.detector).find_and_crop(&mut finder, &request.frame, true)?;
    let t1 = Instant::now();
    let scores = classifier.classify(&crops)?;
    let infer_ms = t1.elapsed().as_secs_f64() * 1e3;
    let faces = boxes.iter().zip(scores).map(|(face, probabilities)| FaceResult::new(face, probabilities)).collect();
    Ok(FrameResult {
        frame_index: request.frame_index,
        source_time_ms: request.source_time_ms,
        source_name: request.source_name.clone(),
        frame_size: request.frame.size()?,
        frame: Some(request.frame.try_clone()?),
        faces,
        model: Arc::clone(classifier.info()),
        timings: StageTimings { decode_ms: 0.0, detect_ms, crop_ms, infer_ms },
        captured_at,
        seek_id: request.seek_id,
    })
}
