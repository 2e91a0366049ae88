//! `emocam analyze`: the headless analyzer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use opencv::prelude::*;

use crate::output::annotate::{annotate, FaceAnnotation};
use clap::Args;

use super::{number_in, DetectorArgs, ModelArgs};
use crate::inference::classifier::Classifier;
use crate::inference::scores::top;
use crate::output::image::write_image;
use crate::output::pending_file::PendingFile;
use crate::output::records::{FaceRecord, RecordFormat, RecordWriter};
use crate::output::video_file::VideoFile;
use crate::pipeline::{FrameResult, Mode, Pipeline, PipelineConfig, PipelineEvent};
use crate::source::{self, SourceSpec};
use crate::vision::face::GrayFace;

/// `--smooth` without a value: the smoother's default weight, as clap takes it (text).
const DEFAULT_ALPHA_ARG: &str = "0.3";
const SMOOTHING_RANGE: std::ops::RangeInclusive<f32> = 0.01..=1.0;

#[derive(Debug, Args)]
pub(super) struct AnalyzeArgs {
    /// Camera index, video file, image, folder of images, or `demo`
    #[arg(required_unless_present = "faces")]
    source: Option<String>,
    /// Classify already-cropped face images in DIR (no detection); class subfolders named after
    /// the model's labels are scored as ground truth
    #[arg(long, value_name = "DIR", conflicts_with = "source")]
    faces: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    detector: DetectorArgs,
    /// Write JSON Lines records to FILE (`-`: standard output) [default when no output is given]
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write CSV records to FILE (`-`: standard output)
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write annotated output: a video file (.mp4/.avi) or a folder of images
    #[arg(long, value_name = "OUT")]
    annotate: Option<PathBuf>,
    /// Smooth probabilities over time per face (EMA weight of the newest frame, 0.01-1)
    #[arg(long, value_name = "ALPHA", num_args = 0..=1, default_missing_value = DEFAULT_ALPHA_ARG, value_parser = number_in(SMOOTHING_RANGE))]
    smooth: Option<f32>,
    /// Stop after this many frames (cameras run until stopped otherwise)
    #[arg(long, value_parser = number_in(1..=u64::MAX))]
    max_frames: Option<u64>,
}

pub(super) fn run(args: &AnalyzeArgs) -> Result<()> {
    crate::interrupt::install().context("cannot set up signal handling")?;
    let model_path = args.model.resolve()?;
    refuse_outputs_over_inputs(args, &model_path)?;
    let mut writers = open_writers(args)?;
    if let Some(dir) = &args.faces {
        classify_faces(dir, &model_path, &args.model, &mut writers)?;
        return finish_writers(writers);
    }
    let Some(source_text) = args.source.as_deref() else { bail!("give a SOURCE or --faces DIR") };
    let spec: SourceSpec = source_text.parse().unwrap_or(SourceSpec::Demo);
    let mut annotator = match &args.annotate {
        Some(out) => Some(Annotator::create(out, &spec)?),
        None => None,
    };
    let pipeline = Pipeline::start(PipelineConfig {
        source: spec,
        detector: args.detector.settings()?,
        model: model_path,
        classifier: args.model.classifier_options(),
        smoothing_alpha: args.smooth,
        mode: Mode::Offline,
        keep_frames: annotator.is_some(),
    })?;

    let progress = progress_bar(pipeline.source_frame_count().or(args.max_frames));
    let mut frames = 0u64;
    let mut faces = 0u64;
    let mut interrupted = None;
    loop {
        // Between frames: every output then holds whole frames only.
        if let Some(signal) = crate::interrupt::requested() {
            interrupted = Some(signal);
            break;
        }
        // As they come: the channel is bounded, and a warning is worth most beside its frame.
        report_events(&pipeline)?;
        let result = match pipeline.results().recv_timeout(Duration::from_millis(200)) {
            Ok(result) => result,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        for writer in &mut writers {
            writer.write_frame(&result)?;
        }
        if let Some(annotator) = &mut annotator {
            annotator.write(&result)?;
        }
        frames += 1;
        faces += result.faces.len() as u64;
        progress.inc(1);
        if args.max_frames.is_some_and(|max| frames >= max) {
            break;
        }
    }
    progress.finish_and_clear();
    report_events(&pipeline)?;
    if let Some(failure) = pipeline.first_model_failure() {
        return Err(anyhow::Error::new(failure));
    }
    if pipeline.events_dropped() > 0 {
        eprintln!("emocam: warning: {} more warnings not shown (too many at once)", pipeline.events_dropped());
    }
    pipeline.stop();
    finish_writers(writers)?;
    if let Some(annotator) = annotator {
        annotator.finish()?;
    }
    eprintln!("analyzed {frames} frames, {faces} faces");
    match interrupted {
        Some(signal) => Err(signal.into()),
        None => Ok(()),
    }
}

/// Refuses, before anything is created, outputs that would overwrite an input (the source, the
/// face folder or the model) or each other, and two outputs on standard output: creating an
/// output truncates it, so the input would be lost before it is read.
fn refuse_outputs_over_inputs(args: &AnalyzeArgs, model_path: &Path) -> Result<()> {
    let outputs: Vec<(&str, &Path)> = [("--json", &args.json), ("--csv", &args.csv), ("--annotate", &args.annotate)]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path.as_deref()?)))
        .collect();
    let to_stdout: Vec<&str> = outputs.iter().filter(|(_, path)| *path == Path::new("-")).map(|(flag, _)| *flag).collect();
    if to_stdout.len() > 1 {
        bail!("{} all name standard output (-): give each its own file", to_stdout.join(" and "));
    }
    let mut inputs: Vec<&Path> = vec![model_path];
    // A camera index or `demo` names no file.
    inputs.extend(args.source.as_deref().map(Path::new).filter(|path| path.exists()));
    inputs.extend(args.faces.as_deref());
    let files: Vec<(&str, &Path, PathBuf)> =
        outputs.iter().filter(|(_, path)| *path != Path::new("-")).map(|&(flag, path)| (flag, path, file_identity(path))).collect();
    for (index, (flag, path, identity)) in files.iter().enumerate() {
        if let Some(input) = inputs.iter().find(|input| file_identity(input) == *identity) {
            bail!("{flag} {} would overwrite the input {}: choose another output path", path.display(), input.display());
        }
        if let Some((other_flag, _, _)) = files[..index].iter().find(|(_, _, other)| other == identity) {
            bail!("{other_flag} and {flag} both name {}: give each its own file", path.display());
        }
    }
    Ok(())
}

/// The file `path` names, the same however it is spelt (`./a.avi`, `dir/../a.avi`, a link to
/// it); for a file not there yet, its folder's canonical path and its name.
fn file_identity(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Prints the pipeline's warnings; a model failure ends the run.
fn report_events(pipeline: &Pipeline) -> Result<()> {
    for event in pipeline.events().try_iter() {
        match event {
            PipelineEvent::SourceLost(error) => eprintln!("emocam: warning: {}", crate::errors::one_line(&*error)),
            PipelineEvent::DetectionFailed(error) => eprintln!("emocam: warning: {}", crate::errors::one_line(&*error)),
            PipelineEvent::InferenceFailed(error) => return Err(anyhow::Error::new(error)),
            _ => {}
        }
    }
    Ok(())
}

fn open_writers(args: &AnalyzeArgs) -> Result<Vec<RecordWriter>> {
    let mut writers = Vec::new();
    if let Some(path) = &args.json {
        writers.push(RecordWriter::create_complete_or_absent(path, RecordFormat::JsonLines)?);
    }
    if let Some(path) = &args.csv {
        writers.push(RecordWriter::create_complete_or_absent(path, RecordFormat::Csv)?);
    }
    if writers.is_empty() && args.annotate.is_none() {
        writers.push(RecordWriter::create(Path::new("-"), RecordFormat::JsonLines)?);
    }
    Ok(writers)
}

/// Completes every record output (each moves into place only now).
fn finish_writers(writers: Vec<RecordWriter>) -> Result<()> {
    for writer in writers {
        writer.finish()?;
    }
    Ok(())
}

fn progress_bar(length: Option<u64>) -> ProgressBar {
    let bar = match length {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let style =
        ProgressStyle::with_template("{spinner} {pos}/{len} frames [{elapsed_precise}] {per_sec} ETA {eta}").unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Annotated output: one image per input image (stills), or a video (everything else).
/// Every file it writes reaches its name only complete (see `pending_file`).
enum Annotator {
    Images {
        dir: PathBuf,
        single_file: Option<PathBuf>,
    },
    /// The video is created with the first frame (its size).
    Video {
        target: PathBuf,
        video: Option<VideoFile>,
        fps: f64,
    },
}

const VIDEO_EXTENSIONS: &[&str] = &["mp4", "avi", "mkv", "mov"];

impl Annotator {
    fn create(out: &Path, spec: &SourceSpec) -> Result<Self> {
        let is_video_path = out.extension().and_then(|e| e.to_str()).is_some_and(|e| VIDEO_EXTENSIONS.iter().any(|v| e.eq_ignore_ascii_case(v)));
        let stills = matches!(spec, SourceSpec::Image(_) | SourceSpec::Folder(_));
        if stills && !is_video_path {
            if matches!(spec, SourceSpec::Image(_)) && source::is_image_path(out) {
                // Fails now, before any work, where the folder can't be written.
                PendingFile::beside(out)?;
                return Ok(Annotator::Images { dir: PathBuf::new(), single_file: Some(out.to_path_buf()) });
            }
            std::fs::create_dir_all(out).with_context(|| format!("cannot create folder {}", out.display()))?;
            PendingFile::beside(&out.join("annotated.png"))?;
            return Ok(Annotator::Images { dir: out.to_path_buf(), single_file: None });
        }
        if !is_video_path {
            bail!("--annotate {}: give a video file name ({}) for this source", out.display(), VIDEO_EXTENSIONS.join(", "));
        }
        // Fails now, before any work, where the folder can't be written.
        PendingFile::beside(out)?;
        let fps = source::open(spec, false).ok().and_then(|s| s.nominal_fps()).unwrap_or(crate::source::DEMO_FPS);
        Ok(Annotator::Video { target: out.to_path_buf(), video: None, fps })
    }

    fn write(&mut self, result: &FrameResult) -> Result<()> {
        let Some(frame) = &result.frame else { return Ok(()) };
        let mut image = frame.try_clone()?;
        let faces: Vec<FaceAnnotation<'_>> = result.faces.iter().map(FaceAnnotation::from).collect();
        annotate(&mut image, &faces, &result.model.labels)?;
        match self {
            Annotator::Images { dir, single_file } => {
                let path = match single_file {
                    Some(path) => path.clone(),
                    None => annotated_image_path(dir, Path::new(&result.source_name), result.frame_index),
                };
                Ok(write_image(&path, &image)?)
            }
            Annotator::Video { target, video, fps } => {
                let video = match video {
                    Some(video) => video,
                    None => video.insert(VideoFile::create(target, *fps, result.frame_size)?),
                };
                Ok(video.write(&image)?)
            }
        }
    }

    fn finish(self) -> Result<()> {
        // No frame came: no video (OpenCV writes none without a frame size).
        if let Annotator::Video { video: Some(video), .. } = self {
            video.finish()?;
        }
        Ok(())
    }
}

/// Where the annotated copy of the image `source` goes in `dir`: the input's own name and format,
/// so that `x.jpg` and `x.png` of one folder stay two files; `x.pgm.png` for a grey-only format.
fn annotated_image_path(dir: &Path, source: &Path, frame_index: u64) -> PathBuf {
    let Some(name) = source.file_name() else { return dir.join(format!("frame{frame_index:06}.png")) };
    let grey_only = source.extension().is_some_and(|e| GREY_ONLY_IMAGE_EXTENSIONS.iter().any(|g| e.eq_ignore_ascii_case(g)));
    if grey_only {
        let mut png = name.to_os_string();
        png.push(".png");
        return dir.join(png);
    }
    dir.join(name)
}

/// Image formats that hold no colour: the coloured boxes go to a PNG beside the name.
const GREY_ONLY_IMAGE_EXTENSIONS: &[&str] = &["pgm", "pbm"];

/// Faces per inference batch in `--faces` mode.
const FACE_BATCH: usize = 64;

/// `--faces DIR`: classifies cropped faces; with class subfolders, reports accuracy.
fn classify_faces(dir: &Path, model_path: &Path, model_args: &ModelArgs, writers: &mut [RecordWriter]) -> Result<()> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let mut classifier = Classifier::load(model_path, model_args.classifier_options())?;
    let labels = classifier.info().labels.clone();
    // (image, ground-truth label index) pairs: class subfolders, or the folder's own images.
    let mut items: Vec<(PathBuf, Option<usize>)> = Vec::new();
    let mut skipped_classes = Vec::new();
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for sub in &subdirs {
        let name = sub.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        match labels.iter().position(|l| l.eq_ignore_ascii_case(&name)) {
            Some(truth) => items.extend(source::list_images(sub)?.into_iter().map(|p| (p, Some(truth)))),
            None => skipped_classes.push(name),
        }
    }
    items.extend(source::list_images(dir)?.into_iter().map(|p| (p, None)));
    if items.is_empty() {
        bail!("no face images in {} (or in subfolders named after the labels {:?})", dir.display(), labels);
    }
    if !skipped_classes.is_empty() {
        eprintln!("note: skipping subfolders that are not labels of this model: {}", skipped_classes.join(", "));
    }

    let progress = progress_bar(Some(items.len() as u64));
    let mut confusion = vec![vec![0u64; labels.len()]; labels.len()];
    for (batch_index, batch) in items.chunks(FACE_BATCH).enumerate() {
        // A partial accuracy means nothing: stopped early, the outputs are left absent.
        if let Some(signal) = crate::interrupt::requested() {
            return Err(signal.into());
        }
        let mut faces = Vec::with_capacity(batch.len());
        for (path, _) in batch {
            let image = source::read_image(path)?;
            faces.push(GrayFace::from_image(&image)?);
        }
        let probabilities = classifier.classify(&faces)?;
        for (i, ((path, truth), probs)) in batch.iter().zip(&probabilities).enumerate() {
            let (best, confidence) = top(probs).unwrap_or((0, 0.0));
            let record = FaceRecord {
                source: &path.to_string_lossy(),
                frame: (batch_index * FACE_BATCH + i) as u64,
                time_ms: 0.0,
                track_id: 0,
                x: 0,
                y: 0,
                w: crate::vision::face::FACE_SIDE_PX,
                h: crate::vision::face::FACE_SIDE_PX,
                label: &labels[best],
                confidence,
                probabilities: probs,
                keypoints: None,
            };
            for writer in writers.iter_mut() {
                writer.write(&record, &labels)?;
            }
            if let Some(truth) = truth {
                confusion[*truth][best] += 1;
            }
        }
        progress.inc(batch.len() as u64);
    }
    progress.finish_and_clear();
    for writer in writers.iter_mut() {
        writer.flush()?;
    }
    let scored: u64 = confusion.iter().flatten().sum();
    if scored > 0 {
        let correct: u64 = (0..labels.len()).map(|i| confusion[i][i]).sum();
        eprintln!("model {}: accuracy {:.2}% ({correct}/{scored})", classifier.info().display_name, 100.0 * correct as f64 / scored as f64);
        for (i, label) in labels.iter().enumerate() {
            let total: u64 = confusion[i].iter().sum();
            if total > 0 {
                eprintln!("  {label:>10}: recall {:.1}% of {total}", 100.0 * confusion[i][i] as f64 / total as f64);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_without_a_value_is_the_smoothers_default() {
        assert_eq!(DEFAULT_ALPHA_ARG.parse::<f32>().ok(), Some(crate::inference::smooth::DEFAULT_ALPHA));
        assert!(SMOOTHING_RANGE.contains(&crate::inference::smooth::DEFAULT_ALPHA));
    }
}
