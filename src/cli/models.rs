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
    for path in paths {
        let marker = if default.as_deref() == Some(path.as_path()) { " (default)" } else { "" };
        match Classifier::load(&path, args.classifier_options()) {
            Ok(classifier) => {
                let info = classifier.info();
                println!("{}{marker}", path.display());
                println!("  {}", info.summary());
                println!("  labels: {}", info.labels.join(", "));
                let n = &info.normalization;
                println!("  input: pixel*{:.6}, mean {:?}, std {:?}; output: {:?}", n.pixel_scale, n.mean, n.std, info.output_kind);
                if let Some(arch) = &info.architecture {
                    println!("  architecture: {arch}");
                }
            }
            Err(crate::inference::classifier::ModelError::Runtime(e)) => return Err(e.into()),
            Err(error) => println!("{}{marker}\n  unusable: {}", path.display(), crate::errors::one_line(&error)),
        }
    }
    Ok(())
}
