//! The "record" toggle: one CSV row per face per frame, written with the analyzer's writer on
//! its own thread ("emocam-recorder"). The display thread hands every result to it through a
//! bounded channel and never waits: creating files and writing CSV (which can stall on a slow
//! or full disk) happen on the recorder thread alone, and the UI only reads a small status.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::output::records::{RecordError, RecordFormat, RecordWriter};
use crate::pipeline::FrameResult;

/// Results queued for the recorder: about eight seconds of a 30 fps video, so that a disk that
/// stalls for a moment loses nothing; beyond that, frames are counted as skipped.
const QUEUED_FRAMES: usize = 256;

/// Why recording could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot create the recordings folder {}", .0.display())]
    Folder(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot start the recorder thread")]
    Thread(#[source] Arc<std::io::Error>),
    #[error("the recorder has stopped")]
    Stopped,
    #[error("the recorder is not keeping up with the disk")]
    Stalled,
}

/// One recording: a CSV file per label set (a model switch to other labels starts a new file).
pub struct Recording {
    dir: PathBuf,
    writer: RecordWriter,
    files: Vec<PathBuf>,
    rows: u64,
}

impl Recording {
    pub fn start(dir: &Path, model_name: &str) -> Result<Self, RecordingError> {
        std::fs::create_dir_all(dir).map_err(|e| RecordingError::Folder(dir.to_path_buf(), e))?;
        let (writer, path) = Self::new_file(dir, model_name)?;
        Ok(Self { dir: dir.to_path_buf(), writer, files: vec![path], rows: 0 })
    }

    fn new_file(dir: &Path, model_name: &str) -> Result<(RecordWriter, PathBuf), RecordingError> {
        let path = dir.join(super::screenshot::file_name(chrono::Local::now(), model_name, "csv"));
        let writer = RecordWriter::create(&path, RecordFormat::Csv)?;
        Ok((writer, path))
    }

    pub fn write(&mut self, result: &FrameResult) -> Result<(), RecordingError> {
        match self.writer.write_frame(result) {
            Ok(()) => {}
            Err(RecordError::LabelsChanged { .. }) => {
                self.writer.flush()?;
                let (writer, path) = Self::new_file(&self.dir, &result.model.display_name)?;
                self.writer = writer;
                self.files.push(path);
                self.writer.write_frame(result)?;
            }
            Err(other) => return Err(other.into()),
        }
        self.rows += result.faces.len() as u64;
        Ok(())
    }

    /// Flushes and returns the files written.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, RecordingError> {
        self.writer.flush()?;
        Ok(self.files)
    }

    pub fn current_file(&self) -> Option<&Path> {
        self.files.last().map(PathBuf::as_path)
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}

enum Message {
    Start {
        dir: PathBuf,
        model_name: String,
    },
    Frame(FrameResult),
    Stop,
    /// Ends the thread even while display threads still hold senders.
    Quit,
}

/// What the recorder thread reports back to the UI.
pub enum RecorderOutcome {
    Started(PathBuf),
    /// Recording stopped as asked; `skipped`: frames that found the queue full.
    Finished {
        rows: u64,
        files: Vec<PathBuf>,
        skipped: u64,
    },
    /// A recording could not start, or a write failed and recording stopped.
    Failed(RecordingError),
}

/// What the status bar shows while recording.
#[derive(Clone, Debug, Default)]
pub struct RecordingStatus {
    pub file: Option<PathBuf>,
    pub rows: u64,
}

/// The display thread's end: hands results to the recorder without ever waiting.
#[derive(Clone)]
pub struct RecorderFeed {
    tx: Sender<Message>,
    /// Set while a recording is wanted, so that no result is copied otherwise.
    active: Arc<AtomicBool>,
    skipped: Arc<AtomicU64>,
}

impl RecorderFeed {
    pub fn write(&self, result: &FrameResult) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        // The CSV needs the numbers, not the picture: the frame stays with the display.
        let copy = FrameResult {
            frame_index: result.frame_index,
            source_time_ms: result.source_time_ms,
            source_name: result.source_name.clone(),
            frame_size: result.frame_size,
            frame: None,
            faces: result.faces.clone(),
            model: result.model.clone(),
            timings: result.timings,
            captured_at: result.captured_at,
            seek_id: result.seek_id,
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Message::Frame(copy)) {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The UI's end of the recorder: starts and stops recordings and collects what happened.
pub struct Recorder {
    tx: Option<Sender<Message>>,
    outcomes: Receiver<RecorderOutcome>,
    status: Arc<Mutex<RecordingStatus>>,
    active: Arc<AtomicBool>,
    skipped: Arc<AtomicU64>,
    /// Why the thread could not be started, if so.
    unavailable: Option<Arc<std::io::Error>>,
    thread: Option<JoinHandle<()>>,
}

fn lock(status: &Mutex<RecordingStatus>) -> MutexGuard<'_, RecordingStatus> {
    // A panic while holding the lock leaves plain numbers behind; keep using them.
    status.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Recorder {
    /// Starts the recorder thread; `repaint` is called whenever it has news for the UI.
    pub fn new(repaint: impl Fn() + Send + 'static) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(QUEUED_FRAMES);
        let (outcome_tx, outcomes) = crossbeam_channel::bounded(16);
        let status = Arc::new(Mutex::new(RecordingStatus::default()));
        let thread = std::thread::Builder::new().name("emocam-recorder".into()).spawn({
            let status = status.clone();
            move || recorder_loop(&rx, &outcome_tx, &status, &repaint)
        });
        let (tx, thread, unavailable) = match thread {
            Ok(thread) => (Some(tx), Some(thread), None),
            Err(error) => (None, None, Some(Arc::new(error))),
        };
        Self { tx, outcomes, status, active: Arc::new(AtomicBool::new(false)), skipped: Arc::new(AtomicU64::new(0)), unavailable, thread }
    }

    /// The end to give the display thread.
    pub fn feed(&self) -> Option<RecorderFeed> {
        Some(RecorderFeed { tx: self.tx.clone()?, active: self.active.clone(), skipped: self.skipped.clone() })
    }

    /// True from the moment a recording is asked for until it is stopped or fails.
    pub fn is_on(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> RecordingStatus {
        lock(&self.status).clone()
    }

    /// Asks for a recording into `dir`; its file is named after `model_name`.
    pub fn start(&mut self, dir: &Path, model_name: &str) -> Result<(), RecordingError> {
        if self.is_on() {
            return Ok(());
        }
        self.skipped.store(0, Ordering::Relaxed);
        self.send(Message::Start { dir: dir.to_path_buf(), model_name: model_name.to_string() })?;
        // Set after the start message, so the first frame the thread sees has a file to go to.
        self.active.store(true, Ordering::Relaxed);
        Ok(())
    }

    pub fn stop(&mut self) -> Result<(), RecordingError> {
        if !self.is_on() {
            return Ok(());
        }
        self.active.store(false, Ordering::Relaxed);
        self.send(Message::Stop)
    }

    fn send(&self, message: Message) -> Result<(), RecordingError> {
        let Some(tx) = &self.tx else { return Err(self.unavailable.clone().map_or(RecordingError::Stopped, RecordingError::Thread)) };
        // Start and stop share the queue with frames, so that they keep their order; a queue
        // full of frames makes room within milliseconds unless the disk is stuck.
        tx.send_timeout(message, std::time::Duration::from_millis(200)).map_err(|_| RecordingError::Stalled)
    }

    /// Outcomes since the last call. A failure turns the toggle off.
    pub fn finished(&mut self) -> Vec<RecorderOutcome> {
        let skipped = self.skipped.load(Ordering::Relaxed);
        let outcomes: Vec<RecorderOutcome> = self
            .outcomes
            .try_iter()
            .map(|outcome| match outcome {
                // Only the feed knows how many frames found the queue full.
                RecorderOutcome::Finished { rows, files, .. } => RecorderOutcome::Finished { rows, files, skipped },
                other => other,
            })
            .collect();
        if outcomes.iter().any(|o| matches!(o, RecorderOutcome::Failed(_))) {
            self.active.store(false, Ordering::Relaxed);
        }
        outcomes
    }

    /// Completes the recording (if any) and waits for the thread: on exit, the CSV is whole.
    pub fn shut_down(&mut self) {
        let _ = self.stop();
        // After the frames already queued; the display thread may still hold a sender.
        if let Some(tx) = self.tx.take() {
            let _ = tx.send_timeout(Message::Quit, std::time::Duration::from_secs(2));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn recorder_loop(rx: &Receiver<Message>, outcomes: &Sender<RecorderOutcome>, status: &Mutex<RecordingStatus>, repaint: &dyn Fn()) {
    let mut recording: Option<Recording> = None;
    let report = |outcome: RecorderOutcome| {
        let _ = outcomes.try_send(outcome);
        repaint();
    };
    for message in rx {
        match message {
            Message::Start { dir, model_name } => {
                if recording.is_some() {
                    continue;
                }
                match Recording::start(&dir, &model_name) {
                    Ok(started) => {
                        let file = started.current_file().map(Path::to_path_buf);
                        *lock(status) = RecordingStatus { file: file.clone(), rows: 0 };
                        recording = Some(started);
                        report(RecorderOutcome::Started(file.unwrap_or_default()));
                    }
                    Err(error) => report(RecorderOutcome::Failed(error)),
                }
            }
            Message::Frame(result) => {
                let Some(current) = &mut recording else { continue };
                match current.write(&result) {
                    Ok(()) => *lock(status) = RecordingStatus { file: current.current_file().map(Path::to_path_buf), rows: current.rows() },
                    Err(error) => {
                        recording = None;
                        *lock(status) = RecordingStatus::default();
                        report(RecorderOutcome::Failed(error));
                    }
                }
            }
            Message::Quit => break,
            Message::Stop => {
                let Some(done) = recording.take() else { continue };
                let rows = done.rows();
                *lock(status) = RecordingStatus::default();
                report(match done.finish() {
                    Ok(files) => RecorderOutcome::Finished { rows, files, skipped: 0 },
                    Err(error) => RecorderOutcome::Failed(error),
                });
            }
        }
    }
    // The app is closing: complete whatever is still being written.
    if let Some(done) = recording.take() {
        let _ = done.finish();
    }
}
