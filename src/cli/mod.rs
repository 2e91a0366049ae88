//! The command line: the options every command shares, and dispatch to one file per command
//! (each with its own arguments beside it). Nothing below this layer imports from it.

mod analyze;
mod bench;
mod demo_clip;
mod eval_detect;
mod measure_framing;
mod models;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};

use crate::inference::classifier::ClassifierOptions;
use crate::resources;
use crate::source::SourceSpec;
use crate::vision::detect::{
    DetectorKind, DetectorOverrides, DetectorSettings, FULL_SCAN_INTERVAL_RANGE, MIN_FACE_FRACTION_RANGE, MIN_NEIGHBORS_RANGE, SCALE_FACTOR_RANGE,
};

/// Real-time emotion recognition: finds faces with OpenCV Haar cascades and scores their
/// emotions with ONNX CNNs trained on FER-2013.
#[derive(Debug, Parser)]
#[command(name = "emocam", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    app: AppArgs,
}

/// Options of the desktop app (`emocam` without a command).
#[derive(Debug, Args)]
struct AppArgs {
    /// Camera index, video file, image, folder of images, or `demo` [default: camera 0, else the demo]
    #[arg(long, global = false)]
    source: Option<String>,
    #[command(flatten)]
    model: ModelArgs,
    /// Folder for screenshots [default: $EMOCAM_SCREENSHOT_DIR, else <Pictures>/emocam]
    #[arg(long, value_name = "DIR")]
    screenshots: Option<PathBuf>,
    /// Start recording (one CSV row per face per frame, into the screenshots folder) as soon as
    /// the video plays
    #[arg(long)]
    record: bool,
    #[command(flatten)]
    detector: DetectorArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find faces in a source and write one record per face per frame (JSON Lines or CSV)
    Analyze(analyze::AnalyzeArgs),
    /// List the models found, with their input spec and labels
    Models(models::ModelsArgs),
    /// Measure throughput and per-stage timings of the whole pipeline
    Bench(bench::BenchArgs),
    /// Write the built-in demo as a video file (a test clip with known faces)
    DemoClip(demo_clip::DemoClipArgs),
    /// Score face detection against annotated photos (stills and rendered clips), beside plain
    /// OpenCV Haar on the same frames
    EvalDetect(eval_detect::EvalDetectArgs),
    /// Measure how FER-2013 face crops relate to Haar boxes (sets the crop framing)
    MeasureFraming(measure_framing::MeasureFramingArgs),
}

/// Which model to use.
#[derive(Debug, Args, Clone)]
struct ModelArgs {
    /// Model: an .onnx path or the name of a model in the models folder [default: the models folder's default]
    #[arg(long, short = 'm')]
    model: Option<String>,
    /// Folder of models [default: models/ of the installation]
    #[arg(long, value_name = "DIR", env = "EMOCAM_MODELS")]
    models_dir: Option<PathBuf>,
    /// ONNX Runtime threads per inference, 1-64
    #[arg(long, default_value_t = 1, value_parser = number_in(1..=64usize))]
    threads: usize,
}

impl ModelArgs {
    fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(resources::models_dir)
    }

    /// The model file to load.
    fn resolve(&self) -> Result<PathBuf> {
        Ok(crate::inference::catalog::resolve_model(self.model.as_deref(), &self.models_dir())?)
    }

    fn classifier_options(&self) -> ClassifierOptions {
        ClassifierOptions { intra_threads: self.threads.max(1) }
    }
}

/// Face detector options. Each one left out keeps the detector's default, or in the app the
/// value saved from the last run.
#[derive(Debug, Args, Clone)]
struct DetectorArgs {
    /// Face detector: blazeface (learned, MediaPipe's) or haar (OpenCV cascades, as in the
    /// FER-2013 study); eval-detect scores both unless one is given [default: blazeface]
    #[arg(long, value_enum)]
    detector: Option<DetectorKind>,
    /// Haar cascade (chooses the Haar detector): a name in haarcascades/ (frontalface_default, frontalface_alt2, ...) or a path [default: frontalface_default]
    #[arg(long)]
    cascade: Option<String>,
    /// Haar: scale step between detection passes (smaller finds more, slower), 1.01-2 [default: 1.1]
    #[arg(long, value_parser = number_in(SCALE_FACTOR_RANGE))]
    scale_factor: Option<f64>,
    /// Haar: neighbouring hits needed per face (higher: fewer false faces), 0-100 [default: 5]
    #[arg(long, value_parser = number_in(MIN_NEIGHBORS_RANGE))]
    min_neighbors: Option<i32>,
    /// Smallest face, as a fraction of the frame's shorter side, 0.01-0.9 [default: 0.06]
    #[arg(long, value_parser = number_in(MIN_FACE_FRACTION_RANGE))]
    min_face: Option<f32>,
    /// Frames between full-frame scans (faces are tracked in between; up to 8x longer while
    /// scans find nothing new) [default: 10]
    #[arg(long, value_parser = number_in(FULL_SCAN_INTERVAL_RANGE))]
    full_scan_every: Option<u32>,
}

/// Detector options that do not go together.
#[derive(Debug, thiserror::Error)]
enum DetectorOptionsError {
    #[error("{0} is an option of the Haar detector: leave out --detector blazeface, or give --detector haar")]
    HaarOnly(&'static str),
}

impl DetectorArgs {
    /// The options given that only the Haar detector has.
    fn haar_options_given(&self) -> Vec<&'static str> {
        [(self.cascade.is_some(), "--cascade"), (self.scale_factor.is_some(), "--scale-factor"), (self.min_neighbors.is_some(), "--min-neighbors")]
            .into_iter()
            .filter_map(|(given, name)| given.then_some(name))
            .collect()
    }

    /// The options given. An option of the Haar detector (a cascade, its scale step or its
    /// neighbours) chooses Haar when `--detector` is left out, and is refused with
    /// `--detector blazeface` rather than silently ignored.
    fn overrides(&self) -> Result<DetectorOverrides, DetectorOptionsError> {
        let haar_options = self.haar_options_given();
        let detector = match (self.detector, haar_options.first()) {
            (Some(DetectorKind::Blazeface), Some(option)) => return Err(DetectorOptionsError::HaarOnly(option)),
            (None, Some(_)) => Some(DetectorKind::Haar),
            (given, _) => given,
        };
        Ok(DetectorOverrides {
            detector,
            cascade: self.cascade.clone(),
            scale_factor: self.scale_factor,
            min_neighbors: self.min_neighbors,
            min_face_fraction: self.min_face,
            full_scan_interval_frames: self.full_scan_every,
        })
    }

    /// The defaults with the options given.
    fn settings(&self) -> Result<DetectorSettings, DetectorOptionsError> {
        Ok(self.overrides()?.apply(DetectorSettings::default()))
    }
}

/// Writes a command's report to standard output: a closed, full or ended standard output
/// (`>&-`, `>/dev/full`, `| head -1`) is an error, not a panic or a report lost with exit 0.
fn print_to_stdout(text: &str) -> Result<()> {
    let mut out = crate::output::records::create_output(std::path::Path::new("-"))?;
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("cannot write to standard output")?;
    Ok(())
}

/// Why a number on the command line was refused (clap prints it after the option's name).
#[derive(Debug, thiserror::Error)]
enum NumberError {
    #[error("expected a number, got '{0}'")]
    NotANumber(String),
    #[error("must be between {start} and {end}, got {given}")]
    OutOfRange { start: String, end: String, given: String },
}

/// A value parser for a number within `range`, for every option with limits in one way (clap's
/// own ranges take integers only; this also refuses NaN).
fn number_in<T>(range: std::ops::RangeInclusive<T>) -> impl Fn(&str) -> Result<T, NumberError> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |text: &str| {
        let value: T = text.trim().parse().map_err(|_| NumberError::NotANumber(text.to_string()))?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(NumberError::OutOfRange { start: range.start().to_string(), end: range.end().to_string(), given: text.to_string() })
        }
    }
}

/// The program: runs the command line's command and turns its outcome into the exit code, with
/// any error on one line of standard error.
pub fn main() -> ExitCode {
    #[cfg(unix)]
    crate::output::records::stdout_at_start();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(interrupted) = error.downcast_ref::<crate::interrupt::Interrupted>() {
                // Not an error: the outputs are complete up to where the signal came.
                eprintln!("emocam: {interrupted}");
                return ExitCode::from(interrupted.exit_code());
            }
            // `{:#}` puts the whole cause chain on one line.
            eprintln!("emocam: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line and runs the command.
fn run() -> Result<()> {
    let cli = Cli::parse();
    // Warnings from background threads (the app's notices are also logged); `EMOCAM_LOG=info`
    // or `debug` shows more.
    let filter = tracing_subscriber::EnvFilter::try_from_env("EMOCAM_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("emocam=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    crate::source::quiet_opencv_logging();
    match cli.command {
        Some(Command::Analyze(args)) => analyze::run(&args),
        Some(Command::Models(args)) => models::run(&args),
        Some(Command::Bench(args)) => bench::run(&args),
        Some(Command::DemoClip(args)) => demo_clip::run(&args),
        Some(Command::EvalDetect(args)) => eval_detect::run(&args),
        Some(Command::MeasureFraming(args)) => measure_framing::run(&args),
        None => run_app(cli.app),
    }
}

fn run_app(args: AppArgs) -> Result<()> {
    let source: Option<SourceSpec> = args.source.as_deref().map(|s| s.parse().unwrap_or(SourceSpec::Demo));
    crate::app::run(crate::app::AppOptions {
        source,
        model: args.model.resolve()?,
        models_dir: args.model.models_dir(),
        classifier: args.model.classifier_options(),
        detector: args.detector.overrides()?,
        screenshots: args.screenshots,
        record: args.record,
    })
}
