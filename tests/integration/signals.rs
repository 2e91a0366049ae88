//! SIGINT, SIGTERM and SIGHUP stop `analyze` cleanly (whole records in every output, the
//! outputs in place, the signal's exit code), and a stopped `demo-clip` leaves no file.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::*;

/// Whether `dir` holds one of emocam's temporary output files with something written in it.
fn records_being_written(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with(".emocam-") && e.metadata().is_ok_and(|m| m.len() > 0))
    })
}

/// Sends `signal` (`INT`, `TERM`, ...) to `child` once it is writing an output in `dir`, and
/// waits for it to end.
fn signal_once_writing(mut child: std::process::Child, dir: &Path, signal: &str) -> std::process::Output {
    // Not a timing assertion: the generous limit only keeps a broken build from hanging the suite.
    let give_up = Instant::now() + Duration::from_secs(120);
    while !records_being_written(dir) {
        assert!(Instant::now() < give_up, "nothing written");
        assert!(child.try_wait().expect("poll").is_none(), "emocam ended before the signal");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    child.wait_with_output().expect("wait")
}

fn stop_analyze_with(signal: &str, exit_code: i32) {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let (json, csv) = (dir.path().join("faces.json"), dir.path().join("faces.csv"));
    let child = emocam()
        .args(["analyze", "demo", "--model", fixture("tiny.onnx").to_str().unwrap()])
        .args(["--json", json.to_str().unwrap(), "--csv", csv.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start emocam");
    let output = signal_once_writing(child, dir.path(), signal);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(exit_code), "{signal}: {err}");
    assert!(err.contains(&format!("stopped by SIG{signal}")), "{err}");
    let json_lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&json).expect("json in place").lines().map(|l| serde_json::from_str(l).expect("a whole JSON record")).collect();
    let mut csv_reader = csv::Reader::from_path(&csv).expect("csv in place");
    let csv_rows = csv_reader.records().collect::<Result<Vec<_>, _>>().expect("whole CSV rows").len();
    assert!(!json_lines.is_empty());
    assert_eq!(json_lines.len(), csv_rows, "both outputs stop at the same frame");
    assert!(!records_being_written(dir.path()), "no temporary file left");
}

#[test]
fn sigint_stops_analyze_with_whole_records() {
    stop_analyze_with("INT", 130);
}

#[test]
fn sigterm_stops_analyze_with_whole_records() {
    stop_analyze_with("TERM", 143);
}

#[test]
fn sighup_stops_analyze_with_whole_records() {
    stop_analyze_with("HUP", 129);
}

#[test]
fn a_stopped_demo_clip_leaves_no_file() {
    let dir = tempdir();
    let clip = dir.path().join("clip.avi");
    let child = emocam().args(["demo-clip", clip.to_str().unwrap(), "--frames", "100000"]).stderr(Stdio::piped()).spawn().expect("start emocam");
    let output = signal_once_writing(child, dir.path(), "INT");
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0, "neither the clip nor a temporary file");
}
