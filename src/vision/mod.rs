//! Finding faces in frames and cropping them as the models were trained on them.
//!
//! - [`detect`]: [`detect::FaceFinder`], the one entry point, with the detector the settings
//!   choose; [`settings`] (options and their ranges) and [`error`];
//! - the detectors: [`blazeface`] (learned, the default) and `cascade` (plain Haar), both
//!   [`detector::FaceDetector`]s; `haar` (the study's Haar cascades with their own tracking:
//!   `template`, `background_scan`);
//! - `learned` (where a learned detector looks, frame after frame), [`tracker`] (ids over
//!   frames), `scene` (scene cuts), `overlap` (IoU);
//! - [`face`]: the 48x48 crop of each face; [`evaluate`]: detection scored against annotated
//!   photos.

pub(crate) mod background_scan;
pub mod blazeface;
pub mod cascade;
pub mod detect;
pub mod detector;
pub mod error;
pub mod evaluate;
pub mod face;
pub(crate) mod haar;
pub(crate) mod learned;
pub(crate) mod overlap;
pub(crate) mod scene;
pub mod settings;
mod template;
pub mod tracker;
