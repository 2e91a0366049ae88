//! Per-stage micro-benchmarks: `cargo bench`.
//!
//! The whole-pipeline figures (throughput on a clip, per-stage timings in context, memory) come
//! from `emocam bench`; these isolate one stage each on fixed inputs.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use emocam::inference::classifier::{Classifier, ClassifierOptions};
use emocam::inference::preprocess::{fill_batch, InputSpec, Layout, Normalization};
use emocam::source::DemoSource;
use emocam::vision::detect::{DetectorKind, DetectorSettings, FaceFinder, FULL_SCAN_INTERVAL_RANGE};
use emocam::vision::face::{to_grey, Framing, GrayFace};
use opencv::core::Rect;

fn demo_frame() -> opencv::core::Mat {
    let demo = DemoSource::new(false).expect("demo photos");
    let (_, frame) = demo.render(10).expect("demo frame");
    frame
}

fn detection(c: &mut Criterion) {
    let frame = demo_frame();
    let grey = to_grey(&frame).expect("grey");
    for kind in DetectorKind::ALL {
        let settings = DetectorSettings { detector: kind, ..DetectorSettings::default() };
        let mut finder = FaceFinder::new(settings.clone()).expect("detector");
        c.bench_function(&format!("detect ({kind}): full-frame scan, 640x480"), |b| b.iter(|| finder.find_in_still(&frame, &grey).expect("detect")));
        // The longest interval the settings allow: every frame after the first follows the face.
        let mut tracking = FaceFinder::new(DetectorSettings { full_scan_interval_frames: *FULL_SCAN_INTERVAL_RANGE.end(), ..settings }).expect("detector");
        tracking.find(&frame, &grey).expect("first frame");
        tracking.find(&frame, &grey).expect("confirmed");
        c.bench_function(&format!("detect ({kind}): tracked face, 640x480"), |b| b.iter(|| tracking.find(&frame, &grey).expect("detect")));
    }
    let face = Rect::new(250, 90, 150, 150);
    c.bench_function("crop: FER framing to 48x48", |b| b.iter(|| Framing::default().extract(&grey, face).expect("crop")));
}

fn preprocessing(c: &mut Criterion) {
    let faces = vec![GrayFace::from_pixels(vec![128; 48 * 48]).expect("48x48"); 4];
    let spec = InputSpec { layout: Layout::Nchw, channels: 1, height: 48, width: 48, fixed_batch: None };
    let norm = Normalization { pixel_scale: 1.0 / 255.0, mean: vec![0.5], std: vec![0.5] };
    let mut out = Vec::new();
    c.bench_function("preprocess: 4 faces to NCHW", |b| b.iter(|| fill_batch(&faces, &spec, &norm, &mut out).expect("fill")));
}

fn classification(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut models = vec![root.join("tests/fixtures/tiny.onnx")];
    models.extend(emocam::inference::catalog::discover(&root.join("models")).unwrap_or_default());
    let face = GrayFace::from_pixels((0..48 * 48).map(|i| (i * 7 % 256) as u8).collect()).expect("48x48");
    for path in models {
        let mut classifier = match Classifier::load(&path, ClassifierOptions::default()) {
            Ok(classifier) => classifier,
            Err(e) => {
                eprintln!("skipping {}: {e}", path.display());
                continue;
            }
        };
        let name = format!("classify: 1 face, {}", classifier.info().display_name);
        c.bench_function(&name, |b| b.iter(|| classifier.classify(std::slice::from_ref(&face)).expect("classify")));
    }
}

criterion_group!(benches, detection, preprocessing, classification);
criterion_main!(benches);
