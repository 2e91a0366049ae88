//! What the menus offer: the models (see [`ModelCatalog`]), the cameras that open (probed in
//! the background, only once someone opens the source list) and the detector's cascades.

use crossbeam_channel::Receiver;

use super::models::ModelCatalog;
use super::workers::Workers;
use crate::source::SourceSpec;

pub struct Catalog {
    pub models: ModelCatalog,
    cameras: Vec<i32>,
    camera_probe: Option<Receiver<Vec<i32>>>,
    cameras_probed: bool,
    /// Cascade names, read once at start (the UI must not look files up every frame).
    pub cascades: Vec<String>,
}

impl Catalog {
    pub fn new() -> Self {
        Self {
            models: ModelCatalog::default(),
            cameras: Vec::new(),
            camera_probe: None,
            cameras_probed: false,
            cascades: crate::resources::available_cascades(),
        }
    }

    /// Looks for cameras in the background (the source menu lists them).
    pub fn probe_cameras(&mut self, workers: &mut Workers, repaint: impl Fn() + Send + 'static) {
        self.cameras_probed = true;
        if self.camera_probe.is_none() {
            self.camera_probe = Some(super::session::probe_cameras_in_background(workers, repaint));
        }
    }

    pub fn cameras_probed(&self) -> bool {
        self.cameras_probed
    }

    pub fn probing(&self) -> bool {
        self.camera_probe.is_some()
    }

    /// The cameras found, with the one in use (which may not open a second time) among them.
    pub fn cameras(&self, playing: Option<&SourceSpec>) -> Vec<i32> {
        let mut cameras = self.cameras.clone();
        if let Some(SourceSpec::Camera(index)) = playing {
            if !cameras.contains(index) {
                cameras.push(*index);
                cameras.sort_unstable();
            }
        }
        cameras
    }

    /// Takes in a finished camera probe; returns an error from the model scan, if any.
    pub fn poll(&mut self) -> Option<crate::inference::catalog::CatalogError> {
        if let Some(found) = self.camera_probe.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.camera_probe = None;
            self.cameras = found;
        }
        self.models.poll()
    }
}
