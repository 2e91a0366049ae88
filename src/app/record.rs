//! The "record" toggle: one CSV row per face per frame, written by the display thread (which
//! sees every result, even when the window is hidden) with the analyzer's writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::output::records::{RecordError, RecordFormat, RecordWriter};
use crate::pipeline::FrameResult;

/// One recording: a CSV file per label set (a model switch to other labels starts a new file).
pub struct Recording {
    dir: PathBuf,
    writer: RecordWriter,
    files: Vec<PathBuf>,
    rows: u64,
}

impl Recording {
    pub fn start(dir: &Path, model_name: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the recordings folder {}: {e}", dir.display()))?;
        let (writer, path) = Self::new_file(dir, model_name)?;
        Ok(Self { dir: dir.to_path_buf(), writer, files: vec![path], rows: 0 })
    }

    fn new_file(dir: &Path, model_name: &str) -> Result<(RecordWriter, PathBuf), String> {
        let path = dir.join(super::screenshot::file_name(chrono::Local::now(), model_name, "csv"));
        let writer = RecordWriter::create(&path, RecordFormat::Csv).map_err(|e| crate::errors::one_line(&e))?;
        Ok((writer, path))
    }

    pub fn write(&mut self, result: &FrameResult) -> Result<(), String> {
        match self.writer.write_frame(result) {
            Ok(()) => {}
            Err(RecordError::LabelsChanged { .. }) => {
                self.writer.flush().map_err(|e| crate::errors::one_line(&e))?;
                let (writer, path) = Self::new_file(&self.dir, &result.model.display_name)?;
                self.writer = writer;
                self.files.push(path);
                self.writer.write_frame(result).map_err(|e| crate::errors::one_line(&e))?;
            }
            Err(other) => return Err(crate::errors::one_line(&other)),
        }
        self.rows += result.faces.len() as u64;
        Ok(())
    }

    /// Flushes and returns the files written.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, String> {
        self.writer.flush().map_err(|e| crate::errors::one_line(&e))?;
        Ok(self.files)
    }

    pub fn current_file(&self) -> Option<&Path> {
        self.files.last().map(PathBuf::as_path)
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// The recording (if any) and the last write error, shared by the UI and the display thread.
#[derive(Default)]
pub struct RecorderState {
    pub recording: Option<Recording>,
    /// A write failed and recording stopped; the UI reports it once.
    pub failure: Option<String>,
}

#[derive(Clone, Default)]
pub struct SharedRecorder(Arc<Mutex<RecorderState>>);

impl SharedRecorder {
    pub fn lock(&self) -> MutexGuard<'_, RecorderState> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called by the display thread for every result.
    pub fn write(&self, result: &FrameResult) {
        let mut state = self.lock();
        if let Some(recording) = &mut state.recording {
            if let Err(error) = recording.write(result) {
                state.recording = None;
                state.failure = Some(format!("recording stopped: {error}"));
            }
        }
    }
}
