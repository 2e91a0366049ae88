//! The pipeline's threads with a camera that drops out: the loss is reported, the camera is
//! re-tried until it delivers again, and stopping joins every thread.

use std::time::Duration;

use emocam::inference::classifier::{ClassifierOptions, ModelError};
use emocam::pipeline::{Mode, Pipeline, PipelineConfig, PipelineEvent};
use emocam::source::{Frame, FrameSource, SourceError, SourceSpec};
use emocam::vision::detect::DetectorSettings;
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
}

/// The events that `keep` picks, up to and including the first that `done` says is the last.
fn events_until(pipeline: &Pipeline, keep: impl Fn(&PipelineEvent) -> bool, done: impl Fn(&PipelineEvent) -> bool, what: &str) -> Vec<PipelineEvent> {
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match pipeline.events().recv_timeout(left) {
            Ok(event) if keep(&event) || done(&event) => {
                let finished = done(&event);
                seen.push(event);
                if finished {
                    return seen;
                }
            }
            Ok(_) => continue,
            Err(e) => panic!("no {what} (events so far {seen:?}): {e}"),
        }
    }
    panic!("no {what} within {PATIENCE:?} (events so far {seen:?})");
}

fn wait_for(pipeline: &Pipeline, wanted: fn(&PipelineEvent) -> bool, what: &str) {
    events_until(pipeline, |_| false, wanted, what);
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
    wait_for(&pipeline, |e| matches!(e, PipelineEvent::SourceLost(error) if matches!(**error, SourceError::CameraLost(7))), "report of the lost camera");
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

fn demo_config() -> PipelineConfig {
    PipelineConfig {
        source: SourceSpec::Demo,
        detector: DetectorSettings::default(),
        model: fixture("tiny.onnx"),
        classifier: ClassifierOptions::default(),
        smoothing_alpha: None,
        mode: Mode::Live,
        keep_frames: false,
    }
}

/// Model events until `done` says the last expected one came.
fn model_events_until(pipeline: &Pipeline, done: impl Fn(&PipelineEvent) -> bool) -> Vec<PipelineEvent> {
    let is_model_event =
        |e: &PipelineEvent| matches!(e, PipelineEvent::ModelSwitched { .. } | PipelineEvent::ModelSwitchFailed { .. } | PipelineEvent::InferenceFailed(_));
    events_until(pipeline, is_model_event, done, "model event")
}

#[test]
fn rapid_model_switches_end_on_the_last_one_asked_for() {
    if !onnx_runtime_available() {
        return;
    }
    let pipeline = Pipeline::start(demo_config()).unwrap_or_else(|e| panic!("pipeline did not start: {e}"));
    let (a, b) = (fixture("tiny.onnx"), fixture("tiny_nhwc.onnx"));
    // Ten requests in a row, alternating, a corrupt model among them; the last is `b`.
    let mut last_id = None;
    for i in 0..10 {
        let path = match i {
            4 => fixture("not_image.onnx"),
            _ if i % 2 == 0 => a.clone(),
            _ => b.clone(),
        };
        last_id = Some(pipeline.switch_model(path));
    }
    let events = model_events_until(&pipeline, |e| matches!(e, PipelineEvent::ModelSwitched { info, .. } if info.path == b));
    match events.last() {
        Some(PipelineEvent::ModelSwitched { id, .. }) => assert_eq!(Some(*id), last_id, "answered as the last request"),
        other => panic!("{other:?}"),
    }
    // Nothing after the last load is pending: no other model comes in later.
    std::thread::sleep(Duration::from_millis(500));
    let late: Vec<PipelineEvent> =
        pipeline.events().try_iter().filter(|e| matches!(e, PipelineEvent::ModelSwitched { .. } | PipelineEvent::ModelSwitchFailed { .. })).collect();
    assert!(late.is_empty(), "after the last request: {late:?}");
    // Overtaken requests are never reported, not even the corrupt one.
    assert!(events.iter().all(|e| !matches!(e, PipelineEvent::ModelSwitchFailed { .. } | PipelineEvent::InferenceFailed(_))), "{events:?}");
    // Results now come from the last model.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now()).unwrap_or_default();
        match pipeline.results().recv_timeout(left) {
            Ok(result) if result.model.path == b => break,
            Ok(_) => continue,
            Err(e) => panic!("no result from the last model: {e}"),
        }
    }
    pipeline.stop();
}

#[test]
fn a_failed_switch_is_that_models_failure_only() {
    if !onnx_runtime_available() {
        return;
    }
    let pipeline = Pipeline::start(demo_config()).unwrap_or_else(|e| panic!("pipeline did not start: {e}"));
    let corrupt = fixture("not_image.onnx");
    let asked = pipeline.switch_model(corrupt.clone());
    let events = model_events_until(&pipeline, |e| matches!(e, PipelineEvent::ModelSwitchFailed { .. }));
    match events.last() {
        Some(PipelineEvent::ModelSwitchFailed { id, path, error }) => {
            assert_eq!((*id, path), (asked, &corrupt));
            // The model's own error (a graph that takes no image), naming its file.
            assert!(matches!(**error, ModelError::Unsupported { .. }), "{error:?}");
            assert!(error.to_string().contains("not_image.onnx"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(events.iter().all(|e| !matches!(e, PipelineEvent::InferenceFailed(_))), "the running model did not fail: {events:?}");
    // The previous model keeps running.
    let result = pipeline.results().recv_timeout(PATIENCE).unwrap_or_else(|e| panic!("no result: {e}"));
    assert_eq!(result.model.path, fixture("tiny.onnx"));
    pipeline.stop();
}

/// An MJPG clip of the demo's first `frames` frames.
fn demo_video(dir: &std::path::Path, frames: u64) -> std::path::PathBuf {
    use opencv::prelude::VideoWriterTrait as _;
    let demo = emocam::source::DemoSource::new(false).expect("demo");
    let path = dir.join("clip.avi");
    let fourcc = opencv::videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = opencv::videoio::VideoWriter::new(path.display().to_string(), fourcc, 30.0, emocam::source::DEMO_SIZE, true).expect("video writer");
    for i in 0..frames {
        writer.write(&demo.render(i).expect("demo frame").1).expect("write frame");
    }
    writer.release().expect("close video");
    path
}

/// The first result read after seek `id` (results from before it are passed over).
fn result_after_seek(pipeline: &Pipeline, id: emocam::pipeline::SeekId) -> emocam::pipeline::FrameResult {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now()).unwrap_or_default();
        match pipeline.results().recv_timeout(left) {
            Ok(result) if result.seek_id >= id => return result,
            Ok(_) => continue,
            Err(e) => panic!("no result after seek {id}: {e}"),
        }
    }
}

#[test]
fn a_live_video_waits_at_its_end_and_seeks_back_paused_or_playing() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = crate::util::tempdir();
    let video = demo_video(dir.path(), 12);
    let config = PipelineConfig { source: SourceSpec::Video(video), keep_frames: true, ..demo_config() };
    let pipeline = Pipeline::start(config).unwrap_or_else(|e| panic!("pipeline did not start: {e}"));
    assert!(pipeline.can_seek());
    assert_eq!((pipeline.source_frame_count(), pipeline.source_fps()), (Some(12), Some(30.0)));
    wait_for(&pipeline, |e| matches!(e, PipelineEvent::SourceEnded), "the end of the video");
    // Live, the video stays open at its end: a seek back reads again, even while paused.
    assert!(pipeline.is_running(), "the pipeline ended with the video");
    pipeline.set_paused(true);
    let id = pipeline.seek(5).expect("seek");
    let result = result_after_seek(&pipeline, id);
    assert_eq!((result.frame_index, result.seek_id), (5, id));
    assert!(result.frame.is_some(), "the frame sought is not shown");
    // The demo's first photo: a face, found at once on the paused frame (no tracking history).
    assert!(!result.faces.is_empty(), "no face on the frame sought to");
    // Paused, a later seek goes back, and only the newest of several waiting counts.
    let _overtaken = pipeline.seek(9).expect("seek");
    let last = pipeline.seek(2).expect("seek");
    let result = result_after_seek(&pipeline, last);
    assert_eq!((result.frame_index, result.seek_id), (2, last));
    // Playing on goes on from there, to the end again.
    pipeline.set_paused(false);
    let next = pipeline.results().recv_timeout(PATIENCE).expect("frames after playing on");
    assert!((3..12).contains(&next.frame_index), "played on from frame {}", next.frame_index);
    wait_for(&pipeline, |e| matches!(e, PipelineEvent::SourceEnded), "the end again");
    // Past the end is the last frame.
    let id = pipeline.seek(1000).expect("seek");
    assert_eq!(result_after_seek(&pipeline, id).frame_index, 11);
    pipeline.stop();
}

/// A video whose seeks all fail (a container that can't seek, found out only when trying).
struct UnseekableVideo {
    next_index: u64,
}

impl FrameSource for UnseekableVideo {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let image = Mat::new_rows_cols_with_default(240, 320, CV_8UC3, Scalar::all(90.0))?;
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some(Frame { image, index, time_ms: index as f64 * 33.3, name: "stream.ts".into() }))
    }

    fn nominal_fps(&self) -> Option<f64> {
        Some(30.0)
    }

    fn frame_count(&self) -> Option<u64> {
        Some(1_000_000)
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, index: u64) -> Result<(), SourceError> {
        Err(SourceError::SeekFailed { path: "stream.ts".into(), frame: index })
    }
}

#[test]
fn a_failed_seek_is_reported_and_playback_goes_on_and_a_camera_cannot_seek() {
    if !onnx_runtime_available() {
        return;
    }
    let pipeline = Pipeline::start_with_source(demo_config(), Box::new(UnseekableVideo { next_index: 0 })).unwrap_or_else(|e| panic!("did not start: {e}"));
    let before = pipeline.results().recv_timeout(PATIENCE).expect("a first frame").frame_index;
    let asked = pipeline.seek(500_000).expect("seek sent");
    let events = events_until(&pipeline, |_| false, |e| matches!(e, PipelineEvent::SeekFailed { .. }), "the failed seek");
    match events.last() {
        Some(PipelineEvent::SeekFailed { id, frame, error }) => {
            assert_eq!((*id, *frame), (asked, 500_000));
            assert!(error.to_string().contains("stream.ts"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // Frames go on from where they were.
    let after = result_after_seek(&pipeline, asked);
    assert!(after.frame_index > before && after.frame_index < 500_000, "frame {} after the failed seek", after.frame_index);
    pipeline.stop();

    let camera = UnpluggedCamera { frames_left: 1000, next_index: 0 };
    let pipeline = Pipeline::start_with_source(demo_config(), Box::new(camera)).unwrap_or_else(|e| panic!("did not start: {e}"));
    assert!(!pipeline.can_seek());
    assert!(matches!(pipeline.seek(3), Err(emocam::pipeline::SeekError::NotSeekable)));
    pipeline.stop();
}
