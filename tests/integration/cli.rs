//! The analyzer on the public-domain photos and on a generated clip.

use crate::util::*;

#[test]
fn astronaut_is_one_happy_face_with_the_default_model() {
    if !onnx_runtime_available() {
        return;
    }
    let Some(model) = default_model() else { panic!("no default model in models/: the repository ships one") };
    let out = run(&["analyze", asset("astronaut.png").to_str().unwrap(), "--model", model.to_str().unwrap(), "--json", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = json_lines(&stdout(&out));
    assert_eq!(records.len(), 1, "expected exactly one face: {records:?}");
    assert_eq!(records[0]["label"], "happy", "{:?}", records[0]);
    let probabilities = records[0]["probabilities"].as_object().expect("probabilities object");
    let sum: f64 = probabilities.values().filter_map(|v| v.as_f64()).sum();
    assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to {sum}");
}

#[test]
fn grace_hopper_is_one_face_with_every_label() {
    if !onnx_runtime_available() {
        return;
    }
    let tiny = fixture("tiny.onnx");
    let out = run(&["analyze", asset("grace_hopper.jpg").to_str().unwrap(), "--model", tiny.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = json_lines(&stdout(&out));
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let keys: Vec<&str> = record["probabilities"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["angry", "fear", "happy", "sad", "surprise", "neutral"]);
    // The face is in the upper middle of the portrait.
    let (x, y, w) = (record["x"].as_i64().unwrap(), record["y"].as_i64().unwrap(), record["w"].as_i64().unwrap());
    assert!((100..300).contains(&x) && (30..250).contains(&y) && w > 100, "unexpected box {record}");
}

#[test]
fn generated_clip_gives_one_stable_track_per_frame_and_an_annotated_video() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let clip = dir.path().join("clip.avi");
    let made = run(&["demo-clip", clip.to_str().unwrap(), "--frames", "90"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let csv = dir.path().join("faces.csv");
    let annotated = dir.path().join("annotated.avi");
    let tiny = fixture("tiny.onnx");
    let out =
        run(&["analyze", clip.to_str().unwrap(), "--model", tiny.to_str().unwrap(), "--csv", csv.to_str().unwrap(), "--annotate", annotated.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let mut reader = csv::Reader::from_path(&csv).expect("csv written");
    let header = reader.headers().expect("header").clone();
    assert_eq!(&header[8], "label");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let frames: std::collections::BTreeSet<u64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    // No frame has a second (false) face; a new face is reported from its second frame on
    // (detections are confirmed over two frames), so frame 0 may have none.
    assert_eq!(rows.len(), frames.len(), "a frame with more than one face");
    assert!(frames.len() >= 89, "face found in only {} of 90 frames", frames.len());
    let tracks: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.get(3).unwrap()).collect();
    assert_eq!(tracks.len(), 1, "the face keeps one track id: {tracks:?}");

    let size = std::fs::metadata(&annotated).expect("annotated video").len();
    assert!(size > 10_000, "annotated video is only {size} bytes");
}

#[test]
fn folder_of_images_and_annotated_images() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    std::fs::copy(asset("astronaut.png"), photos.join("a.png")).unwrap();
    std::fs::copy(asset("grace_hopper.jpg"), photos.join("b.jpg")).unwrap();
    // Same stem, other format: each keeps its own annotated file.
    std::fs::copy(asset("grace_hopper.jpg"), photos.join("a.jpg")).unwrap();
    // A grey-only format: its coloured annotation goes to a PNG beside the name.
    let grey = opencv::imgcodecs::imread(asset("astronaut.png").to_str().unwrap(), opencv::imgcodecs::IMREAD_GRAYSCALE).unwrap();
    assert!(opencv::imgcodecs::imwrite(photos.join("c.pgm").to_str().unwrap(), &grey, &opencv::core::Vector::new()).unwrap());
    let out_dir = dir.path().join("annotated");
    let tiny = fixture("tiny.onnx");
    let out = run(&["analyze", photos.to_str().unwrap(), "--model", tiny.to_str().unwrap(), "--json", "-", "--annotate", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = json_lines(&stdout(&out));
    assert_eq!(records.len(), 4);
    assert!(records[0]["source"].as_str().unwrap().ends_with("a.jpg"));
    assert!(records[1]["source"].as_str().unwrap().ends_with("a.png"));
    assert!(records[2]["source"].as_str().unwrap().ends_with("b.jpg"));
    assert!(records[3]["source"].as_str().unwrap().ends_with("c.pgm"));
    for name in ["a.jpg", "a.png", "b.jpg", "c.pgm.png"] {
        let annotated = opencv::imgcodecs::imread(out_dir.join(name).to_str().unwrap(), opencv::imgcodecs::IMREAD_COLOR).unwrap();
        assert!(!opencv::core::MatTraitConst::empty(&annotated), "{name} annotated");
    }
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 4, "one annotated file per input, nothing else");
}

#[test]
fn models_command_lists_input_spec_and_labels() {
    if !onnx_runtime_available() {
        return;
    }
    let out = run(&["models", "--models-dir", root().join("tests/fixtures").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Tiny test model (1x48x48 NCHW, 6 classes"), "{text}");
    assert!(text.contains("Tiny test model (NHWC) (1x48x48 NHWC, 6 classes"), "{text}");
    assert!(text.contains("labels: angry, fear, happy, sad, surprise, neutral"), "{text}");
    assert!(text.contains("not_image.onnx") && text.contains("unusable"), "{text}");
}

#[test]
fn models_command_says_what_each_shipped_model_costs_and_scores() {
    if !onnx_runtime_available() {
        return;
    }
    let out = run(&["models"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // EmoNet Tiny: 24.2 M multiply-adds a pass, twice with its mirror averaging.
    let tiny = text.lines().find(|l| l.trim_start().starts_with("EmoNet Tiny (1x48x48")).unwrap_or_else(|| panic!("no EmoNet Tiny in {text}"));
    // The accuracy is the one recorded in the file (retraining changes it; the models tests check it).
    let tiny_model = root().join("models/emonet-tiny.onnx");
    let recorded = load_model(&tiny_model).info().publictest_accuracy;
    let accuracy = format!("PublicTest {:.1}%", recorded.expect("EmoNet Tiny records its PublicTest accuracy") * 100.0);
    assert!(tiny.contains("6 classes") && tiny.contains(&accuracy) && tiny.contains("48 M mult-adds per face"), "{tiny} (expected {accuracy})");
    assert!(text.contains("(default)"), "{text}");
}
