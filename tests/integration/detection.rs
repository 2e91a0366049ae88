//! Face-detection recall on real group photos (`../shared/faces`), against plain OpenCV Haar
//! on the same frames.

use emocam::vision::detect::DetectorSettings;
use emocam::vision::evaluate::{evaluate, Comparison};
use opencv::core::Size;

use crate::util::{faces_dir, run, stdout};

fn assert_at_least_plain_haar(what: &str, c: &Comparison, max_false_per_frame: f64) {
    let (ours, plain) = (&c.emocam, &c.plain_haar);
    eprintln!(
        "{what}: emocam recall {:.3}, false/frame {:.3}; plain Haar recall {:.3}, false/frame {:.3}",
        ours.recall(),
        ours.false_faces_per_frame(),
        plain.recall(),
        plain.false_faces_per_frame()
    );
    assert!(ours.faces > 0, "{what}: no annotated faces in view");
    assert!(ours.found >= plain.found, "{what}: emocam found {} faces, plain Haar {} of {}", ours.found, plain.found, ours.faces);
    assert!(ours.false_faces_per_frame() <= max_false_per_frame, "{what}: {:.3} false faces per frame", ours.false_faces_per_frame());
}

#[test]
fn stills_and_group_clip_at_640x480_find_as_many_faces_as_plain_haar_with_few_false_ones() {
    let Some(dir) = faces_dir() else { return };
    let report = evaluate(&dir, &DetectorSettings::default(), &[Size::new(640, 480)], 60).expect("evaluation");
    let clip = &report.clips[0].comparison;
    assert_at_least_plain_haar("clip 640x480", clip, 0.05);
    // Issue #8 asks for 0.80 (measured 0.808, README).
    assert!(clip.emocam.recall() >= 0.8, "clip 640x480: recall {:.3}", clip.emocam.recall());
    assert_at_least_plain_haar("stills", &report.stills, 0.0);
}

#[test]
fn group_clip_at_1280x720_finds_as_many_faces_as_plain_haar_with_few_false_ones() {
    let Some(dir) = faces_dir() else { return };
    let report = evaluate(&dir, &DetectorSettings::default(), &[Size::new(1280, 720)], 60).expect("evaluation");
    let clip = &report.clips[0].comparison;
    assert_at_least_plain_haar("clip 1280x720", clip, 0.05);
    assert!(clip.emocam.recall() >= 0.8, "clip 1280x720: recall {:.3}", clip.emocam.recall());
}

#[test]
fn eval_detect_prints_both_detectors() {
    let Some(dir) = faces_dir() else { return };
    let dir = dir.to_string_lossy().into_owned();
    let output = run(&["eval-detect", &dir, "--size", "320x240", "--frames-per-photo", "4", "--json"]);
    assert!(output.status.success(), "{}", crate::util::stderr(&output));
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    assert_eq!(report["clips"][0]["width"], 320);
    assert_eq!(report["clips"][0]["emocam"]["frames"], 16, "4 frames of each of the 4 photos");
    assert!(report["stills"]["plain_haar"]["faces"].as_u64().is_some_and(|n| n > 0));
}
