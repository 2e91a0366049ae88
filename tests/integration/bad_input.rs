//! Every bad input gives one clear error line and a non-zero exit, never a panic.

use crate::util::*;

fn tiny() -> String {
    fixture("tiny.onnx").display().to_string()
}

#[test]
fn missing_file() {
    let out = run(&["analyze", "no/such/video.mp4", "--model", &tiny()]);
    assert_clean_failure(&out, "not found");
    let out = run(&["analyze", "no/such/photo.png", "--model", &tiny()]);
    assert_clean_failure(&out, "not found");
}

#[test]
fn text_file_as_image_and_as_video() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let image = write_file(dir.path(), "notes.png", b"this is not a picture\n");
    let video = write_file(dir.path(), "notes.mp4", b"this is not a video\n");
    assert_clean_failure(&run(&["analyze", image.to_str().unwrap(), "--model", &tiny()]), "not an image");
    assert_clean_failure(&run(&["analyze", video.to_str().unwrap(), "--model", &tiny()]), "not a video");
}

#[test]
fn empty_folder() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    assert_clean_failure(&run(&["analyze", dir.path().to_str().unwrap(), "--model", &tiny()]), "no images");
    assert_clean_failure(&run(&["analyze", "--faces", dir.path().to_str().unwrap(), "--model", &tiny()]), "no face images");
}

#[test]
fn corrupt_onnx_model() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let model = write_file(dir.path(), "broken.onnx", b"\x08\x07garbage that is not protobuf");
    let out = run(&["analyze", asset("astronaut.png").to_str().unwrap(), "--model", model.to_str().unwrap()]);
    assert_clean_failure(&out, "not a loadable onnx model");
    assert!(stderr(&out).contains("broken.onnx"), "the error must name the file");
}

#[test]
fn onnx_model_without_an_image_input() {
    if !onnx_runtime_available() {
        return;
    }
    let model = fixture("not_image.onnx");
    let out = run(&["analyze", asset("astronaut.png").to_str().unwrap(), "--model", model.to_str().unwrap()]);
    assert_clean_failure(&out, "expected an image tensor");
}

#[test]
fn camera_that_does_not_exist() {
    if !onnx_runtime_available() {
        return;
    }
    let out = run(&["analyze", "57", "--model", &tiny(), "--max-frames", "1"]);
    assert_clean_failure(&out, "camera 57 could not be opened");
}

#[test]
fn unwritable_output_paths() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    // A path below a regular file can't be created, even by root.
    let blocker = write_file(dir.path(), "file", b"x");
    let below = blocker.join("out.json");
    let photo = asset("astronaut.png");
    let out = run(&["analyze", photo.to_str().unwrap(), "--model", &tiny(), "--json", below.to_str().unwrap()]);
    assert_clean_failure(&out, "cannot write");
    let out = run(&["analyze", photo.to_str().unwrap(), "--model", &tiny(), "--annotate", blocker.join("a.png").to_str().unwrap()]);
    assert_clean_failure(&out, "cannot write");
    let out = run(&["analyze", "demo", "--model", &tiny(), "--annotate", blocker.join("x.mp4").to_str().unwrap()]);
    assert_clean_failure(&out, "cannot write");
}

#[test]
fn outputs_that_would_overwrite_an_input_or_each_other_are_refused_and_nothing_is_touched() {
    let dir = tempdir();
    let video = dir.path().join("v.avi");
    std::fs::copy(asset("astronaut.png"), dir.path().join("photo.png")).expect("copy photo");
    std::fs::write(&video, b"stands in for a video: must survive").expect("write");
    let photo = dir.path().join("photo.png");
    let photo_bytes = std::fs::read(&photo).expect("read photo");
    // A copy: were the guard to fail, the run would truncate the model it names.
    let model_copy = dir.path().join("model.onnx");
    std::fs::copy(fixture("tiny.onnx"), &model_copy).expect("copy model");
    let model = model_copy.to_str().unwrap().to_string();
    let (v, p) = (video.to_str().unwrap(), photo.to_str().unwrap());
    let same_video_other_spelling = format!("{}/./v.avi", dir.path().display());
    for (args, reason) in [
        (vec!["analyze", v, "--annotate", v], "would overwrite the input"),
        (vec!["analyze", v, "--json", &same_video_other_spelling], "would overwrite the input"),
        (vec!["analyze", p, "--csv", p], "would overwrite the input"),
        (vec!["analyze", p, "--json", &model], "would overwrite the input"),
    ] {
        let mut args = args;
        args.extend(["--model", &model]);
        assert_clean_failure(&run(&args), reason);
    }
    let out_json = dir.path().join("out.json");
    let o = out_json.to_str().unwrap();
    assert_clean_failure(&run(&["analyze", p, "--model", &model, "--json", o, "--csv", o]), "both name");
    assert_clean_failure(&run(&["analyze", p, "--model", &model, "--json", "-", "--csv", "-"]), "standard output");
    assert_eq!(std::fs::read(&video).expect("video"), b"stands in for a video: must survive");
    assert_eq!(std::fs::read(&photo).expect("photo"), photo_bytes);
    assert_eq!(std::fs::read(&model_copy).expect("model"), std::fs::read(fixture("tiny.onnx")).expect("fixture"), "the model is untouched");
    assert!(!out_json.exists(), "no output is created for a refused run");
}

#[test]
fn a_failed_run_leaves_earlier_outputs_as_they_were_and_no_temporary_files() {
    let dir = tempdir();
    let earlier = write_file(dir.path(), "earlier.json", b"{\"from\": \"an earlier run\"}\n");
    let csv = write_file(dir.path(), "earlier.csv", b"from,an earlier run\n");
    let missing = dir.path().join("missing.avi");
    let out = run(&["analyze", missing.to_str().unwrap(), "--model", &tiny(), "--json", earlier.to_str().unwrap(), "--csv", csv.to_str().unwrap()]);
    assert_clean_failure(&out, "not found");
    assert_eq!(std::fs::read(&earlier).expect("json"), b"{\"from\": \"an earlier run\"}\n");
    assert_eq!(std::fs::read(&csv).expect("csv"), b"from,an earlier run\n");
    let names: Vec<String> = std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "only the two earlier files: {names:?}");
}

#[test]
fn a_folder_with_many_unreadable_images_still_analyzes_every_good_one() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    for i in 0..15 {
        write_file(dir.path(), &format!("a{i:02}.png"), b"not a picture");
    }
    for name in ["z1.png", "z2.png"] {
        std::fs::copy(asset("astronaut.png"), dir.path().join(name)).expect("copy");
    }
    let out = run(&["analyze", dir.path().to_str().unwrap(), "--model", &tiny(), "--json", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sources: std::collections::BTreeSet<String> = json_lines(&stdout(&out)).iter().map(|r| r["source"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(sources.len(), 2, "both good images after the 15 bad ones: {sources:?}");
    assert!(stderr(&out).matches("warning").count() >= 15 || stderr(&out).contains("more warnings not shown"), "{}", stderr(&out));
}

#[test]
fn missing_onnx_runtime_library() {
    let out = emocam()
        .args(["analyze", asset("astronaut.png").to_str().unwrap(), "--model", &tiny()])
        .env("EMOCAM_ORT_LIB", "/nonexistent/libonnxruntime.so")
        .output()
        .expect("run emocam");
    assert_clean_failure(&out, "onnx runtime library");
    assert!(stderr(&out).contains("setup.sh"), "the error should say how to fix it");
}

#[test]
fn unknown_model_name_and_missing_model_file() {
    assert_clean_failure(&run(&["analyze", "demo", "--model", "no-such-model"]), "no model 'no-such-model'");
    assert_clean_failure(&run(&["analyze", "demo", "--model", "missing/model.onnx"]), "not found");
}

#[test]
fn bad_detector_settings() {
    if !onnx_runtime_available() {
        return;
    }
    let photo = asset("astronaut.png");
    let out = run(&["analyze", photo.to_str().unwrap(), "--model", &tiny(), "--cascade", "no_such_cascade"]);
    assert_clean_failure(&out, "cascade");
    let out = run(&["analyze", photo.to_str().unwrap(), "--model", &tiny(), "--scale-factor", "0.9"]);
    assert!(!out.status.success() && stderr(&out).contains("'0.9' for '--scale-factor"), "{}", stderr(&out));
}

#[test]
fn options_out_of_range_are_refused_at_once() {
    let photo = asset("astronaut.png");
    let p = photo.to_str().unwrap();
    // Each of these once hung, took all memory or was silently meaningless.
    for (option, value) in [
        ("--scale-factor", "1e9"),
        ("--scale-factor", "1.0000001"),
        ("--scale-factor", "NaN"),
        ("--threads", "100000"),
        ("--threads", "0"),
        ("--min-neighbors", "-5"),
        ("--min-face", "0"),
        ("--full-scan-every", "0"),
        ("--smooth", "2"),
        ("--max-frames", "0"),
    ] {
        let out = run(&["analyze", p, "--model", &tiny(), &format!("{option}={value}")]);
        assert!(!out.status.success(), "{option} {value} accepted");
        let err = stderr(&out);
        assert!(err.contains(option) && err.contains(value), "{option} {value}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = run(&["demo-clip", "/nonexistent-dir/never.avi", "--frames", "0"]);
    assert!(!out.status.success() && stderr(&out).contains("--frames"), "{}", stderr(&out));
}

/// Runs `emocam ARGS` through `sh` with `prefix` first (`ulimit`, a redirection, ...).
fn run_in_shell(prefix: &str, args: &[&str]) -> std::process::Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect();
    let script = format!("{prefix}; exec '{}' {}", env!("CARGO_BIN_EXE_emocam"), quoted.join(" "));
    std::process::Command::new("sh").arg("-c").arg(script).current_dir(root()).output().expect("run sh")
}

#[cfg(unix)]
#[test]
fn sources_that_are_not_files_say_what_they_are() {
    let dir = tempdir();
    let fifo = dir.path().join("pipe.avi");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let (loop_a, loop_b) = (dir.path().join("loop_a.mp4"), dir.path().join("loop_b.mp4"));
    std::os::unix::fs::symlink(&loop_b, &loop_a).expect("link");
    std::os::unix::fs::symlink(&loop_a, &loop_b).expect("link");
    let dangling = dir.path().join("gone.png");
    std::os::unix::fs::symlink(dir.path().join("deleted.png"), &dangling).expect("link");
    for (source, reason) in [
        (fifo.to_str().unwrap(), "named pipe"),
        ("/dev/null", "a device"),
        (loop_a.to_str().unwrap(), "symbolic links"),
        (dangling.to_str().unwrap(), "link to nothing"),
        ("rtsp://192.0.2.1/stream", "network streams are not supported"),
        ("http://192.0.2.1/clip.mp4", "network streams are not supported"),
        ("", "empty name"),
    ] {
        // Each ends at once (a FIFO with no writer would block a reader forever).
        let out = run(&["analyze", source, "--model", &tiny()]);
        assert_clean_failure(&out, reason);
    }
}

#[test]
fn an_os_error_is_printed_once() {
    let dir = tempdir();
    let blocker = write_file(dir.path(), "file", b"x");
    let out = run(&["analyze", asset("astronaut.png").to_str().unwrap(), "--model", &tiny(), "--csv", blocker.join("x.csv").to_str().unwrap()]);
    assert_clean_failure(&out, "cannot write");
    assert_eq!(stderr(&out).to_lowercase().matches("not a directory").count(), 1, "{}", stderr(&out));
    #[cfg(unix)]
    {
        let link = dir.path().join("self.avi");
        std::os::unix::fs::symlink(&link, &link).expect("link");
        let out = run(&["analyze", link.to_str().unwrap(), "--model", &tiny()]);
        assert_clean_failure(&out, "symbolic links");
        assert_eq!(stderr(&out).matches("(os error").count(), 1, "{}", stderr(&out));
    }
}

#[test]
fn models_with_repeated_labels_are_refused_and_control_characters_are_not_printed() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let repeated = dir.path().join("repeated.onnx");
    std::fs::copy(fixture("tiny.onnx"), &repeated).expect("copy");
    write_file(dir.path(), "repeated.json", br#"{"labels": ["angry", "happy", "sad", "Happy", "surprise", "neutral"]}"#);
    let out = run(&["analyze", asset("astronaut.png").to_str().unwrap(), "--model", repeated.to_str().unwrap()]);
    assert_clean_failure(&out, "appears twice");

    let models = tempdir();
    std::fs::copy(fixture("tiny.onnx"), models.path().join("evil.onnx")).expect("copy");
    write_file(models.path(), "evil.json", br#"{"display_name": "Evil\u001b[2J\u0007\nName", "labels": "angry,fear,happy,sad,surprise,neu\u001btral"}"#);
    let out = run(&["models", "--models-dir", models.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "raw control characters printed: {text:?}");
    assert!(text.contains("Evil\u{FFFD}[2J\u{FFFD}\u{FFFD}Name"), "{text:?}");
}

#[cfg(unix)]
#[test]
fn records_to_a_closed_standard_output_are_an_error() {
    if !onnx_runtime_available() {
        return;
    }
    let out = run_in_shell("exec >&-", &["analyze", asset("astronaut.png").to_str().unwrap(), "--model", &tiny()]);
    assert_clean_failure(&out, "standard output");
}

/// Reports (`models`, `bench`) to a closed or full standard output: one line and a non-zero
/// exit, never a panic or a listing lost with exit 0 (issue #27).
#[cfg(unix)]
#[test]
fn reports_to_a_closed_or_full_standard_output_are_an_error() {
    if !onnx_runtime_available() {
        return;
    }
    let models_dir = root().join("tests/fixtures");
    let models = ["models", "--models-dir", models_dir.to_str().unwrap()];
    assert_clean_failure(&run_in_shell("exec >&-", &models), "standard output");
    if std::path::Path::new("/dev/full").exists() {
        assert_clean_failure(&run_in_shell("exec >/dev/full", &models), "standard output");
        let dir = tempdir();
        let clip = dir.path().join("clip.avi");
        assert!(run(&["demo-clip", clip.to_str().unwrap(), "--frames", "5"]).status.success());
        let bench = ["bench", clip.to_str().unwrap(), "--frames", "5", "--classify-runs", "1", "--model", &tiny()];
        assert_clean_failure(&run_in_shell("exec >/dev/full", &bench), "standard output");
    }
}

#[test]
fn a_video_cut_short_is_reported() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let clip = dir.path().join("clip.avi");
    assert!(run(&["demo-clip", clip.to_str().unwrap(), "--frames", "60"]).status.success());
    let bytes = std::fs::read(&clip).expect("clip");
    let cut = dir.path().join("cut.avi");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let out = run(&["analyze", cut.to_str().unwrap(), "--model", &tiny(), "--json", dir.path().join("cut.json").to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.contains("warning") && err.contains("of the 60 frames") && err.contains("cut short"), "{err}");
    // The whole file, by contrast, says nothing of the kind.
    let out = run(&["analyze", clip.to_str().unwrap(), "--model", &tiny(), "--json", dir.path().join("whole.json").to_str().unwrap()]);
    assert!(out.status.success() && !stderr(&out).contains("cut short"), "{}", stderr(&out));
}

/// A full disk, as a file-size limit: writes past it fail (EFBIG) as they would with ENOSPC.
#[cfg(unix)]
#[test]
fn a_full_disk_is_an_error_and_leaves_no_short_file() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let clip = dir.path().join("clip.avi");
    assert!(run(&["demo-clip", clip.to_str().unwrap(), "--frames", "40"]).status.success());
    // 64 blocks (32 or 64 KiB, by shell): a frame or two of video, a few hundred records.
    let limit = "trap '' XFSZ; ulimit -f 64";
    let full = dir.path().join("full");
    std::fs::create_dir(&full).expect("dir");
    let video = full.join("annotated.avi");
    let records = full.join("faces.json");
    for (args, what) in [
        (vec!["demo-clip", video.to_str().unwrap(), "--frames", "40"], "demo-clip"),
        (vec!["analyze", clip.to_str().unwrap(), "--model", &tiny(), "--annotate", video.to_str().unwrap()], "--annotate"),
        (vec!["analyze", "demo", "--model", &tiny(), "--json", records.to_str().unwrap()], "--json"),
    ] {
        let out = run_in_shell(limit, &args);
        assert!(!out.status.success(), "{what}: exit 0 on a full disk; {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        let left: Vec<_> = std::fs::read_dir(&full).expect("list").collect();
        assert!(left.is_empty(), "{what}: left {left:?}");
    }
}
