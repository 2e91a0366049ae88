//! Everything written out: per-face records ([`records`]), annotated frames ([`annotate`],
//! placed by [`layout`], the same placement the app's overlay uses), and files that are
//! complete or absent ([`pending_file`], [`video_file`], [`image`]).

pub(crate) mod annotate;
pub(crate) mod image;
pub(crate) mod layout;
pub(crate) mod pending_file;
pub(crate) mod records;
pub(crate) mod video_file;
