//! Classifying 48x48 faces with an ONNX model (ONNX Runtime itself is [`crate::runtime`]): what a
//! model says about itself (`metadata`), the input tensor ([`preprocess`]), the loaded model
//! ([`classifier`]), scores to probabilities ([`scores`]), smoothing per face (`smooth`) and
//! the models installed ([`catalog`]).

pub mod catalog;
pub mod classifier;
pub(crate) mod metadata;
pub mod preprocess;
pub mod scores;
pub(crate) mod smooth;
