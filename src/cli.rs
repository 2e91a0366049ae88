//! Command-line interface: argument definitions and dispatch to the commands.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::detect::DetectorSettings;
use crate::model::ClassifierOptions;
use crate::resources;
use crate::source::SourceSpec;

/// Real-time emotion recognition: finds faces with OpenCV Haar cascades and scores their
/// emotions with ONNX CNNs trained on FER-2013.
#[derive(Debug, Parser)]
#[command(name = "emocam", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub app: AppArgs,
}

/// Options of the desktop app (`emocam` without a command).
#[derive(Debug, Args)]
pub struct AppArgs {
    /// Camera index, video file, image, folder of images, or `demo` [default: camera 0, else the demo]
    #[arg(long, global = false)]
    pub source: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder for screenshots [default: $EMOCAM_SCREENSHOT_DIR, else <Pictures>/emocam]
    #[arg(long, value_name = "DIR")]
    pub screenshots: Option<PathBuf>,
    /// Start recording (one CSV row per face per frame, into the screenshots folder) as soon as
    /// the video plays
    #[arg(long)]
    pub record: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find faces in a source and write one record per face per frame (JSON Lines or CSV)
    Analyze(AnalyzeArgs),
    /// List the models found, with their input spec and labels
    Models(ModelsArgs),
    /// Measure throughput and per-stage timings of the whole pipeline
    Bench(BenchArgs),
    /// Write the built-in demo as a video file (a test clip with known faces)
    DemoClip {
        /// Output video (.avi: MJPG, .mp4: mp4v)
        output: PathBuf,
        /// Number of frames (the demo shows each photo for 300 frames)
        #[arg(long, default_value_t = 300, value_parser = number_in(1..=1_000_000u64))]
        frames: u64,
    },
    /// Score face detection against annotated photos (stills and rendered clips), beside plain
    /// OpenCV Haar on the same frames
    EvalDetect(EvalDetectArgs),
    /// Measure how FER-2013 face crops relate to Haar boxes (sets the crop framing)
    MeasureFraming {
        /// Folder of face images, searched recursively (e.g. ../shared/fer2013/train)
        dir: PathBuf,
        /// Images to measure
        #[arg(long, default_value_t = 3000)]
        limit: usize,
    },
}

/// Which model to use.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Model: an .onnx path or the name of a model in the models folder [default: the models folder's default]
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Folder of models [default: models/ of the installation]
    #[arg(long, value_name = "DIR", env = "EMOCAM_MODELS")]
    pub models_dir: Option<PathBuf>,
    /// ONNX Runtime threads per inference, 1-64
    #[arg(long, default_value_t = 1, value_parser = number_in(1..=64usize))]
    pub threads: usize,
}

impl ModelArgs {
    pub fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(resources::models_dir)
    }

    /// The model file to load.
    pub fn resolve(&self) -> Result<PathBuf> {
        resolve_model(self.model.as_deref(), &self.models_dir())
    }

    pub fn classifier_options(&self) -> ClassifierOptions {
        ClassifierOptions { intra_threads: self.threads.max(1) }
    }
}

/// File in the models folder naming the default model.
pub const DEFAULT_MODEL_FILE: &str = "default.txt";

/// Resolves a `--model` value: a path, a name in `models_dir`, or (none) the default.
pub fn resolve_model(requested: Option<&str>, models_dir: &std::path::Path) -> Result<PathBuf> {
    if let Some(name) = requested {
        let as_path = PathBuf::from(name);
        if as_path.exists() || name.contains('/') || name.ends_with(".onnx") {
            return Ok(as_path);
        }
        let in_dir = models_dir.join(format!("{name}.onnx"));
        if in_dir.is_file() {
            return Ok(in_dir);
        }
        bail!("no model '{name}': not a file, and no {} ", in_dir.display());
    }
    let default_file = models_dir.join(DEFAULT_MODEL_FILE);
    let name = std::fs::read_to_string(&default_file).with_context(|| format!("no default model: cannot read {} (pass --model)", default_file.display()))?;
    Ok(models_dir.join(name.trim()))
}

/// Face detector options.
#[derive(Debug, Args, Clone)]
pub struct DetectorArgs {
    /// Haar cascade: a name in haarcascades/ (frontalface_default, frontalface_alt2, ...) or a path
    #[arg(long, default_value = "frontalface_default")]
    pub cascade: String,
    /// Scale step between detection passes (smaller finds more, slower), 1.01-2
    #[arg(long, default_value_t = 1.1, value_parser = number_in(crate::detect::SCALE_FACTOR_RANGE))]
    pub scale_factor: f64,
    /// Neighbouring hits needed per face (higher: fewer false faces), 0-100
    #[arg(long, default_value_t = 5, value_parser = number_in(crate::detect::MIN_NEIGHBORS_RANGE))]
    pub min_neighbors: i32,
    /// Smallest face, as a fraction of the frame's shorter side, 0.01-0.9
    #[arg(long, default_value_t = 0.06, value_parser = number_in(crate::detect::MIN_FACE_FRACTION_RANGE))]
    pub min_face: f32,
    /// Frames between full-frame scans (faces are tracked in between; up to 8x longer while
    /// scans find nothing new)
    #[arg(long, default_value_t = 10, value_parser = number_in(crate::detect::FULL_SCAN_INTERVAL_RANGE))]
    pub full_scan_every: u32,
}

impl DetectorArgs {
    pub fn settings(&self) -> DetectorSettings {
        DetectorSettings {
            cascade: resources::cascade_path(&self.cascade),
            scale_factor: self.scale_factor,
            min_neighbors: self.min_neighbors,
            min_face_fraction: self.min_face,
            full_scan_interval_frames: self.full_scan_every,
        }
    }
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Camera index, video file, image, folder of images, or `demo`
    #[arg(required_unless_present = "faces")]
    pub source: Option<String>,
    /// Classify already-cropped face images in DIR (no detection); class subfolders named after
    /// the model's labels are scored as ground truth
    #[arg(long, value_name = "DIR", conflicts_with = "source")]
    pub faces: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub detector: DetectorArgs,
    /// Write JSON Lines records to FILE (`-`: standard output) [default when no output is given]
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write CSV records to FILE (`-`: standard output)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write annotated output: a video file (.mp4/.avi) or a folder of images
    #[arg(long, value_name = "OUT")]
    pub annotate: Option<PathBuf>,
    /// Smooth probabilities over time per face (EMA weight of the newest frame, 0.01-1)
    #[arg(long, value_name = "ALPHA", num_args = 0..=1, default_missing_value = "0.3", value_parser = number_in(0.01..=1.0f32))]
    pub smooth: Option<f32>,
    /// Stop after this many frames (cameras run until stopped otherwise)
    #[arg(long, value_parser = number_in(1..=u64::MAX))]
    pub max_frames: Option<u64>,
}

#[derive(Debug, Args)]
pub struct EvalDetectArgs {
    /// Folder with annotated photos and their faces.json ({"photo.jpg": [[x, y, w, h], ...]})
    #[arg(env = "EMOCAM_FACES_DIR", default_value = "../shared/faces")]
    pub dir: PathBuf,
    /// Clip frame sizes to render the photos at
    #[arg(long = "size", value_name = "WxH", value_parser = parse_frame_size, default_values = ["640x480", "1280x720"])]
    pub sizes: Vec<opencv::core::Size>,
    /// Frames per photo in the clips
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub frames_per_photo: u32,
    /// Print the figures as one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
    /// Instead of scoring, write each clip as a video, DIR/group_<W>x<H>.avi (30 frames/s),
    /// for trying the app and `bench` on group scenes
    #[arg(long, value_name = "DIR")]
    pub write_clips: Option<PathBuf>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// A value parser for a number within `range`, for every option with limits in one way (clap's
/// own ranges take integers only; this also refuses NaN).
fn number_in<T>(range: std::ops::RangeInclusive<T>) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |text: &str| {
        let value: T = text.trim().parse().map_err(|_| format!("expected a number, got '{text}'"))?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(format!("must be between {} and {}, got {text}", range.start(), range.end()))
        }
    }
}

fn parse_frame_size(text: &str) -> Result<opencv::core::Size, String> {
    let parsed = text.split_once('x').and_then(|(w, h)| Some((w.trim().parse::<i32>().ok()?, h.trim().parse::<i32>().ok()?)));
    match parsed {
        Some((w, h)) if (16..=7680).contains(&w) && (16..=4320).contains(&h) => Ok(opencv::core::Size::new(w, h)),
        _ => Err(format!("expected WIDTHxHEIGHT between 16x16 and 7680x4320, like 640x480, got '{text}'")),
    }
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Source to measure (a clip: `emocam demo-clip clip.avi`)
    pub source: String,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub detector: DetectorArgs,
    /// Frames to process; the source is replayed from the start when it is shorter
    #[arg(long, value_parser = number_in(1..=u64::MAX))]
    pub frames: Option<u64>,
    /// Single-face classification runs for the latency figure
    #[arg(long, default_value_t = 2000, value_parser = number_in(1..=1_000_000u32))]
    pub classify_runs: u32,
}

/// Parses the command line and runs the command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    // Warnings from background threads (the app's notices are also logged); `EMOCAM_LOG=info`
    // or `debug` shows more.
    let filter = tracing_subscriber::EnvFilter::try_from_env("EMOCAM_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("emocam=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    crate::source::quiet_opencv_logging();
    match cli.command {
        Some(Command::Analyze(args)) => crate::analyze::run(&args),
        Some(Command::Models(args)) => crate::analyze::list_models(&args.model),
        Some(Command::Bench(args)) => crate::bench::run(&args),
        Some(Command::DemoClip { output, frames }) => {
            crate::interrupt::install().context("cannot set up signal handling")?;
            if !crate::source::write_demo_clip(&output, frames, || crate::interrupt::requested().is_some())? {
                eprintln!("stopped: no clip written to {}", output.display());
                return Err(crate::interrupt::requested().map_or_else(|| anyhow::anyhow!("stopped"), anyhow::Error::from));
            }
            eprintln!("wrote {frames} frames to {}", output.display());
            Ok(())
        }
        Some(Command::EvalDetect(EvalDetectArgs { write_clips: Some(dir), dir: photos_dir, sizes, frames_per_photo, .. })) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
            let photos = crate::eval_detect::load_annotated_photos(&photos_dir)?;
            for size in sizes {
                let path = dir.join(format!("group_{}x{}.avi", size.width, size.height));
                let frames = crate::eval_detect::write_clip(&photos, size, frames_per_photo, &path)?;
                println!("wrote {frames} frames to {}", path.display());
            }
            Ok(())
        }
        Some(Command::EvalDetect(args)) => {
            let report = crate::eval_detect::evaluate(&args.dir, &args.detector.settings(), &args.sizes, args.frames_per_photo)?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{report}");
            }
            Ok(())
        }
        Some(Command::MeasureFraming { dir, limit }) => crate::measure::run(&dir, limit),
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
        detector: args.detector.settings(),
        screenshots: args.screenshots,
        record: args.record,
    })
}
