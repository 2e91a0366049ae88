//! The display thread ("emocam-display"): takes results from the pipeline, turns each BGR frame
//! into an `egui::ColorImage` (too slow for the UI thread at 1080p), keeps frame-rate and
//! latency figures, hands every result to the recorder thread, and leaves only the newest frame for the UI before
//! asking it to repaint. The UI therefore repaints once per new frame, never in a busy loop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use opencv::core::Mat;
use opencv::prelude::*;

use super::record::RecorderFeed;
use crate::pipeline::{FrameResult, POLL_INTERVAL};

/// Window over which frame rates are measured.
const RATE_WINDOW: Duration = Duration::from_secs(2);
/// Latency samples kept for the p95 figure.
const LATENCY_SAMPLES: usize = 120;

/// A result ready to show: the converted image (taken by the UI when it uploads the texture)
/// and the result itself (its BGR frame stays for screenshots).
pub struct ReadyFrame {
    pub image: Option<egui::ColorImage>,
    pub result: FrameResult,
}

/// Frame rates and stage timings, measured on the display thread.
#[derive(Clone, Debug, Default)]
pub struct FeedStats {
    /// Frames the source delivered per second (from frame index steps, so dropped frames count).
    pub capture_fps: f64,
    /// Results per second.
    pub processed_fps: f64,
    pub detect_ms: f64,
    pub infer_ms: f64,
    pub results: u64,
}

struct Shared {
    newest: Mutex<Option<ReadyFrame>>,
    stats: Mutex<FeedStats>,
    ended: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Owns the display thread; dropping it stops the thread.
pub struct DisplayFeed {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DisplayFeed {
    pub fn start(results: Receiver<FrameResult>, ctx: egui::Context, recorder: Option<RecorderFeed>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared { newest: Mutex::new(None), stats: Mutex::new(FeedStats::default()), ended: AtomicBool::new(false) });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new().name("emocam-display".into()).spawn(move || display_loop(results, ctx, recorder, &shared, &stop))?
        };
        Ok(Self { shared, stop, thread: Some(thread) })
    }

    /// The newest frame since the last call, if any.
    pub fn take_newest(&self) -> Option<ReadyFrame> {
        lock(&self.shared.newest).take()
    }

    pub fn stats(&self) -> FeedStats {
        lock(&self.shared.stats).clone()
    }

    /// True once the pipeline has no more results (a file or image source ended).
    pub fn ended(&self) -> bool {
        self.shared.ended.load(Ordering::Relaxed)
    }
}

impl Drop for DisplayFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn display_loop(results: Receiver<FrameResult>, ctx: egui::Context, recorder: Option<RecorderFeed>, shared: &Shared, stop: &AtomicBool) {
    let mut rates = RateMeter::default();
    while !stop.load(Ordering::Relaxed) {
        let result = match results.recv_timeout(POLL_INTERVAL) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                shared.ended.store(true, Ordering::Relaxed);
                ctx.request_repaint();
                break;
            }
        };
        // Never waits: the recorder thread has its own queue.
        if let Some(recorder) = &recorder {
            recorder.write(&result);
        }
        let image = result.frame.as_ref().and_then(|frame| match bgr_to_color_image(frame) {
            Ok(image) => Some(image),
            Err(error) => {
                tracing::warn!("cannot show frame {}: {error}", result.frame_index);
                None
            }
        });
        *lock(&shared.stats) = rates.add(&result);
        *lock(&shared.newest) = Some(ReadyFrame { image, result });
        request_one_pass(&ctx);
    }
}

/// Asks the UI for one pass with the new frame. egui answers a request without delay with two
/// passes ("to give some things time to settle"), one with a delay with one: the second pass of
/// every frame drew the same picture again, a quarter of all painting on the 1280x720 group clip,
/// where painting is the largest user of the CPU without a GPU.
fn request_one_pass(ctx: &egui::Context) {
    ctx.request_repaint_after(NEW_FRAME_REPAINT_DELAY);
}

/// Short against a frame's interval (33 ms at 30 frames/s), long enough to count as a delay.
const NEW_FRAME_REPAINT_DELAY: Duration = Duration::from_micros(100);

/// Converts an 8-bit BGR (or grey) OpenCV image to egui's RGBA image.
pub fn bgr_to_color_image(frame: &Mat) -> opencv::Result<egui::ColorImage> {
    let continuous;
    let frame = if frame.is_continuous() {
        frame
    } else {
        continuous = frame.try_clone()?;
        &continuous
    };
    let size = [frame.cols().max(0) as usize, frame.rows().max(0) as usize];
    let bytes = frame.data_bytes()?;
    let pixels: Vec<egui::Color32> = match frame.channels() {
        3 => bytes.chunks_exact(3).map(|bgr| egui::Color32::from_rgb(bgr[2], bgr[1], bgr[0])).collect(),
        1 => bytes.iter().map(|&v| egui::Color32::from_gray(v)).collect(),
        4 => bytes.chunks_exact(4).map(|bgra| egui::Color32::from_rgb(bgra[2], bgra[1], bgra[0])).collect(),
        other => return Err(opencv::Error::new(opencv::core::StsUnsupportedFormat, format!("cannot show a {other}-channel image"))),
    };
    if pixels.len() != size[0] * size[1] {
        return Err(opencv::Error::new(opencv::core::StsUnsupportedFormat, "only 8-bit images can be shown".to_string()));
    }
    Ok(egui::ColorImage::new(size, pixels))
}

/// Frame rates over a sliding window and smoothed stage timings.
#[derive(Default)]
struct RateMeter {
    /// (arrival, source frame index) of recent results.
    recent: VecDeque<(Instant, u64)>,
    stats: FeedStats,
}

impl RateMeter {
    fn add(&mut self, result: &FrameResult) -> FeedStats {
        let now = Instant::now();
        self.recent.push_back((now, result.frame_index));
        while self.recent.front().is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW) {
            self.recent.pop_front();
        }
        if let (Some(&(t0, i0)), Some(&(t1, i1))) = (self.recent.front(), self.recent.back()) {
            let seconds = t1.duration_since(t0).as_secs_f64();
            if seconds > 0.0 {
                self.stats.processed_fps = (self.recent.len() - 1) as f64 / seconds;
                self.stats.capture_fps = i1.saturating_sub(i0) as f64 / seconds;
            }
        }
        // Exponential average: steady numbers that still follow changes within a second.
        let blend = |old: f64, new: f64| if self.stats.results == 0 { new } else { 0.9 * old + 0.1 * new };
        self.stats.detect_ms = blend(self.stats.detect_ms, result.timings.detect_ms);
        self.stats.infer_ms = blend(self.stats.infer_ms, result.timings.infer_ms);
        self.stats.results += 1;
        self.stats.clone()
    }
}

/// Capture-to-display latencies of recent frames, and of the whole run in 1 ms bins (the exit
/// summary: a figure for a run, not for its last few seconds).
#[derive(Default)]
pub struct LatencyMeter {
    samples: VecDeque<f64>,
    /// `whole_run_bins[i]`: frames of i..i+1 ms; the last bin holds everything slower.
    whole_run_bins: Vec<u64>,
}

/// Bins of the whole-run histogram: 1 ms each, up to a second.
const WHOLE_RUN_BINS: usize = 1001;

impl LatencyMeter {
    pub fn add(&mut self, latency: Duration) {
        if self.samples.len() == LATENCY_SAMPLES {
            self.samples.pop_front();
        }
        let ms = latency.as_secs_f64() * 1e3;
        self.samples.push_back(ms);
        if self.whole_run_bins.is_empty() {
            self.whole_run_bins = vec![0; WHOLE_RUN_BINS];
        }
        self.whole_run_bins[(ms as usize).min(WHOLE_RUN_BINS - 1)] += 1;
    }

    /// 95th percentile over every frame so far, to the 1 ms bin (its upper edge), once there are
    /// samples.
    pub fn whole_run_p95_ms(&self) -> Option<f64> {
        let total: u64 = self.whole_run_bins.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (total as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (ms, count) in self.whole_run_bins.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(ms as f64 + 1.0);
            }
        }
        Some(WHOLE_RUN_BINS as f64)
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// 95th percentile in ms, once there are samples.
    pub fn p95_ms(&self) -> Option<f64> {
        crate::stats::percentile(&crate::stats::sorted(self.samples.iter().copied()), 0.95)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Scalar, CV_8UC3};

    /// egui repaints twice for a request without delay: the display thread must not ask that way.
    #[test]
    fn a_new_frame_asks_the_ui_for_one_pass() {
        let passes_after = |request: &dyn Fn(&egui::Context)| {
            let ctx = egui::Context::default();
            let settle = || {
                let mut passes = 0;
                while ctx.has_requested_repaint() && passes < 10 {
                    let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
                    passes += 1;
                }
                passes
            };
            let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
            settle(); // egui's start-up passes
            request(&ctx);
            settle()
        };
        assert_eq!(passes_after(&|ctx| ctx.request_repaint()), 2, "egui's own request repaints twice");
        assert_eq!(passes_after(&request_one_pass), 1);
    }

    #[test]
    fn converts_bgr_to_rgb() {
        let frame = Mat::new_rows_cols_with_default(2, 3, CV_8UC3, Scalar::new(10.0, 20.0, 30.0, 0.0)).expect("mat");
        let image = bgr_to_color_image(&frame).expect("converts");
        assert_eq!(image.size, [3, 2]);
        assert_eq!(image.pixels[0], egui::Color32::from_rgb(30, 20, 10));
    }

    #[test]
    fn p95_picks_the_slow_tail() {
        let mut meter = LatencyMeter::default();
        assert_eq!(meter.p95_ms(), None);
        for ms in 1..=100 {
            meter.add(Duration::from_millis(ms));
        }
        assert_eq!(meter.p95_ms(), Some(95.0));
        // 100 frames of 1..100 ms: the 95th falls in the 95 ms bin, reported by its upper edge.
        assert_eq!(meter.whole_run_p95_ms(), Some(96.0));
        for _ in 0..10_000 {
            meter.add(Duration::from_millis(2));
        }
        assert_eq!(meter.p95_ms(), Some(2.0), "the recent window forgets");
        assert_eq!(meter.whole_run_p95_ms(), Some(3.0), "the whole run is mostly 2 ms frames now");
    }
}
