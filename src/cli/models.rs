//! `emocam models`: the models found, with what they take and say.

use anyhow::{bail, Result};
use clap::Args;

use super::ModelArgs;
use crate::inference::catalog::{discover, resolve_model};
use crate::inference::classifier::Classifier;

#[derive(Debug, Args)]
pub(super) struct ModelsArgs {
    #[command(flatten)]
    model: ModelArgs,
}

/// `emocam models`.
pub(super) fn run(ModelsArgs { model: args }: &ModelsArgs) -> Result<()> {
    let dir = args.models_dir();
    let paths = discover(&dir)?;
    if paths.is_empty() {
        bail!("no .onnx models in {}", dir.display());
    }
    let default = resolve_model(None, &dir).ok();
    let mut listing = String::new();
    for path in paths {
        let marker = if default.as_deref() == Some(path.as_path()) { " (default)" } else { "" };
        match Classifier::load(&path, args.classifier_options()) {
            Ok(classifier) => {
                let info = classifier.info();
                let n = &info.normalization;
                listing += &format!("{}{marker}\n  {}\n  labels: {}\n", path.display(), info.summary(), info.labels.join(", "));
                listing += &format!("  input: pixel*{:.6}, mean {:?}, std {:?}; output: {:?}\n", n.pixel_scale, n.mean, n.std, info.output_kind);
                if let Some(arch) = &info.architecture {
                    listing += &format!("  architecture: {arch}\n");
                }
            }
            Err(crate::inference::classifier::ModelError::Runtime(e)) => return Err(e.into()),
            Err(error) => listing += &format!("{}{marker}\n  unusable: {}\n", path.display(), crate::errors::one_line(&error)),
        }
    }
    super::print_to_stdout(&listing)
}
