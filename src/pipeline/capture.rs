//! The capture thread: read a frame, find its faces, crop them, pass them on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use opencv::core::{Mat, Size};
use opencv::prelude::*;

use super::channels::{EventSink, FrameSender};
use super::{ms_since, Mode, PipelineEvent, SeekId, StageTimings, POLL_INTERVAL};
use crate::source::{self, FrameSource, SourceSpec};
use crate::vision::detect::{DetectError, DetectorSettings, FaceFinder, FoundFace};
use crate::vision::face::{FacesInFrame, Framing, GrayFace};

/// Pause between attempts to reopen a camera that stopped delivering frames.
const CAMERA_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// A file source that fails this many frames in a row is given up.
const MAX_CONSECUTIVE_READ_ERRORS: u32 = 10;

/// Messages to the capture thread.
pub(super) enum CaptureCommand {
    SetDetector(DetectorSettings),
    SetPaused(bool),
    /// Go to frame `frame` (request `id`); of several waiting, only the last is done.
    Seek {
        id: SeekId,
        frame: u64,
    },
}

/// A detected frame on its way to the inference thread.
pub(super) struct DetectedFrame {
    pub(super) frame_index: u64,
    pub(super) source_time_ms: f64,
    pub(super) source_name: String,
    pub(super) frame_size: Size,
    pub(super) frame: Option<Mat>,
    pub(super) faces: Vec<FoundFace>,
    pub(super) crops: Vec<GrayFace>,
    pub(super) timings: StageTimings,
    pub(super) captured_at: Instant,
    /// The last seek done before this frame was read (0: none).
    pub(super) seek_id: SeekId,
}

pub(super) struct CaptureLoop {
    pub(super) source: Box<dyn FrameSource>,
    pub(super) spec: SourceSpec,
    pub(super) finder: FaceFinder,
    pub(super) framing: Framing,
    pub(super) mode: Mode,
    pub(super) keep_frames: bool,
    pub(super) frames: FrameSender<DetectedFrame>,
    pub(super) events: EventSink,
    pub(super) commands: Receiver<CaptureCommand>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) paused: bool,
    /// The last seek request handled, done or failed (0: none).
    pub(super) seek_id: SeekId,
    /// Read one frame although paused or at the end: the frame a seek went to.
    pub(super) show_one: bool,
    /// Live, a source that can seek waits at its end for a seek instead of ending.
    pub(super) at_end: bool,
}

/// Live, full scans run beside the capture thread, so that no frame waits for one; offline
/// they run in line, so that the same frames always give the same faces.
pub(super) fn new_finder(settings: DetectorSettings, mode: Mode) -> Result<FaceFinder, DetectError> {
    let finder = FaceFinder::new(settings)?;
    match mode {
        Mode::Live => finder.scan_in_background(),
        Mode::Offline => Ok(finder),
    }
}

impl CaptureLoop {
    pub(super) fn run(mut self) {
        let started = Instant::now();
        // Files and the demo play at their own rate in live mode; cameras pace themselves.
        let pace = self.mode == Mode::Live && !self.source.is_camera();
        let fallback_fps = self.source.nominal_fps().unwrap_or(crate::source::DEMO_FPS);
        let mut played_ms = 0.0;
        let mut read_errors = 0;
        while !self.stop.load(Ordering::Relaxed) {
            self.handle_commands();
            let one_off = std::mem::take(&mut self.show_one);
            if (self.paused || self.at_end) && !one_off {
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
            if pace && !one_off {
                // Wait for the frame's due time before reading it, so that `captured_at` is
                // when a camera would have delivered it.
                played_ms += 1e3 / fallback_fps;
                let due = started + Duration::from_secs_f64(played_ms / 1e3);
                match due.checked_duration_since(Instant::now()) {
                    Some(wait) => std::thread::sleep(wait.min(Duration::from_millis(500))),
                    // Far behind (after a pause, or a slow stage): play on from now instead of
                    // rushing through the backlog.
                    None => played_ms = played_ms.max(started.elapsed().as_secs_f64() * 1e3 - 100.0),
                }
            }
            let captured_at = Instant::now();
            let frame = match self.source.next_frame() {
                Ok(Some(frame)) => {
                    read_errors = 0;
                    frame
                }
                Ok(None) => {
                    self.events.report(PipelineEvent::SourceEnded);
                    // Live, a video stays open at its end so that it can be sought back into
                    // (the owner stops it); offline, the end is the end.
                    if self.mode == Mode::Live && self.source.can_seek() {
                        self.at_end = true;
                        continue;
                    }
                    break;
                }
                Err(error) => {
                    self.events.report(PipelineEvent::SourceLost(Arc::new(error)));
                    if self.source.is_camera() && self.mode == Mode::Live && self.reopen_camera() {
                        continue;
                    }
                    read_errors += 1;
                    // A folder moves on to its next image whatever happens, so every good image
                    // is read; a video that keeps failing at one place is given up.
                    let stuck = !self.source.frames_are_independent() && read_errors >= MAX_CONSECUTIVE_READ_ERRORS;
                    if self.source.is_camera() || stuck {
                        break;
                    }
                    continue; // an unreadable image in a folder: skip it
                }
            };
            let decode_ms = ms_since(captured_at);
            match self.detect(frame, captured_at, decode_ms, one_off) {
                Ok(detected) => {
                    if !self.frames.send(detected, &self.stop) {
                        break;
                    }
                }
                Err(error) => {
                    self.events.report(PipelineEvent::DetectionFailed(Arc::new(error)));
                }
            }
        }
    }

    /// `still`: the frame a seek went to, which may stay on screen (paused): looked at as a
    /// photo (a full scan in line, every face verified), as the app's rescore thread does,
    /// since the live tracker's full scans come a frame or two late and this frame may have no
    /// next one.
    fn detect(&mut self, frame: source::Frame, captured_at: Instant, decode_ms: f64, still: bool) -> Result<DetectedFrame, DetectError> {
        let as_still = still || self.source.frames_are_independent();
        let FacesInFrame { faces, crops, detect_ms, crop_ms } = self.framing.find_and_crop(&mut self.finder, &frame.image, as_still)?;
        Ok(DetectedFrame {
            frame_index: frame.index,
            source_time_ms: frame.time_ms,
            source_name: frame.name,
            frame_size: frame.image.size()?,
            frame: self.keep_frames.then_some(frame.image),
            faces,
            crops,
            timings: StageTimings { decode_ms, detect_ms, crop_ms, infer_ms: 0.0 },
            captured_at,
            seek_id: self.seek_id,
        })
    }

    fn handle_commands(&mut self) {
        let mut seek = None;
        while let Ok(command) = self.commands.try_recv() {
            match command {
                CaptureCommand::Seek { id, frame } => seek = Some((id, frame)),
                CaptureCommand::SetPaused(paused) => self.paused = paused,
                CaptureCommand::SetDetector(settings) => match new_finder(settings, self.mode) {
                    Ok(finder) => {
                        // Each detector draws its boxes its own way: the crop follows it.
                        self.framing = Framing::for_detector(finder.settings().detector);
                        self.finder = finder;
                    }
                    Err(error) => {
                        self.events.report(PipelineEvent::DetectionFailed(Arc::new(error)));
                    }
                },
            }
        }
        if let Some((id, frame)) = seek {
            self.seek(id, frame);
        }
    }

    /// A seek is a scene cut: the faces followed so far are forgotten. The frame it lands on is
    /// read at once, paused or not, so that it shows with its faces; a failed seek is reported
    /// and the source reads on from where it is.
    fn seek(&mut self, id: SeekId, frame: u64) {
        self.seek_id = id;
        match self.source.seek(frame) {
            Ok(()) => {
                self.finder.reset();
                self.at_end = false;
                self.show_one = true;
            }
            Err(error) => self.events.report(PipelineEvent::SeekFailed { id, frame, error: Arc::new(error) }),
        }
    }

    /// Re-tries the camera until it opens again or the pipeline stops.
    fn reopen_camera(&mut self) -> bool {
        let mut waited = Duration::ZERO;
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(POLL_INTERVAL);
            waited += POLL_INTERVAL;
            if waited < CAMERA_RETRY_INTERVAL {
                continue;
            }
            waited = Duration::ZERO;
            if let Ok(source) = source::open(&self.spec, true) {
                self.source = source;
                self.finder.reset();
                self.events.report(PipelineEvent::SourceRecovered);
                return true;
            }
        }
        false
    }
}
