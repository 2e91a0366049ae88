//! Model loading: layouts, sidecars, output kinds, parity with PyTorch and FER accuracy.

use std::path::Path;

use emocam::inference::classifier::{Classifier, ClassifierOptions};
use emocam::inference::preprocess::Layout;
use emocam::inference::scores::OutputKind;
use emocam::vision::face::GrayFace;

use crate::util::*;

/// Faces and PyTorch probabilities written by `emotrain.export`.
fn parity_file(model: &Path) -> (Vec<GrayFace>, Vec<Vec<f32>>) {
    let path = model.with_extension("parity.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).expect("parity JSON");
    let faces = value["faces"]
        .as_array()
        .expect("faces")
        .iter()
        .map(|f| GrayFace::from_pixels(f.as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u8).collect()).expect("48x48"))
        .collect();
    let probabilities = value["probabilities"]
        .as_array()
        .expect("probabilities")
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|p| p.as_f64().unwrap() as f32).collect())
        .collect();
    (faces, probabilities)
}

fn assert_close(actual: &[Vec<f32>], expected: &[Vec<f32>], tolerance: f32) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        for (x, y) in a.iter().zip(e) {
            assert!((x - y).abs() <= tolerance, "{a:?} vs {e:?}");
        }
    }
}

#[test]
fn nchw_and_nhwc_exports_agree_on_the_same_faces() {
    if !onnx_runtime_available() {
        return;
    }
    let mut nchw = load_model(&fixture("tiny.onnx"));
    let mut nhwc = load_model(&fixture("tiny_nhwc.onnx"));
    assert_eq!(nchw.info().input.layout, Layout::Nchw);
    assert_eq!(nhwc.info().input.layout, Layout::Nhwc);
    // The NHWC file has no metadata: labels and normalisation come from its sidecar.
    assert_eq!(nhwc.info().labels, nchw.info().labels);
    assert_eq!(nhwc.info().display_name, "Tiny test model (NHWC)");
    // One ends in logits, the other in a softmax; both must come out as the same probabilities.
    assert_eq!(nchw.info().output_kind, OutputKind::Logits);
    assert_eq!(nhwc.info().output_kind, OutputKind::Probabilities);
    let (faces, _) = parity_file(&fixture("tiny.onnx"));
    let a = nchw.classify(&faces).unwrap();
    let b = nhwc.classify(&faces).unwrap();
    assert_close(&a, &b, 1e-5);
    // And the faces really differ, so agreement is not trivial.
    assert!(a[0].iter().zip(&a[1]).any(|(x, y)| (x - y).abs() > 1e-3));
}

#[test]
fn fixture_matches_pytorch_within_1e_4() {
    if !onnx_runtime_available() {
        return;
    }
    let model = fixture("tiny.onnx");
    let (faces, expected) = parity_file(&model);
    assert_close(&load_model(&model).classify(&faces).unwrap(), &expected, 1e-4);
}

#[test]
fn every_shipped_model_matches_pytorch_within_1e_4() {
    if !onnx_runtime_available() {
        return;
    }
    let models = emocam::inference::catalog::discover(&root().join("models")).unwrap_or_default();
    assert!(!models.is_empty(), "no models in models/: the repository ships them");
    for model in &models {
        let (faces, expected) = parity_file(model);
        let mut classifier = load_model(model);
        assert_close(&classifier.classify(&faces).unwrap(), &expected, 1e-4);
        // One face at a time gives the same as the batch.
        let single = classifier.classify(&faces[..1]).unwrap();
        assert_close(&single, &expected[..1], 1e-4);
        assert!(classifier.info().publictest_accuracy.is_some(), "{} has no recorded accuracy", model.display());
    }
}

#[test]
fn batch_of_many_faces_is_one_row_per_face() {
    if !onnx_runtime_available() {
        return;
    }
    let mut classifier = load_model(&fixture("tiny.onnx"));
    let (faces, _) = parity_file(&fixture("tiny.onnx"));
    let many: Vec<GrayFace> = faces.iter().cycle().take(37).cloned().collect();
    let rows = classifier.classify(&many).unwrap();
    assert_eq!(rows.len(), 37);
    assert!(rows.iter().all(|r| r.len() == 6 && (r.iter().sum::<f32>() - 1.0).abs() < 1e-4));
    assert!(classifier.classify(&[]).unwrap().is_empty());
}

#[test]
fn sidecar_with_wrong_label_count_is_rejected() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let model = dir.path().join("m.onnx");
    std::fs::copy(fixture("tiny_nhwc.onnx"), &model).unwrap();
    write_file(dir.path(), "m.json", br#"{"labels": ["a", "b"]}"#);
    let error = emocam::errors::one_line(&Classifier::load(&model, ClassifierOptions::default()).err().expect("must fail"));
    assert!(error.contains("m.onnx") && error.contains("2 labels for 6 outputs"), "{error}");
    write_file(dir.path(), "m.json", b"{not json");
    let error = emocam::errors::one_line(&Classifier::load(&model, ClassifierOptions::default()).err().expect("must fail"));
    assert!(error.contains("m.json"), "{error}");
}

#[test]
fn untrusted_numbers_in_a_sidecar_are_refused_with_the_reason() {
    if !onnx_runtime_available() {
        return;
    }
    let dir = tempdir();
    let model = dir.path().join("m.onnx");
    std::fs::copy(fixture("tiny.onnx"), &model).unwrap();
    for (sidecar, reason) in [
        (r#"{"pixel_scale": "NaN"}"#, "pixel_scale"),
        (r#"{"pixel_scale": 0}"#, "pixel_scale"),
        (r#"{"std": 0}"#, "std"),
        (r#"{"std": -1}"#, "std"),
        (r#"{"mean": "inf"}"#, "mean"),
        // tiny.onnx gives logits: read as probabilities they would be shown as 41.9 and -36.2.
        (r#"{"output": "probabilities"}"#, "says probabilities"),
    ] {
        write_file(dir.path(), "m.json", sidecar.as_bytes());
        let error = emocam::errors::one_line(&Classifier::load(&model, ClassifierOptions::default()).err().unwrap_or_else(|| panic!("{sidecar} accepted")));
        assert!(error.contains("m.onnx") && error.contains(reason), "{sidecar}: {error}");
    }
}

/// Hostile models from `python -m emotrain.hostile_fixtures`.
#[test]
fn fixed_batch_models_run_on_any_number_of_faces() {
    if !onnx_runtime_available() {
        return;
    }
    let mut classifier = Classifier::load(&fixture("fixed_batch4.onnx"), ClassifierOptions::default()).expect("a fixed batch of 4 loads");
    let face = |v: u8| GrayFace::from_pixels((0..48 * 48).map(|i| (i % 97) as u8 ^ v).collect()).unwrap();
    for count in [1, 3, 4, 5, 9] {
        let faces: Vec<GrayFace> = (0..count).map(|i| face(i as u8 * 20)).collect();
        let rows = classifier.classify(&faces).expect("classify");
        assert_eq!(rows.len(), count);
        // Padding must not change a face's scores.
        let alone = classifier.classify(&faces[..1]).expect("classify one");
        assert!(rows[0].iter().zip(&alone[0]).all(|(a, b)| (a - b).abs() < 1e-5), "{count} faces");
    }
}

#[test]
fn models_that_give_nan_or_ask_for_huge_inputs_are_refused_not_aborted() {
    if !onnx_runtime_available() {
        return;
    }
    let error = emocam::errors::one_line(&Classifier::load(&fixture("nan_output.onnx"), ClassifierOptions::default()).err().expect("NaN scores refused"));
    assert!(error.contains("nan_output.onnx") && error.contains("not numbers"), "{error}");
    let error = emocam::errors::one_line(&Classifier::load(&fixture("huge_input_size.onnx"), ClassifierOptions::default()).err().expect("1e9 refused"));
    assert!(error.contains("huge_input_size.onnx") && error.contains("pixels a side"), "{error}");
    // The same through the CLI: one line, no abort, for analyze and for `models`.
    let out = run(&["analyze", asset("astronaut.png").to_str().unwrap(), "--model", fixture("huge_input_size.onnx").to_str().unwrap()]);
    assert_clean_failure(&out, "pixels a side");
    let dir = tempdir();
    std::fs::copy(fixture("huge_input_size.onnx"), dir.path().join("huge.onnx")).unwrap();
    std::fs::copy(fixture("tiny.onnx"), dir.path().join("tiny.onnx")).unwrap();
    let out = run(&["models", "--models-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.code().is_some(), "no abort: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

/// The app's preprocessing is the training preprocessing: `emocam analyze --faces` on
/// PublicTest reproduces the accuracy recorded in each shipped model within 0.05 points (two
/// faces of 3,533 may differ by float rounding on a knife edge).
#[test]
fn shipped_models_reproduce_their_publictest_accuracy() {
    if !onnx_runtime_available() {
        return;
    }
    let Some(fer) = fer2013_dir() else { return };
    let models = emocam::inference::catalog::discover(&root().join("models")).unwrap_or_default();
    assert!(!models.is_empty(), "no models in models/: the repository ships them");
    for model in models {
        let recorded = load_model(&model).info().publictest_accuracy.expect("recorded accuracy") as f64 * 100.0;
        let out = run(&["analyze", "--faces", fer.join("test").to_str().unwrap(), "--model", model.to_str().unwrap(), "--json", "/dev/null"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        let accuracy: f64 = err
            .lines()
            .find_map(|l| l.split("accuracy ").nth(1))
            .and_then(|rest| rest.split('%').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no accuracy line in: {err}"));
        assert!((accuracy - recorded).abs() <= 0.05, "{}: app {accuracy:.2}% vs training {recorded:.2}%", model.display());
    }
}
