//! Full-frame scans on their own thread, for live use.
//!
//! A full scan of a 1280x720 frame takes a few hundred milliseconds; done on the capture thread,
//! every frame that waits behind it is shown that much later. Live, the capture thread hands the
//! frame over and goes on following the faces it knows; the scan's boxes join the tracker when
//! they come, a few frames later (`HaarFinder::find`, `LearnedFinder::find`). Offline runs (`analyze`, `bench`,
//! `eval-detect`) scan in line: same frames in, same faces out.

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use opencv::core::Mat;
use opencv::prelude::*;

use crate::vision::detector::ScanPlan;
use crate::vision::error::DetectError;

struct ScanRequest {
    /// The frame (grey for Haar, colour for BlazeFace).
    frame: Mat,
    plan: ScanPlan,
    generation: u64,
}

struct ScanResult<T> {
    detections: Result<T, DetectError>,
    generation: u64,
}

/// One scan at a time in flight; its result is taken by [`BackgroundScanner::take_result`].
pub struct BackgroundScanner<T> {
    requests: Sender<ScanRequest>,
    results: Receiver<ScanResult<T>>,
    in_flight: bool,
    /// Bumped by [`BackgroundScanner::forget`]: results of older requests are dropped.
    generation: u64,
}

impl<T: Send + 'static> BackgroundScanner<T> {
    /// A thread that runs `scan` (which owns its own detector: a cascade or an ONNX session is
    /// not shared between threads) on each frame handed to it, as its plan asks.
    pub fn start(mut scan: impl FnMut(&Mat, &ScanPlan) -> Result<T, DetectError> + Send + 'static) -> Result<Self, DetectError> {
        let (requests, request_rx) = crossbeam_channel::bounded::<ScanRequest>(1);
        let (result_tx, results) = crossbeam_channel::bounded::<ScanResult<T>>(1);
        // Not joined, so that stopping the camera never waits for a scan: the thread ends after
        // its scan once the scanner is dropped (the request channel closes).
        std::thread::Builder::new()
            .name("emocam-full-scan".into())
            .spawn(move || {
                lower_this_threads_priority();
                for request in request_rx {
                    let detections = scan(&request.frame, &request.plan);
                    if result_tx.send(ScanResult { detections, generation: request.generation }).is_err() {
                        return;
                    }
                }
            })
            .map_err(DetectError::Thread)?;
        Ok(Self { requests, results, in_flight: false, generation: 0 })
    }

    /// Starts a scan of `frame` (copied) unless one is in flight; true if it started.
    pub fn submit(&mut self, frame: &Mat, plan: ScanPlan) -> Result<bool, DetectError> {
        if self.in_flight {
            return Ok(false);
        }
        match self.requests.try_send(ScanRequest { frame: frame.try_clone()?, plan, generation: self.generation }) {
            Ok(()) => {
                self.in_flight = true;
                Ok(true)
            }
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Disconnected(_)) => Err(DetectError::ScanThreadGone),
        }
    }

    /// The boxes of the last scan, once it is done (`None` while it runs or when none was asked).
    pub fn take_result(&mut self) -> Result<Option<T>, DetectError> {
        loop {
            match self.results.try_recv() {
                Ok(result) => {
                    self.in_flight = false;
                    if result.generation == self.generation {
                        return Ok(Some(result.detections?));
                    }
                }
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Disconnected) if self.in_flight => return Err(DetectError::ScanThreadGone),
                Err(TryRecvError::Disconnected) => return Ok(None),
            }
        }
    }

    /// Drops the result of the scan in flight, if any (the faces it would add are gone).
    pub fn forget(&mut self) {
        self.generation += 1;
    }
}

/// Starts OpenCV's worker threads (used by `detect_multi_scale` and other parallel loops) from a
/// thread at the scan's lowered priority, which they keep. Call before any other OpenCV work; if
/// the workers already run, or anything fails, they stay as they are.
pub fn start_opencv_workers_at_scan_priority() {
    let started = std::thread::Builder::new().name("emocam-opencv-start".into()).spawn(|| {
        lower_this_threads_priority();
        // A resize this large is split across the workers, which starts them.
        let large = Mat::new_rows_cols_with_default(1080, 1920, opencv::core::CV_8UC1, opencv::core::Scalar::all(0.0))?;
        let mut small = Mat::default();
        opencv::imgproc::resize(&large, &mut small, opencv::core::Size::new(960, 540), 0.0, 0.0, opencv::imgproc::INTER_LINEAR)
    });
    if let Ok(thread) = started {
        let _ = thread.join();
    }
}

/// A scan can wait a few frames; the frame being shown can't. On a machine with few cores the
/// scan would otherwise take turns with capture, inference and drawing, and every frame would be
/// late by its share.
fn lower_this_threads_priority() {
    // On Linux `nice` applies to the calling thread only.
    #[cfg(target_os = "linux")]
    // SAFETY: `nice` changes a number the kernel keeps for this thread; nothing is shared.
    unsafe {
        libc::nice(SCAN_THREAD_NICENESS);
    }
}

/// Niceness added to the scan thread (0 is normal, 19 the least).
#[cfg(target_os = "linux")]
const SCAN_THREAD_NICENESS: libc::c_int = 10;
