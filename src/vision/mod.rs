//! Finding faces in grey frames: Haar cascades made cheap by tracking ([`detect`], with full
//! scans on their own thread live, `background_scan`, and faces followed between Haar
//! detections by their `template`), box overlap (`overlap`), and the crop of
//! each face as the models were trained on it ([`face`]); [`evaluate`] scores detection against
//! annotated photos.

pub(crate) mod background_scan;
pub mod detect;
pub mod evaluate;
pub mod face;
pub(crate) mod overlap;
mod template;
