//! Loading ONNX emotion classifiers and running batches of faces through them.
//!
//! Any ONNX image classifier with one float image input works: the layout, channels and size
//! are read from the graph, labels and normalisation from the model's metadata or sidecar
//! (`inference::metadata`). Whether the output is logits or probabilities comes from the metadata,
//! or is detected on a warm-up run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::inference::metadata::{keys, sidecar_path, Metadata, MetadataError};
use crate::inference::preprocess::{fill_batch, InputSpec, Layout, Normalization, NormalizationError};
use crate::inference::scores::{to_probabilities, OutputKind};
use crate::runtime::{self, RuntimeError};
use crate::vision::face::{GrayFace, FACE_SIDE_PX};

/// Why a model can't be used. Every variant names the file; the reason is its source.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {0} not found")]
    NotFound(PathBuf),
    #[error("{path}: not a loadable ONNX model")]
    Invalid {
        path: PathBuf,
        #[source]
        source: ort::Error,
    },
    #[error("{path}")]
    Unsupported {
        path: PathBuf,
        #[source]
        source: UnsupportedGraph,
    },
    #[error("{path}: bad metadata")]
    Metadata {
        path: PathBuf,
        #[source]
        source: BadMetadata,
    },
    #[error("{path}: inference failed")]
    Inference {
        path: PathBuf,
        #[source]
        source: InferenceError,
    },
    #[error("could not start the model loader for {path}")]
    LoaderThread {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// A graph emocam can't feed or read.
#[derive(Debug, thiserror::Error)]
pub enum UnsupportedGraph {
    #[error("has {0} inputs; expected one image input")]
    InputCount(usize),
    #[error("input '{name}' is {kind}; expected a float32 image tensor")]
    InputType { name: String, kind: String },
    #[error("input '{name}'")]
    Input {
        name: String,
        #[source]
        source: InputSpecError,
    },
    #[error("has no outputs")]
    NoOutputs,
    #[error("output '{name}' is {kind}; expected float32 scores")]
    OutputType { name: String, kind: String },
}

/// An input tensor that is not a face image emocam can make.
#[derive(Debug, thiserror::Error)]
pub enum InputSpecError {
    #[error("input has shape {0:?}; expected an image tensor [N,C,H,W] or [N,H,W,C]")]
    NotAnImage(Vec<i64>),
    #[error("'layout' must be NCHW or NHWC, got {0:?}")]
    Layout(String),
    #[error("input has shape {0:?}: no dimension of 1 or 3 channels where an image has one")]
    NoChannels(Vec<i64>),
    #[error("input has {channels} channels ({layout}); only 1 or 3 are supported")]
    Channels { channels: i64, layout: Layout },
    #[error("'input_size' must be positive, got {0}")]
    InputSize(f32),
    #[error("input of {height}x{width} pixels; emocam takes {} to {} pixels a side", MODEL_INPUT_SIDE_RANGE_PX.start(), MODEL_INPUT_SIDE_RANGE_PX.end())]
    Side { height: i64, width: i64 },
    #[error("input batch of {0}; emocam takes a fixed batch of at most {MAX_FIXED_BATCH}")]
    Batch(i64),
    #[error("input of {0:?} is {1} values a run; emocam takes at most {MAX_INPUT_VALUES_PER_RUN}")]
    TooLarge(Vec<i64>, i64),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

/// Metadata that refuses the model (a model file is untrusted input).
#[derive(Debug, thiserror::Error)]
pub enum BadMetadata {
    #[error("{}", .0.display())]
    SidecarUnreadable(PathBuf, #[source] std::io::Error),
    #[error("{}", .0.display())]
    Sidecar(PathBuf, #[source] MetadataError),
    #[error(transparent)]
    Value(#[from] MetadataError),
    #[error(transparent)]
    Normalization(#[from] NormalizationError),
    #[error(transparent)]
    Labels(#[from] LabelError),
    #[error("'output' must be logits or probabilities, got {0:?}")]
    OutputKind(String),
    #[error("'output' says probabilities, but a blank face gives {0:?} (not in 0..1 summing to 1): say logits")]
    NotProbabilities(Vec<f32>),
}

/// Labels that don't fit the model's outputs or can't key a record.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{labels} labels for {outputs} outputs")]
    Count { labels: usize, outputs: usize },
    #[error("label {0} is empty")]
    Empty(usize),
    #[error("the label {0:?} appears twice")]
    Repeated(String),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

/// Why a batch could not be classified.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("preparing the input tensor")]
    Input(#[source] opencv::Error),
    #[error("ONNX Runtime")]
    Runtime(#[source] ort::Error),
    #[error("output shape {0:?} does not hold one score row per face")]
    OutputShape(Vec<i64>),
    #[error("{outputs} outputs but {labels} labels")]
    LabelCount { outputs: usize, labels: usize },
    #[error("a blank face gives scores that are not numbers: {0:?}")]
    NotNumbers(Vec<f32>),
    #[error("scores that are not probabilities: {0:?}")]
    NotProbabilities(Vec<f32>),
}

/// Everything the app needs to know about a loaded model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub display_name: String,
    pub labels: Vec<String>,
    pub input: InputSpec,
    pub normalization: Normalization,
    pub output_kind: OutputKind,
    pub architecture: Option<String>,
    pub dataset: Option<String>,
    /// Accuracy on FER-2013 PublicTest as recorded by `training/`, 0..1.
    pub publictest_accuracy: Option<f32>,
    /// Multiply-adds per face, mirror averaging included: the cost of a face, comparable
    /// between models.
    pub mult_adds_per_face: Option<f64>,
}

impl ModelInfo {
    /// One line for menus and `emocam models`.
    pub fn summary(&self) -> String {
        let accuracy = self.publictest_accuracy.map(|a| format!(", PublicTest {:.1}%", a * 100.0)).unwrap_or_default();
        let cost = self.mult_adds_per_face.map(|m| format!(", {:.0} M mult-adds per face", m / 1e6)).unwrap_or_default();
        let classes = if self.labels.is_empty() { String::new() } else { format!(", {} classes", self.labels.len()) };
        format!("{} ({}x{}x{} {}{classes}{accuracy}{cost})", self.display_name, self.input.channels, self.input.height, self.input.width, self.input.layout)
    }
}

/// Works out a model's input spec from its input tensor shape and metadata.
///
/// `shape` uses -1 for dynamic dimensions, as ONNX Runtime reports them.
pub fn input_spec_from_shape(shape: &[i64], meta: &Metadata) -> Result<InputSpec, InputSpecError> {
    if shape.len() != 4 {
        return Err(InputSpecError::NotAnImage(shape.to_vec()));
    }
    let is_channels = |d: i64| d == 1 || d == 3;
    let layout = match meta.text(keys::LAYOUT) {
        Some(text) => Layout::parse(&text).ok_or(InputSpecError::Layout(text))?,
        None if is_channels(shape[1]) && !is_channels(shape[3]) => Layout::Nchw,
        None if is_channels(shape[3]) => Layout::Nhwc,
        None => return Err(InputSpecError::NoChannels(shape.to_vec())),
    };
    let (c, h, w) = match layout {
        Layout::Nchw => (shape[1], shape[2], shape[3]),
        Layout::Nhwc => (shape[3], shape[1], shape[2]),
    };
    if !is_channels(c) {
        return Err(InputSpecError::Channels { channels: c, layout });
    }
    let default_side = match meta.number(keys::INPUT_SIZE)? {
        Some(side) if side >= 1.0 => side as i64,
        Some(side) => return Err(InputSpecError::InputSize(side)),
        None => FACE_SIDE_PX as i64,
    };
    let side = |d: i64| if d > 0 { d } else { default_side };
    let (height, width) = (side(h), side(w));
    // Numbers from a model file are untrusted: a side of 1e9 would allocate exabytes.
    if !MODEL_INPUT_SIDE_RANGE_PX.contains(&height) || !MODEL_INPUT_SIDE_RANGE_PX.contains(&width) {
        return Err(InputSpecError::Side { height, width });
    }
    if shape[0] > MAX_FIXED_BATCH {
        return Err(InputSpecError::Batch(shape[0]));
    }
    // The side and the batch are each within range, but not necessarily together: the warm-up
    // allocates a whole fixed batch ([256, 3, 1024, 1024] is 3 GiB).
    let values = shape[0].max(1) * c * height * width;
    if values > MAX_INPUT_VALUES_PER_RUN {
        return Err(InputSpecError::TooLarge(shape.to_vec(), values));
    }
    Ok(InputSpec { layout, channels: c as usize, height: height as usize, width: width as usize, fixed_batch: (shape[0] > 0).then_some(shape[0] as usize) })
}

/// Input sides a model may ask for (faces are 48 px; ImageNet-style backbones take 224).
const MODEL_INPUT_SIDE_RANGE_PX: std::ops::RangeInclusive<i64> = 8..=1024;
/// The largest fixed batch a model may declare (each run pads to it).
const MAX_FIXED_BATCH: i64 = 256;
/// The most input values one run may take: 256 MiB of float32, above a fixed batch of 256
/// ImageNet-sized colour images (38.5 million values).
const MAX_INPUT_VALUES_PER_RUN: i64 = 1 << 26;
/// How far a probability row may sum from one and still count as probabilities.
const PROBABILITY_SUM_TOLERANCE: f32 = 1e-3;

/// Reads normalisation from metadata; without any, pixels are scaled to 0..1.
pub fn normalization_from(meta: &Metadata, channels: usize) -> Result<Normalization, BadMetadata> {
    let defaults = Normalization::default();
    let norm = Normalization {
        pixel_scale: meta.number(keys::PIXEL_SCALE)?.unwrap_or(defaults.pixel_scale),
        mean: meta.numbers(keys::MEAN)?.unwrap_or(defaults.mean),
        std: meta.numbers(keys::STD)?.unwrap_or(defaults.std),
    };
    norm.validate(channels)?;
    Ok(norm)
}

/// The model's labels, checked against its number of outputs. A model without labels gets
/// `class 0`, `class 1`, ... so that it still runs, visibly unlabelled.
pub fn labels_from(meta: &Metadata, num_outputs: usize) -> Result<Vec<String>, LabelError> {
    let labels = match meta.strings(keys::LABELS)? {
        Some(labels) if labels.len() == num_outputs => labels,
        Some(labels) => return Err(LabelError::Count { labels: labels.len(), outputs: num_outputs }),
        None => return Ok((0..num_outputs).map(|i| format!("class {i}")).collect()),
    };
    // Records key probabilities by label (JSON objects, CSV columns): a repeat would lose one.
    for (index, label) in labels.iter().enumerate() {
        if label.trim().is_empty() {
            return Err(LabelError::Empty(index));
        }
        if labels[..index].iter().any(|earlier| earlier.eq_ignore_ascii_case(label)) {
            return Err(LabelError::Repeated(label.clone()));
        }
    }
    Ok(labels)
}

/// A loaded model, ready to classify faces.
pub struct Classifier {
    session: Session,
    info: Arc<ModelInfo>,
    input_buffer: Vec<f32>,
}

/// Threads ONNX Runtime may use inside one inference.
#[derive(Clone, Copy, Debug)]
pub struct ClassifierOptions {
    pub intra_threads: usize,
}

impl Default for ClassifierOptions {
    /// One thread: the capture thread needs the other core, and 48x48 batches are small.
    fn default() -> Self {
        Self { intra_threads: 1 }
    }
}

impl Classifier {
    pub fn load(path: &Path, options: ClassifierOptions) -> Result<Self, ModelError> {
        if !path.is_file() {
            return Err(ModelError::NotFound(path.to_path_buf()));
        }
        let env = runtime::environment()?;
        let invalid = |source: ort::Error| ModelError::Invalid { path: path.to_path_buf(), source };
        let unsupported = |source: UnsupportedGraph| ModelError::Unsupported { path: path.to_path_buf(), source };
        let bad_metadata = |source: BadMetadata| ModelError::Metadata { path: path.to_path_buf(), source };

        let session = Session::builder(&env)
            .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Level3)?))
            .and_then(|b| Ok(b.with_intra_threads(options.intra_threads.max(1))?))
            .and_then(|mut b| b.commit_from_file(path))
            .map_err(invalid)?;

        let embedded = session
            .metadata()
            .ok()
            .map(|m| {
                let keys = m.custom_keys().unwrap_or_default();
                Metadata::from_strings(keys.into_iter().filter_map(|k| m.custom(&k).map(|v| (k, v))))
            })
            .unwrap_or_default();
        let sidecar_file = sidecar_path(path);
        let meta = if sidecar_file.is_file() {
            let text = std::fs::read_to_string(&sidecar_file).map_err(|e| bad_metadata(BadMetadata::SidecarUnreadable(sidecar_file.clone(), e)))?;
            let sidecar = Metadata::from_json(&text).map_err(|e| bad_metadata(BadMetadata::Sidecar(sidecar_file.clone(), e)))?;
            embedded.merged_with(sidecar)
        } else {
            embedded
        };

        let [input] = session.inputs() else {
            return Err(unsupported(UnsupportedGraph::InputCount(session.inputs().len())));
        };
        let input_shape: Vec<i64> = match input.dtype() {
            ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } => shape.to_vec(),
            other => return Err(unsupported(UnsupportedGraph::InputType { name: input.name().to_string(), kind: format!("{other:?}") })),
        };
        let spec =
            input_spec_from_shape(&input_shape, &meta).map_err(|source| unsupported(UnsupportedGraph::Input { name: input.name().to_string(), source }))?;
        let normalization = normalization_from(&meta, spec.channels).map_err(bad_metadata)?;
        let Some(output) = session.outputs().first() else {
            return Err(unsupported(UnsupportedGraph::NoOutputs));
        };
        match output.dtype() {
            ValueType::Tensor { ty: TensorElementType::Float32, .. } => {}
            other => return Err(unsupported(UnsupportedGraph::OutputType { name: output.name().to_string(), kind: format!("{other:?}") })),
        }
        let output_kind = match meta.text(keys::OUTPUT) {
            Some(text) => Some(OutputKind::parse(&text).ok_or_else(|| bad_metadata(BadMetadata::OutputKind(text)))?),
            None => None,
        };

        let display_name = meta
            .text(keys::DISPLAY_NAME)
            .unwrap_or_else(|| path.file_stem().map(|s| crate::inference::metadata::printable(&s.to_string_lossy())).unwrap_or_default());
        let mut classifier = Self {
            session,
            info: Arc::new(ModelInfo {
                path: path.to_path_buf(),
                display_name,
                labels: Vec::new(),
                input: spec,
                normalization,
                output_kind: output_kind.unwrap_or(OutputKind::Logits),
                architecture: meta.text(keys::ARCHITECTURE),
                dataset: meta.text(keys::DATASET),
                publictest_accuracy: meta.number(keys::PUBLICTEST_ACCURACY).map_err(|e| bad_metadata(e.into()))?,
                mult_adds_per_face: mult_adds_per_face(&meta).map_err(bad_metadata)?,
            }),
            input_buffer: Vec::new(),
        };

        // A warm-up run proves the graph runs on our tensors and tells the number of classes
        // (and, without metadata, whether the output is already a softmax).
        let blank = GrayFace::from_pixels(vec![128; (FACE_SIDE_PX * FACE_SIDE_PX) as usize]).expect("48x48");
        let (raw, num_outputs) = classifier.run_batch(std::slice::from_ref(&blank))?;
        let labels = labels_from(&meta, num_outputs).map_err(|e| bad_metadata(e.into()))?;
        if raw.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Inference { path: path.to_path_buf(), source: InferenceError::NotNumbers(raw) });
        }
        if output_kind == Some(OutputKind::Probabilities) && !are_probabilities(&raw) {
            return Err(bad_metadata(BadMetadata::NotProbabilities(raw)));
        }
        let info = Arc::make_mut(&mut classifier.info);
        info.labels = labels;
        info.output_kind = output_kind.unwrap_or_else(|| OutputKind::detect(&raw, num_outputs));
        Ok(classifier)
    }

    pub fn info(&self) -> &Arc<ModelInfo> {
        &self.info
    }

    /// One probability vector per face, in the model's label order.
    pub fn classify(&mut self, faces: &[GrayFace]) -> Result<Vec<Vec<f32>>, ModelError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let (raw, num_outputs) = self.run_batch(faces)?;
        let probabilities = to_probabilities(&raw, num_outputs, self.info.output_kind);
        // Shown as bars and written as records: never NaN, never outside 0..1.
        if let Some(row) = probabilities.iter().find(|row| !are_probabilities(row)) {
            return Err(ModelError::Inference { path: self.info.path.clone(), source: InferenceError::NotProbabilities(row.clone()) });
        }
        Ok(probabilities)
    }

    /// The raw scores for `faces`, padded to the model's fixed batch where it has one.
    fn run_batch(&mut self, faces: &[GrayFace]) -> Result<(Vec<f32>, usize), ModelError> {
        match self.info.input.fixed_batch {
            Some(fixed) if fixed != faces.len() => self.run_in_fixed_batches(faces, fixed),
            _ => self.run_raw(faces),
        }
    }

    fn run_in_fixed_batches(&mut self, faces: &[GrayFace], fixed: usize) -> Result<(Vec<f32>, usize), ModelError> {
        let mut all = Vec::new();
        let mut num_outputs = 0;
        for chunk in faces.chunks(fixed) {
            let mut padded = chunk.to_vec();
            padded.resize(fixed, chunk[0].clone());
            let (raw, n) = self.run_raw(&padded)?;
            all.extend_from_slice(&raw[..chunk.len() * n]);
            num_outputs = n;
        }
        Ok((all, num_outputs))
    }

    /// Runs the graph on `faces` and returns the first output, flattened, and its row length.
    fn run_raw(&mut self, faces: &[GrayFace]) -> Result<(Vec<f32>, usize), ModelError> {
        let path = self.info.path.clone();
        let failed = |source: InferenceError| ModelError::Inference { path: path.clone(), source };
        fill_batch(faces, &self.info.input, &self.info.normalization, &mut self.input_buffer).map_err(|e| failed(InferenceError::Input(e)))?;
        let shape = self.info.input.shape(faces.len());
        let tensor = TensorRef::from_array_view((shape, self.input_buffer.as_slice())).map_err(|e| failed(InferenceError::Runtime(e)))?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(|e| failed(InferenceError::Runtime(e)))?;
        let (out_shape, values) = outputs[0].try_extract_tensor::<f32>().map_err(|e| failed(InferenceError::Runtime(e)))?;
        let num_outputs = values.len() / faces.len();
        if num_outputs == 0 || values.len() != num_outputs * faces.len() || out_shape.first().copied() != Some(faces.len() as i64) {
            return Err(failed(InferenceError::OutputShape(out_shape.to_vec())));
        }
        if !self.info.labels.is_empty() && num_outputs != self.info.labels.len() {
            return Err(failed(InferenceError::LabelCount { outputs: num_outputs, labels: self.info.labels.len() }));
        }
        Ok((values.to_vec(), num_outputs))
    }
}

/// The model's cost per face from its metadata: one pass per zoom the graph averages over (one
/// without `zoom_tta`), each twice with mirror averaging.
fn mult_adds_per_face(meta: &Metadata) -> Result<Option<f64>, BadMetadata> {
    let mirrors = if meta.text(keys::FLIP_TTA).is_some_and(|flip| flip == "true") { 2.0 } else { 1.0 };
    let zooms = meta.numbers(keys::ZOOM_TTA)?.map_or(1, |zooms| zooms.len().max(1));
    let passes = mirrors * zooms as f64;
    Ok(meta.number(keys::MACS)?.filter(|m| m.is_finite() && *m > 0.0).map(|m| f64::from(m) * passes))
}

/// Whether a row of scores is probabilities: each finite and in 0..1, summing to one.
fn are_probabilities(row: &[f32]) -> bool {
    row.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)) && (row.iter().sum::<f32>() - 1.0).abs() <= PROBABILITY_SUM_TOLERANCE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: &str) -> Metadata {
        Metadata::from_json(json).unwrap()
    }

    #[test]
    fn cost_per_face_counts_every_pass_the_graph_makes() {
        let cost = |json: &str| mult_adds_per_face(&meta(json)).unwrap();
        assert_eq!(cost(r#"{"macs": "1000"}"#), Some(1000.0));
        assert_eq!(cost(r#"{"macs": "1000", "flip_tta": "true"}"#), Some(2000.0));
        assert_eq!(cost(r#"{"macs": "1000", "flip_tta": "true", "zoom_tta": [1.0, 1.05]}"#), Some(4000.0));
        assert_eq!(cost(r#"{"macs": "1000", "flip_tta": "false", "zoom_tta": [0.92, 1.0, 1.1]}"#), Some(3000.0));
        assert_eq!(cost(r#"{"flip_tta": "true"}"#), None);
        assert!(mult_adds_per_face(&meta(r#"{"macs": "1000", "zoom_tta": ["big"]}"#)).is_err());
        // As an ONNX file holds them: every value a string.
        let props = [("macs", "1000"), ("flip_tta", "true"), ("zoom_tta", "[0.92, 1.0, 1.1]")];
        let onnx = Metadata::from_strings(props.map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(mult_adds_per_face(&onnx).unwrap(), Some(6000.0));
    }

    #[test]
    fn layout_is_read_from_the_shape() {
        let nchw = input_spec_from_shape(&[-1, 1, 48, 48], &Metadata::default()).unwrap();
        assert_eq!((nchw.layout, nchw.channels, nchw.height, nchw.fixed_batch), (Layout::Nchw, 1, 48, None));
        let nhwc = input_spec_from_shape(&[1, 64, 64, 3], &Metadata::default()).unwrap();
        assert_eq!((nhwc.layout, nhwc.channels, nhwc.width, nhwc.fixed_batch), (Layout::Nhwc, 3, 64, Some(1)));
    }

    #[test]
    fn metadata_layout_wins_and_dynamic_sizes_use_input_size() {
        let spec = input_spec_from_shape(&[-1, 3, -1, -1], &meta(r#"{"layout": "NCHW", "input_size": 64}"#)).unwrap();
        assert_eq!((spec.layout, spec.channels, spec.height, spec.width), (Layout::Nchw, 3, 64, 64));
        // A 1x1 image would be ambiguous about its layout, but no image that small is taken.
        let error = input_spec_from_shape(&[1, 1, 1, 3], &meta(r#"{"layout": "NHWC"}"#)).unwrap_err();
        assert!(error.to_string().contains("pixels a side"), "{error}");
        let error = input_spec_from_shape(&[-1, 1, -1, -1], &meta(r#"{"input_size": "1e9"}"#)).unwrap_err();
        assert!(error.to_string().contains("pixels a side"), "{error}");
    }

    #[test]
    fn a_batch_and_side_each_allowed_but_too_large_together_are_refused() {
        let none = meta("{}");
        assert!(matches!(input_spec_from_shape(&[256, 3, 1024, 1024], &none), Err(InputSpecError::TooLarge(..))));
        assert!(input_spec_from_shape(&[256, 3, 224, 224], &none).is_ok(), "ImageNet-sized fixed batches pass");
        assert!(input_spec_from_shape(&[-1, 3, 1024, 1024], &none).is_ok(), "a dynamic batch is sized by the faces found");
    }

    #[test]
    fn non_image_inputs_are_rejected() {
        assert!(input_spec_from_shape(&[1, 10], &Metadata::default()).is_err());
        assert!(input_spec_from_shape(&[1, 5, 48, 48], &Metadata::default()).is_err());
        assert!(input_spec_from_shape(&[1, 1, 48, 48], &meta(r#"{"layout": "CHWN"}"#)).is_err());
    }

    #[test]
    fn labels_must_match_the_outputs() {
        let m = meta(r#"{"labels": ["angry", "happy"]}"#);
        assert_eq!(labels_from(&m, 2).unwrap(), vec!["angry", "happy"]);
        assert!(labels_from(&m, 3).is_err());
        assert_eq!(labels_from(&Metadata::default(), 2).unwrap(), vec!["class 0", "class 1"]);
        let repeated = labels_from(&meta(r#"{"labels": ["happy", "sad", "Happy"]}"#), 3).unwrap_err();
        assert!(repeated.to_string().contains("\"Happy\" appears twice"), "{repeated}");
        assert!(labels_from(&meta(r#"{"labels": ["happy", " "]}"#), 2).unwrap_err().to_string().contains("label 1 is empty"));
    }

    #[test]
    fn normalization_defaults_and_overrides() {
        assert_eq!(normalization_from(&Metadata::default(), 1).unwrap(), Normalization::default());
        let n = normalization_from(&meta(r#"{"pixel_scale": 1, "mean": [1,2,3], "std": 2}"#), 3).unwrap();
        assert_eq!((n.pixel_scale, n.mean, n.std), (1.0, vec![1.0, 2.0, 3.0], vec![2.0]));
        assert!(normalization_from(&meta(r#"{"mean": [1,2]}"#), 3).is_err());
    }
}
