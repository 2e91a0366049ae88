//! The pipeline's threads with a camera that drops out: the loss is reported, the camera is
//! re-tried until it delivers again, and stopping joins every thread.

use std::time::Duration;

use emocam::detect::DetectorSettings;
use emocam::face::Framing;
use emocam::model::ClassifierOptions;
use emocam::pipeline::{Mode, Pipeline, PipelineConfig, PipelineEvent};
use emocam::source::{Frame, FrameSource, SourceError, SourceSpec};
use opencv::core::{Mat, Scalar, CV_8UC3};

use crate::util::{fixture, onnx_runtime_available};

/// Longest wait for one expected event: only a hung pipeline gets near it.
const PATIENCE: Duration = Duration::from_secs(30);

/// A camera that delivers a few grey frames and is then unplugged.
struct UnpluggedCamera {
    frames_left: u32,
    next_index: u64,
}

impl FrameSource for UnpluggedCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.frames_left == 0 {
            return Err(SourceError::CameraLost(7));
        }
        self.frames_left -= 1;
        let image = Mat::new_rows_cols_with_default(480, 640, CV_8UC3, Scalar::all(90.0))?;
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some(Frame { image, index, time_ms: index as f64 * 33.3, name: "camera 7".into() }))
    }

    fn nominal_fps(&self) -> Option<f64> {
        Some(30.0)
    }

    fn frame_count(&self) -> Option<u64> {
        None
    }

    fn is_camera(&self) -> bool {
        true
    }

    fn description(&self) -> String {
        "camera 7".into()
    }
}

fn wait_for(pipeline: &Pipeline, wanted: fn(&PipelineEvent) -> bool, what: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match pipeline.events().recv_timeout(left) {
            Ok(event) if wanted(&event) => return,
            Ok(_) => continue,
            Err(e) => panic!("no {what}: {e}"),
        }
    }
    panic!("no {what} within {PATIENCE:?}");
}

#[test]
fn unplugged_camera_is_reported_retried_and_recovered() {
    if !onnx_runtime_available() {
        return;
    }
    let config = PipelineConfig {
        // What re-opening "the camera" opens: the demo stands in for the re-plugged device.
        source: SourceSpec::Demo,
        detector: DetectorSettings::default(),
        framing: Framing::default(),
        model: fixture("tiny.onnx"),
        classifier: ClassifierOptions::default(),
        smoothing_alpha: Some(0.5),
        mode: Mode::Live,
        keep_frames: false,
    };
    let camera = UnpluggedCamera { frames_left: 3, next_index: 0 };
    let pipeline = match Pipeline::start_with_source(config, Box::new(camera)) {
        Ok(pipeline) => pipeline,
        Err(e) => panic!("pipeline did not start: {e}"),
    };
    wait_for(&pipeline, |e| matches!(e, PipelineEvent::SourceProblem(p) if p.contains("camera 7")), "report of the lost camera");
    wait_for(&pipeline, |e| matches!(e, PipelineEvent::SourceRecovered), "recovery");
    // Frames flow again, from the re-opened source.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now()).unwrap_or_default();
        match pipeline.results().recv_timeout(left) {
            Ok(result) if result.source_name.starts_with("demo") => break,
            Ok(_) => continue,
            Err(e) => panic!("no frames after recovery: {e}"),
        }
    }
    // Joins the capture and inference threads; a hang here fails the test run.
    pipeline.stop();
}
