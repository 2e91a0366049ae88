//! The model dropdown's entries: every `.onnx` file in the models folder, read once in the
//! background (name, classes, accuracy, and the time per face measured on this machine), plus
//! files opened by path. The order is stable (the folder's models by file name, then files
//! opened by path in the order they were opened), so that keys 1–9 always pick the same model.

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
    /// Milliseconds to score one face, measured on this machine when the folder was read.
    pub ms_per_face: Option<f64>,
    /// Named by the models folder's `default.txt`.
    pub recommended: bool,
}

impl ModelEntry {
    /// An entry for a model loaded elsewhere (no measurement yet).
    pub fn loaded(path: PathBuf, info: Result<Arc<ModelInfo>, Arc<ModelError>>) -> Self {
        Self { path, info, ms_per_face: None, recommended: false }
    }
}

impl ModelEntry {
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| self.path.display().to_string())
    }

    /// One line for the dropdown, in plain words: what it is, how often it is right, how fast.
    pub fn title(&self) -> String {
        let info = match &self.info {
            Ok(info) => info,
            Err(error) => return format!("{} — unusable: {}", self.file_name(), short_reason(error, &self.path)),
        };
        let mut parts = vec![format!("{} emotions", info.labels.len())];
        if let Some(accuracy) = info.publictest_accuracy {
            parts.push(format!("right {:.0}% of the time", accuracy * 100.0));
        }
        if let Some(ms) = self.ms_per_face {
            parts.push(speed_words(ms));
        }
        let recommended = if self.recommended { " — recommended" } else { "" };
        format!("{}: {}{recommended}", info.display_name, parts.join(", "))
    }

    /// More detail, for the tooltip.
    pub fn details(&self) -> String {
        let Ok(info) = &self.info else { return self.path.display().to_string() };
        let family = info.architecture.clone().unwrap_or_else(|| "unknown network".into());
        let accuracy = info
            .publictest_accuracy
            .map(|a| format!("{:.1}% on {}", a * 100.0, info.dataset.as_deref().unwrap_or("its test set")))
            .unwrap_or_else(|| "accuracy not recorded".into());
        let speed = self.ms_per_face.map(|ms| format!("{ms:.1} ms per face on this machine")).unwrap_or_else(|| "speed not measured".into());
        format!("{family} · {accuracy} · {speed}\nclasses: {}\n{}", info.labels.join(", "), self.path.display())
    }
}

/// Speed in words: what a person needs to know is whether a crowd will slow the video down.
pub fn speed_words(ms_per_face: f64) -> String {
    let speed = if ms_per_face < 1.0 {
        "very fast"
    } else if ms_per_face < 4.0 {
        "fast"
    } else {
        "slower"
    };
    format!("{speed} ({ms_per_face:.1} ms per face)")
}

#[derive(Default)]
pub struct ModelCatalog {
    entries: Vec<ModelEntry>,
    /// The models folder: its models come first in the menu.
    dir: Option<PathBuf>,
    scanning: Option<Receiver<Result<Vec<ModelEntry>, CatalogError>>>,
}

impl ModelCatalog {
    /// Starts reading the models in `dir`; `repaint` is called when done.
    pub fn scan(&mut self, workers: &mut Workers, dir: &Path, options: ClassifierOptions, repaint: impl Fn() + Send + 'static) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.dir = Some(dir.to_path_buf());
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

    /// Adds the entry for `entry.path`, or updates it (keeping what is known of it already).
    pub fn upsert(&mut self, entry: ModelEntry) {
        match self.entries.iter_mut().find(|e| same_file(&e.path, &entry.path)) {
            Some(existing) => {
                existing.info = entry.info;
                existing.ms_per_face = entry.ms_per_face.or(existing.ms_per_face);
                existing.recommended |= entry.recommended;
            }
            None => self.entries.push(entry),
        }
        // The folder's models first, by file name; then the others in the order they came.
        let in_dir = |e: &ModelEntry| self.dir.as_deref().is_some_and(|dir| e.path.parent().is_some_and(|parent| same_file(parent, dir)));
        let mut keyed: Vec<(bool, Option<String>, ModelEntry)> = self.entries.drain(..).map(|e| (!in_dir(&e), in_dir(&e).then(|| e.file_name()), e)).collect();
        keyed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        self.entries = keyed.into_iter().map(|(_, _, e)| e).collect();
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
    let default = crate::inference::catalog::read_default_file(&dir.join(crate::inference::catalog::DEFAULT_MODEL_FILE))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut entries = Vec::with_capacity(paths.len());
    for path in paths {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let recommended = !default.is_empty() && path.file_name().is_some_and(|n| n.to_string_lossy() == default);
        match Classifier::load(&path, options) {
            Ok(mut classifier) => {
                let ms_per_face = measure_ms_per_face(&mut classifier);
                entries.push(ModelEntry { info: Ok(classifier.info().clone()), path, ms_per_face, recommended });
            }
            Err(e) => entries.push(ModelEntry { info: Err(Arc::new(e)), path, ms_per_face: None, recommended }),
        }
    }
    Some(Ok(entries))
}

/// Time to score one face: the best of a few batches of eight grey faces, after a warm-up run
/// (the first run of a model sets up its buffers). A few milliseconds per model, once.
fn measure_ms_per_face(classifier: &mut Classifier) -> Option<f64> {
    const BATCH: usize = 8;
    let side = crate::vision::face::FACE_SIDE_PX as usize;
    let faces: Vec<crate::vision::face::GrayFace> = (0..BATCH).filter_map(|_| crate::vision::face::GrayFace::from_pixels(vec![128; side * side])).collect();
    classifier.classify(&faces).ok()?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        classifier.classify(&faces).ok()?;
        best = best.min(started.elapsed().as_secs_f64() * 1e3 / BATCH as f64);
    }
    Some(best)
}

/// The reason `error` gives, without the file name that starts it (the dropdown shows the
/// file already).
pub fn short_reason(error: &ModelError, path: &Path) -> String {
    let message = crate::errors::one_line(error);
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(&message).to_string()
}
