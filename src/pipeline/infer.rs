//! The inference thread: classify the crops, smooth the scores, switch models in order.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{select, Receiver, Sender};

use super::capture::DetectedFrame;
use super::channels::{EventSink, FrameSender};
use super::{ms_since, FaceResult, FrameResult, PipelineEvent, SeekId, SwitchId, POLL_INTERVAL};
use crate::inference::classifier::{Classifier, ClassifierOptions, ModelError};
use crate::inference::smooth::Smoother;

/// Messages to the inference thread.
pub(super) enum InferenceCommand {
    /// Load the model at the path for request id.
    SwitchModel(SwitchId, PathBuf),
    SetSmoothing(Option<f32>),
}

pub(super) struct InferenceLoop {
    pub(super) classifier: Classifier,
    pub(super) classifier_options: ClassifierOptions,
    pub(super) smoother: Option<Smoother>,
    pub(super) frames: Receiver<DetectedFrame>,
    pub(super) results: FrameSender<FrameResult>,
    pub(super) events: EventSink,
    pub(super) commands: Receiver<InferenceCommand>,
    pub(super) stop: Arc<AtomicBool>,
    /// The seek the last frame came after: frames after another one start the smoothing anew.
    pub(super) seek_id: SeekId,
}

/// A model load on the loader thread: which request it answers, and how it went.
struct LoadedModel {
    request: SwitchId,
    path: PathBuf,
    classifier: Result<Classifier, ModelError>,
}

/// Model switches in order: one load at a time, and only the latest request is loaded next
/// and reported, so rapid requests end on the last one asked for.
#[derive(Default)]
struct SwitchQueue {
    /// The latest request.
    latest: SwitchId,
    /// The request being loaded now.
    loading: Option<SwitchId>,
    /// The latest request, when it waits for the load in progress.
    waiting: Option<(SwitchId, PathBuf)>,
}

impl InferenceLoop {
    pub(super) fn run(mut self) {
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
                    Ok(InferenceCommand::SwitchModel(id, path)) => {
                        switches.latest = id;
                        if switches.loading.is_some() {
                            switches.waiting = Some((id, path));
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
                self.events.report(PipelineEvent::ModelSwitched { id: loaded.request, info });
            }
            Err(error) => self.events.report(PipelineEvent::ModelSwitchFailed { id: loaded.request, path: loaded.path, error: Arc::new(error) }),
        }
    }

    /// Loading takes tens of ms; doing it on the side keeps results flowing meanwhile. A load
    /// that cannot start is answered at once, as a failed load.
    fn load_in_background(&self, request: SwitchId, path: PathBuf, done: Sender<LoadedModel>) -> Option<JoinHandle<()>> {
        let options = self.classifier_options;
        let spawned = std::thread::Builder::new().name("emocam-model-loader".into()).spawn({
            let (path, done) = (path.clone(), done.clone());
            move || {
                let classifier = Classifier::load(&path, options);
                // Blocks only until the inference thread takes it, or not at all once it is gone.
                let _ = done.send(LoadedModel { request, path, classifier });
            }
        });
        match spawned {
            Ok(handle) => Some(handle),
            Err(error) => {
                let _ = done.try_send(LoadedModel { request, path: path.clone(), classifier: Err(ModelError::LoaderThread { path, source: error }) });
                None
            }
        }
    }

    fn classify(&mut self, detected: DetectedFrame) -> FrameResult {
        let t0 = Instant::now();
        let mut faces: Vec<FaceResult> = match self.classifier.classify(&detected.crops) {
            Ok(all) => detected.faces.iter().zip(all).map(|(face, probabilities)| FaceResult::new(face, probabilities)).collect(),
            Err(error) => {
                self.events.report(PipelineEvent::InferenceFailed(Arc::new(error)));
                Vec::new()
            }
        };
        // After a seek the scores of another place in the video must not bleed into these.
        if std::mem::replace(&mut self.seek_id, detected.seek_id) != detected.seek_id {
            if let Some(smoother) = &mut self.smoother {
                smoother.reset();
            }
        }
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
            seek_id: detected.seek_id,
        }
    }
}
