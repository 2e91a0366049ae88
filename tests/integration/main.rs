//! Integration tests: the CLI on real images and clips, every bad input, and model loading.
//!
//! One test binary (as ripgrep does) with shared helpers in `util`.

mod architecture;
mod bad_input;
mod cli;
mod detection;
mod models;
mod pipeline;
mod signals;
#[path = "../common/skipped.rs"]
mod skipped;
mod util;
