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
    assert_clean_failure(&out, "scale factor");
}
