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

/// An X server of its own for one test (Xvfb), gone when dropped.
struct VirtualDisplay {
    server: std::process::Child,
    name: String,
}

impl VirtualDisplay {
    fn start() -> Option<Self> {
        let number = 200 + std::process::id() % 500;
        let server = match std::process::Command::new("Xvfb").arg(format!(":{number}")).args(["-screen", "0", "1280x800x24"]).stderr(Stdio::null()).spawn() {
            Ok(server) => server,
            Err(e) => {
                missing_data(&format!("Xvfb cannot start ({e}): scripts/setup.sh installs it"));
                return None;
            }
        };
        let display = Self { server, name: format!(":{number}") };
        let socket = std::path::PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        let give_up = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(Instant::now() < give_up, "Xvfb did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(display)
    }
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The app in a real window: SIGTERM closes it like its close button, so a recording running
/// past several write buffers is complete (it was cut at 8 KiB), with the signal's exit code.
#[test]
fn sigterm_closes_the_app_with_its_recording_complete() {
    if !onnx_runtime_available() {
        return;
    }
    let Some(display) = VirtualDisplay::start() else { return };
    let dir = tempdir();
    let mut child = emocam()
        .args(["--source", "demo", "--model", fixture("tiny.onnx").to_str().unwrap(), "--record", "--screenshots", dir.path().to_str().unwrap()])
        .env("DISPLAY", &display.name)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the app");
    let csv_size = || -> u64 {
        std::fs::read_dir(dir.path()).map_or(0, |entries| {
            entries.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "csv")).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
        })
    };
    // Not a timing assertion: the limit only keeps a broken build from hanging the suite.
    let give_up = Instant::now() + Duration::from_secs(120);
    while csv_size() < 3 * 8192 {
        assert!(Instant::now() < give_up, "the recording did not grow");
        if let Some(status) = child.try_wait().expect("poll") {
            panic!("the app ended before the signal ({status}): {}", stderr(&child.wait_with_output().expect("output")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(143), "{}", stderr(&output));
    let csv =
        std::fs::read_dir(dir.path()).expect("list").filter_map(Result::ok).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "csv")).expect("csv");
    let text = std::fs::read_to_string(&csv).expect("read");
    assert!(text.ends_with('\n'), "the last row is cut: {:?}", &text[text.len().saturating_sub(80)..]);
    let mut reader = csv::Reader::from_path(&csv).expect("csv");
    let width = reader.headers().expect("header").len();
    let rows = reader.records().collect::<Result<Vec<_>, _>>().expect("whole CSV rows");
    assert!(rows.len() > 50 && rows.iter().all(|r| r.len() == width), "{} rows", rows.len());
}
