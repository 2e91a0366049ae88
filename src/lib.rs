//! emocam: real-time emotion recognition.
//!
//! The modules follow a frame, each layer using only those above it in this list:
//! - [`source`]: cameras, videos, stills and the demo, as BGR frames;
//! - [`vision`]: faces found (OpenCV Haar cascades with tracking) and cropped the way FER-2013
//!   is framed;
//! - [`inference`]: ONNX models that classify the crops;
//! - [`pipeline`]: the capture and inference threads and the channels between them;
//! - `output`: records, annotated images and videos, files complete or absent;
//! - [`app`] (the desktop app) and [`cli`] (the commands; nothing imports from it).
//!
//! [`errors`], [`interrupt`], [`resources`], [`runtime`] (ONNX Runtime) and [`stats`] serve every layer. ARCHITECTURE.md has the map.

pub mod app;
pub mod cli;
pub mod errors;
pub mod inference;
pub mod interrupt;
pub(crate) mod output;
pub mod pipeline;
pub mod resources;
pub mod runtime;
pub mod source;
pub mod stats;
pub mod vision;
