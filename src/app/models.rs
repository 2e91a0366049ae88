//! The model dropdown's entries: every `.onnx` file in the models folder, read once in the
//! background (name, input size, PublicTest accuracy), plus files opened by path.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::workers::Workers;
use crate::inference::catalog::CatalogError;
use crate::inference::classifier::{Classifier, ClassifierOptions, ModelError, ModelInfo};

#[derive(Clone, Debug)]
pub struct ModelEntry {
    pub path: PathBuf,
    /// The model's description, or why it can't be used.
    pub info: Result<Arc<ModelInfo>, Arc<ModelError>>,
}

impl ModelEntry {
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| self.path.display().to_string())
    }

    /// One line for the dropdown.
    pub fn title(&self) -> String {
        match &self.info {
            Ok(info) => info.summary(),
            Err(error) => format!("{} — unusable: {}", self.file_name(), short_reason(error, &self.path)),
        }
    }
}

#[derive(Default)]
pub struct ModelCatalog {
    entries: Vec<ModelEntry>,
    scanning: Option<Receiver<Result<Vec<ModelEntry>, CatalogError>>>,
}

impl ModelCatalog {
    /// Starts reading the models in `dir`; `repaint` is called when done.
    pub fn scan(&mut self, workers: &mut Workers, dir: &Path, options: ClassifierOptions, repaint: impl Fn() + Send + 'static) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let dir = dir.to_path_buf();
        let spawned = workers.spawn("emocam-model-scan", move |stop| {
            if let Some(found) = read_models(&dir, options, stop) {
                let _ = tx.send(found);
                repaint();
            }
        });
        if spawned.is_ok() {
            self.scanning = Some(rx);
        }
    }

    /// Takes the scan's outcome once it's there; returns an error to show, if any.
    pub fn poll(&mut self) -> Option<CatalogError> {
        let outcome = self.scanning.as_ref()?.try_recv().ok()?;
        self.scanning = None;
        match outcome {
            Ok(found) => {
                for entry in found {
                    self.upsert(entry);
                }
                None
            }
            Err(error) => Some(error),
        }
    }

    pub fn is_scanning(&self) -> bool {
        self.scanning.is_some()
    }

    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    /// Adds or replaces the entry for `entry.path`.
    pub fn upsert(&mut self, entry: ModelEntry) {
        match self.entries.iter_mut().find(|e| same_file(&e.path, &entry.path)) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    pub fn position(&self, path: &Path) -> Option<usize> {
        self.entries.iter().position(|e| same_file(&e.path, path))
    }
}

pub fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Reads every model's description; `None` when stopped half-way.
fn read_models(dir: &Path, options: ClassifierOptions, stop: &AtomicBool) -> Option<Result<Vec<ModelEntry>, CatalogError>> {
    let paths = match crate::inference::catalog::discover(dir) {
        Ok(paths) => paths,
        Err(e) => return Some(Err(e)),
    };
    let mut entries = Vec::with_capacity(paths.len());
    for path in paths {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let info = Classifier::load(&path, options).map(|c| c.info().clone()).map_err(Arc::new);
        entries.push(ModelEntry { path, info });
    }
    Some(Ok(entries))
}

/// The reason `error` gives, without the file name that starts it (the dropdown shows the
/// file already).
pub fn short_reason(error: &ModelError, path: &Path) -> String {
    let message = crate::errors::one_line(error);
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(&message).to_string()
}
