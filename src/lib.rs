//! emocam: real-time emotion recognition.
//!
//! Frames come from a [`source`], faces are found by [`detect`] (OpenCV Haar cascades with
//! tracking), cropped the way FER-2013 is framed ([`face`]), turned into the model's tensor
//! ([`preprocess`]) and classified by an ONNX model ([`model`]). [`pipeline`] runs all of it on
//! two threads; [`annotate`] draws the results; [`records`] writes them out.

pub mod analyze;
pub mod annotate;
pub mod app;
pub mod background_scan;
pub mod bench;
pub mod cli;
pub mod detect;
pub mod errors;
pub mod eval_detect;
pub mod face;
pub mod interrupt;
pub mod latest;
pub mod layout;
pub mod measure;
pub mod metadata;
pub mod model;
pub mod output_file;
pub mod pipeline;
pub mod preprocess;
pub mod records;
pub mod resources;
pub mod runtime;
pub mod scores;
pub mod smooth;
pub mod source;
pub mod track;
pub mod video_file;
