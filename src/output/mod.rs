//! Everything written out: per-face records ([`records`]), annotated frames ([`annotate`],
//! placed by [`layout`], the same placement the app's overlay uses), and files that are
//! complete or absent ([`pending_file`], [`video_file`], [`image`]).

pub mod annotate;
pub mod image;
pub mod layout;
pub mod pending_file;
pub mod records;
pub mod video_file;
