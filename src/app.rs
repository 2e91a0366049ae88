//! The desktop app (placeholder until the egui front end lands).
use std::path::PathBuf;

use crate::detect::DetectorSettings;
use crate::model::ClassifierOptions;
use crate::source::SourceSpec;

pub struct AppOptions {
    pub source: Option<SourceSpec>,
    pub model: PathBuf,
    pub models_dir: PathBuf,
    pub classifier: ClassifierOptions,
    pub detector: DetectorSettings,
    pub screenshots: Option<PathBuf>,
}

pub fn run(_options: AppOptions) -> anyhow::Result<()> {
    anyhow::bail!("the desktop app is not built yet; use `emocam analyze`")
}
