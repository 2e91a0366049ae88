//! What a model says about itself: labels, input layout, normalisation, display name.
//!
//! The same keys come from the ONNX file's `metadata_props` (values are strings; JSON values
//! such as `["angry","happy"]` or `0.5` are parsed) or from a sidecar `<model>.json` next to the
//! file, whose values override the embedded ones. The README lists every key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Metadata keys understood by emocam.
pub mod keys {
    pub const LABELS: &str = "labels";
    pub const DISPLAY_NAME: &str = "display_name";
    pub const LAYOUT: &str = "layout";
    pub const PIXEL_SCALE: &str = "pixel_scale";
    pub const MEAN: &str = "mean";
    pub const STD: &str = "std";
    pub const OUTPUT: &str = "output";
    pub const INPUT_SIZE: &str = "input_size";
    pub const ARCHITECTURE: &str = "architecture";
    pub const DATASET: &str = "dataset";
    pub const PUBLICTEST_ACCURACY: &str = "publictest_accuracy";
    /// Multiply-adds of one pass of the network over one face (`training/` counts them).
    pub const MACS: &str = "macs";
    /// `true` when the graph also runs the mirror image (twice the multiply-adds).
    pub const FLIP_TTA: &str = "flip_tta";
    /// The zooms the graph averages over (a list of scales, 1.0 the face as it is), each mirrored
    /// too with `flip_tta`: one pass of the network per zoom.
    pub const ZOOM_TTA: &str = "zoom_tta";
}

/// A metadata value that is not of the kind its key needs.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("'{key}' is not a number: {value}")]
    NotANumber { key: String, value: String },
    #[error("'{key}' holds a non-number: {value}")]
    NonNumberInList { key: String, value: String },
    #[error("'{key}' holds a non-string: {value}")]
    NonStringInList { key: String, value: String },
    #[error("'{key}' is not a list of names: {value}")]
    NotNames { key: String, value: String },
    #[error("expected a JSON object of metadata keys")]
    NotAnObject,
    #[error("not valid JSON")]
    Json(#[source] serde_json::Error),
}

/// Key/value metadata of one model, embedded and sidecar merged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    values: Map<String, Value>,
}

impl Metadata {
    /// From ONNX `metadata_props`: each string value is parsed as JSON when it is JSON.
    pub fn from_strings<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let values = pairs
            .into_iter()
            .map(|(key, text)| {
                let value = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
                (key, value)
            })
            .collect();
        Self { values }
    }

    /// Parses a sidecar JSON object.
    pub fn from_json(text: &str) -> Result<Self, MetadataError> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(values)) => Ok(Self { values }),
            Ok(_) => Err(MetadataError::NotAnObject),
            Err(e) => Err(MetadataError::Json(e)),
        }
    }

    /// `other`'s keys win over ours.
    pub fn merged_with(mut self, other: Metadata) -> Self {
        self.values.extend(other.values);
        self
    }

    /// A text value, made safe to print (see `printable`).
    pub fn text(&self, key: &str) -> Option<String> {
        match self.values.get(key)? {
            Value::String(s) => Some(printable(s)),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<f32>, MetadataError> {
        let not_a_number = |value: String| MetadataError::NotANumber { key: key.to_string(), value };
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64().map(|v| v as f32)),
            Some(Value::String(s)) => s.trim().parse::<f32>().map(Some).map_err(|_| not_a_number(format!("{s:?}"))),
            Some(other) => Err(not_a_number(other.to_string())),
        }
    }

    /// A number or a list of numbers (per-channel mean/std).
    pub fn numbers(&self, key: &str) -> Result<Option<Vec<f32>>, MetadataError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_f64().map(|f| f as f32).ok_or_else(|| MetadataError::NonNumberInList { key: key.to_string(), value: v.to_string() }))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => self.number(key).map(|n| n.map(|v| vec![v])),
        }
    }

    /// A JSON list of strings, or a comma-separated string.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, MetadataError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(printable).ok_or_else(|| MetadataError::NonStringInList { key: key.to_string(), value: v.to_string() }))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(Value::String(s)) => Ok(Some(s.split(',').map(|p| printable(p.trim())).filter(|p| !p.is_empty()).collect())),
            Some(other) => Err(MetadataError::NotNames { key: key.to_string(), value: other.to_string() }),
        }
    }
}

/// A model's text as it may be shown: control characters (escape sequences, newlines, a bell)
/// become U+FFFD, so a model file cannot rewrite the terminal, forge lines in a CSV header or
/// break the app's layout.
pub fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c }).collect()
}

/// `<model>.json` beside `<model>.onnx`.
pub fn sidecar_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_valued_strings() {
        let meta = Metadata::from_strings([
            ("labels".to_string(), r#"["angry","happy"]"#.to_string()),
            ("mean".to_string(), "0.5".to_string()),
            ("display_name".to_string(), "EmoNet".to_string()),
        ]);
        assert_eq!(meta.strings("labels").unwrap(), Some(vec!["angry".to_string(), "happy".to_string()]));
        assert_eq!(meta.numbers("mean").unwrap(), Some(vec![0.5]));
        assert_eq!(meta.text("display_name").as_deref(), Some("EmoNet"));
    }

    #[test]
    fn comma_separated_labels() {
        let meta = Metadata::from_strings([("labels".to_string(), "angry, fear ,happy".to_string())]);
        assert_eq!(meta.strings("labels").unwrap().unwrap(), vec!["angry", "fear", "happy"]);
    }

    #[test]
    fn sidecar_overrides_embedded_values() {
        let embedded = Metadata::from_strings([("layout".to_string(), "NCHW".to_string())]);
        let sidecar = Metadata::from_json(r#"{"layout": "NHWC", "std": [0.2, 0.3, 0.4]}"#).unwrap();
        let merged = embedded.merged_with(sidecar);
        assert_eq!(merged.text("layout").as_deref(), Some("NHWC"));
        assert_eq!(merged.numbers("std").unwrap(), Some(vec![0.2, 0.3, 0.4]));
    }

    #[test]
    fn control_characters_in_names_and_labels_are_replaced() {
        let meta = Metadata::from_json(r#"{"display_name": "Evil\u001b[2J\nname", "labels": ["ha\u0007ppy", "sad"]}"#).unwrap();
        assert_eq!(meta.text("display_name").as_deref(), Some("Evil\u{FFFD}[2J\u{FFFD}name"));
        assert_eq!(meta.strings("labels").unwrap().unwrap(), vec!["ha\u{FFFD}ppy", "sad"]);
    }

    #[test]
    fn bad_values_are_errors_not_defaults() {
        let meta = Metadata::from_json(r#"{"mean": "zero", "labels": [1, 2]}"#).unwrap();
        assert!(meta.number("mean").is_err());
        assert!(meta.strings("labels").is_err());
        assert!(Metadata::from_json("[1,2]").is_err());
        assert!(Metadata::from_json("{oops").is_err());
    }
}
