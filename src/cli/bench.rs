//! `emocam bench`: throughput, per-stage timings, detection rate and memory of the pipeline.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use clap::Args;

use super::{number_in, DetectorArgs, ModelArgs};
use crate::inference::classifier::Classifier;
use crate::pipeline::{Mode, Pipeline, PipelineConfig, StageTimings};
use crate::source::{self, SourceSpec};
use crate::vision::face::GrayFace;

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    /// Source to measure (a clip: `emocam demo-clip clip.avi`)
    source: String,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    detector: DetectorArgs,
    /// Frames to process; the source is replayed from the start when it is shorter
    #[arg(long, value_parser = number_in(1..=u64::MAX))]
    frames: Option<u64>,
    /// Single-face classification runs for the latency figure
    #[arg(long, default_value_t = 2000, value_parser = number_in(1..=1_000_000u32))]
    classify_runs: u32,
}

pub(super) fn run(args: &BenchArgs) -> Result<()> {
    let model_path = args.model.resolve()?;
    let spec: SourceSpec = args.source.parse().unwrap_or(SourceSpec::Demo);
    let wanted = args.frames;
    // A short clip is replayed so that long runs (memory checks) need no long file.
    let source = source::Repeat::open(spec.clone(), wanted)?;
    let config = PipelineConfig {
        source: spec,
        detector: args.detector.settings()?,
        model: model_path.clone(),
        classifier: args.model.classifier_options(),
        smoothing_alpha: None,
        mode: Mode::Offline,
        keep_frames: false,
    };
    let rss_start_kib = rss_kib();
    let started = Instant::now();
    let pipeline = Pipeline::start_with_source(config, Box::new(source))?;
    let model_name = pipeline.initial_model().display_name.clone();
    let mut stats = Stats::default();
    let mut rss_samples_kib = Vec::new();
    crate::interrupt::install().context("cannot set up signal handling")?;
    let mut interrupted = None;
    loop {
        // Stopped by a signal: report the frames measured so far.
        if let Some(signal) = crate::interrupt::requested() {
            interrupted = Some(signal);
            break;
        }
        let result = match pipeline.results().recv_timeout(Duration::from_millis(500)) {
            Ok(result) => result,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        stats.add(&result.timings, result.faces.len());
        if stats.frames % 1000 == 0 {
            rss_samples_kib.extend(rss_kib());
        }
    }
    let elapsed = started.elapsed();
    pipeline.stop();
    if stats.frames == 0 {
        bail!("the source gave no frames");
    }

    // Written at the end in one go, so that a closed or full standard output is an error.
    let mut out = String::new();
    out += &format!("model: {model_name} ({})\n", model_path.display());
    out += &format!("source: {} ({} frames)\n", args.source, stats.frames);
    out += &format!("throughput: {:.1} frames/s over {:.2} s\n", stats.frames as f64 / elapsed.as_secs_f64(), elapsed.as_secs_f64());
    out += &format!(
        "faces: {} in {} frames; frames with exactly one face {:.2}%, with none {:.2}%, most in a frame {}\n",
        stats.faces,
        stats.frames,
        100.0 * stats.frames_with_one as f64 / stats.frames as f64,
        100.0 * stats.frames_with_none as f64 / stats.frames as f64,
        stats.max_faces,
    );
    out += "stage timings, ms per frame (mean / p50 / p95):\n";
    for (name, values) in [("decode", &stats.decode), ("detect", &stats.detect), ("crop", &stats.crop), ("infer", &stats.infer)] {
        let s = summarize(values);
        out += &format!("  {name:>7}: {:.3} / {:.3} / {:.3}\n", s.0, s.1, s.2);
    }
    if let Some(start) = rss_start_kib {
        let samples: Vec<String> = rss_samples_kib.iter().map(|k| format!("{:.1}", *k as f64 / 1024.0)).collect();
        out += &format!("memory (RSS, MiB): start {:.1}; every 1000 frames: {}\n", start as f64 / 1024.0, samples.join(", "));
    }

    if let Some(signal) = interrupted {
        super::print_to_stdout(&out)?;
        return Err(signal.into());
    }
    let mut classifier = Classifier::load(&model_path, args.model.classifier_options())?;
    let face = GrayFace::from_pixels((0..48 * 48).map(|i| (i * 7 % 256) as u8).collect()).expect("48x48");
    let mut latencies_ms = Vec::with_capacity(args.classify_runs as usize);
    for _ in 0..args.classify_runs.max(1) {
        let t = Instant::now();
        classifier.classify(std::slice::from_ref(&face))?;
        latencies_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let s = summarize(&latencies_ms);
    out += &format!("classify one face ({} runs), ms: mean {:.3} / p50 {:.3} / p95 {:.3}\n", latencies_ms.len(), s.0, s.1, s.2);
    super::print_to_stdout(&out)
}

#[derive(Default)]
struct Stats {
    frames: u64,
    faces: u64,
    frames_with_one: u64,
    frames_with_none: u64,
    max_faces: usize,
    decode: Vec<f64>,
    detect: Vec<f64>,
    crop: Vec<f64>,
    infer: Vec<f64>,
}

impl Stats {
    fn add(&mut self, t: &StageTimings, faces: usize) {
        self.frames += 1;
        self.faces += faces as u64;
        self.frames_with_one += (faces == 1) as u64;
        self.frames_with_none += (faces == 0) as u64;
        self.max_faces = self.max_faces.max(faces);
        self.decode.push(t.decode_ms);
        self.detect.push(t.detect_ms);
        self.crop.push(t.crop_ms);
        self.infer.push(t.infer_ms);
    }
}

/// Mean, median and 95th percentile.
pub fn summarize(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let sorted = crate::stats::sorted(values.iter().copied());
    let at = |fraction: f64| crate::stats::percentile(&sorted, fraction).unwrap_or(0.0);
    (values.iter().sum::<f64>() / values.len() as f64, at(0.5), at(0.95))
}

/// Resident memory of this process in KiB (Linux), for the flat-memory check.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let (mean, p50, p95) = summarize(&values);
        assert_eq!(mean, 50.5);
        assert!((50.0..=51.0).contains(&p50));
        assert!((95.0..=96.0).contains(&p95));
        assert_eq!(summarize(&[]), (0.0, 0.0, 0.0));
    }
}
