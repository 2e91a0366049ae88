//! UI tests of the desktop app, driven headless with egui_kittest (no window, no GPU): the
//! demo fallback, model switching (also to a broken model), screenshots, and picking a face.
//!
//! Each test runs the real pipeline on the built-in demo (or a still image) with the tiny
//! random-weights fixture model, and polls with generous timeouts instead of timing anything.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable as _;
use egui_kittest::Harness;
use emocam::app::{face_label, AppOptions, EmocamApp, Severity};
use emocam::inference::classifier::ClassifierOptions;
use emocam::source::SourceSpec;
use emocam::vision::detect::{DetectorKind, DetectorOverrides};

/// Longest wait for anything asynchronous (pipeline start, a model switch, a screenshot).
const PATIENCE: Duration = Duration::from_secs(20);

fn fixture_model() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny.onnx"))
}

#[path = "common/skipped.rs"]
mod skipped;

/// True when the app can run here; otherwise says why the calling test is skipped (a failure
/// under `CI=true`, see `skipped::missing_data`).
fn can_run() -> bool {
    if let Err(e) = emocam::runtime::environment() {
        skipped::missing_data(&e.to_string());
        return false;
    }
    assert!(fixture_model().is_file(), "no test model at {}: the repository ships it", fixture_model().display());
    true
}

fn options(source: Option<SourceSpec>, models_dir: &Path, screenshots: &Path) -> AppOptions {
    AppOptions {
        source,
        model: fixture_model(),
        models_dir: models_dir.to_path_buf(),
        classifier: ClassifierOptions::default(),
        detector: DetectorOverrides::default(),
        screenshots: Some(screenshots.to_path_buf()),
        record: false,
    }
}

/// A harness showing a freshly started app (the app needs the harness's egui context).
fn start(options: AppOptions) -> Harness<'static, Option<EmocamApp>> {
    start_sized(options, [1280.0, 800.0])
}

fn start_sized(options: AppOptions, size: [f32; 2]) -> Harness<'static, Option<EmocamApp>> {
    let mut harness = Harness::builder().with_size(size).build_ui_state(
        |ui, app: &mut Option<EmocamApp>| {
            if let Some(app) = app {
                app.ui(ui);
            }
        },
        None,
    );
    let app = EmocamApp::new(options, harness.ctx.clone(), None);
    *harness.state_mut() = Some(app);
    harness
}

fn app<'h>(harness: &'h Harness<'static, Option<EmocamApp>>) -> &'h EmocamApp {
    harness.state().as_ref().expect("the app was started")
}

/// Steps the UI until `done` holds; false after [`PATIENCE`].
fn step_until(harness: &mut Harness<'static, Option<EmocamApp>>, mut done: impl FnMut(&EmocamApp) -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        harness.step();
        if done(app(harness)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Waits for `more` frames beyond those shown so far: proof that results still flow.
fn frames_keep_coming(harness: &mut Harness<'static, Option<EmocamApp>>, more: u64) -> bool {
    let seen = app(harness).frames_shown();
    step_until(harness, |app| app.frames_shown() >= seen + more)
}

fn has_toast(app: &EmocamApp, severity: Severity, text: &str) -> bool {
    app.toasts().iter().any(|(s, t)| *s == severity && t.contains(text))
}

#[test]
fn missing_camera_falls_back_to_the_demo_with_a_notice() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // With no camera here, "no source" must fall back; where camera 0 exists, ask for a camera
    // that cannot exist instead (a negative index never opens).
    let no_camera_here = emocam::source::CameraSource::open(0).is_err();
    let (source, expected) =
        if no_camera_here { (None, "No camera found — playing the built-in demo") } else { (Some(SourceSpec::Camera(-1)), "playing the built-in demo") };
    let mut harness = start(options(source, dir.path(), dir.path()));
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0), "no frame shown within {PATIENCE:?}");
    let app_now = app(&harness);
    assert_eq!(app_now.source(), Some(&SourceSpec::Demo));
    let notice = app_now.notice().unwrap_or_default().to_string();
    assert!(notice.contains(expected), "notice is {notice:?}");
    harness.step();
    assert!(harness.query_by_label_contains(expected).is_some(), "the notice is not on screen");
    assert!(frames_keep_coming(&mut harness, 5), "the demo does not play");
    // The banner goes when dismissed, and the demo plays on.
    harness.get_by_label(emocam::app::DISMISS_BANNER).click();
    harness.step();
    harness.step();
    assert!(harness.query_by_label(emocam::app::DISMISS_BANNER).is_none(), "the banner is still there");
    assert!(frames_keep_coming(&mut harness, 5), "the demo stopped");
}

#[test]
fn switching_models_and_a_broken_model_keeps_the_video_running() {
    if !can_run() {
        return;
    }
    let models = tempfile::tempdir().expect("tempdir");
    let first = models.path().join("a_tiny.onnx");
    let broken = models.path().join("b_broken.onnx");
    let second = models.path().join("c_tiny_copy.onnx");
    std::fs::copy(fixture_model(), &first).expect("copy model");
    std::fs::copy(fixture_model(), &second).expect("copy model");
    std::fs::write(&broken, b"this is not an ONNX model").expect("write broken model");
    let mut opts = options(Some(SourceSpec::Demo), models.path(), models.path());
    opts.model = first.clone();
    let mut harness = start(opts);

    // The dropdown lists all three; the broken one as unusable.
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0 && app.models().len() == 3), "app did not start and list 3 models");
    let entries = app(&harness).models().to_vec();
    assert!(entries.iter().find(|e| e.path == broken).is_some_and(|e| e.info.is_err()), "broken model not marked unusable");
    assert!(entries.iter().filter(|e| e.info.is_ok()).count() == 2);

    // A working switch while the video runs.
    harness.state_mut().as_mut().expect("app").switch_model(second.clone());
    assert!(step_until(&mut harness, |app| app.current_model_path() == Some(second.as_path())), "did not switch to {}", second.display());
    let name_before = app(&harness).current_model_name().map(str::to_owned);

    // Key 2 picks the second entry: the broken model. It must fail visibly and change nothing.
    harness.key_press(egui::Key::Num2);
    assert!(
        step_until(&mut harness, |app| has_toast(app, Severity::Error, "b_broken.onnx")),
        "no error shown for the broken model; toasts: {:?}",
        app(&harness).toasts()
    );
    harness.step();
    assert!(harness.query_by_label_contains("Cannot switch to").is_some(), "the error is not on screen");
    assert_eq!(app(&harness).current_model_path(), Some(second.as_path()));
    assert_eq!(app(&harness).current_model_name().map(str::to_owned), name_before);
    assert!(frames_keep_coming(&mut harness, 5), "results stopped after the failed switch");
}

#[test]
fn screenshot_button_saves_a_full_resolution_png() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let shots = dir.path().join("shots");
    let mut harness = start(options(Some(SourceSpec::Demo), dir.path(), &shots));
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0), "no frame shown");
    harness.get_by_label("Screenshot").click();
    assert!(step_until(&mut harness, |app| app.last_screenshot().is_some()), "no screenshot; toasts: {:?}", app(&harness).toasts());
    let path = app(&harness).last_screenshot().expect("screenshot path").to_path_buf();
    assert_eq!(path.parent(), Some(shots.as_path()));
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("png"));
    let bytes = std::fs::read(&path).expect("read screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let image = opencv::imgcodecs::imread(&path, opencv::imgcodecs::IMREAD_COLOR).expect("decode");
    use opencv::prelude::MatTraitConst as _;
    assert_eq!((image.cols(), image.rows()), (640, 480), "not the demo's native size");
    assert!(has_toast(app(&harness), Severity::Info, &path.display().to_string()), "the path is not shown");
}

#[test]
fn screenshot_into_an_unwritable_folder_shows_an_error_and_the_app_keeps_running() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // A folder below a plain file can never be created (even as root).
    let blocker = dir.path().join("plain-file");
    std::fs::write(&blocker, b"x").expect("write file");
    let mut harness = start(options(Some(SourceSpec::Demo), dir.path(), &blocker.join("shots")));
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0), "no frame shown");
    harness.key_press(egui::Key::S);
    assert!(step_until(&mut harness, |app| has_toast(app, Severity::Error, "Screenshot failed")), "no error shown; toasts: {:?}", app(&harness).toasts());
    assert!(app(&harness).last_screenshot().is_none());
    harness.step();
    assert!(harness.query_by_label_contains("cannot create the screenshot folder").is_some(), "the reason is not on screen");
    assert!(frames_keep_coming(&mut harness, 5), "the app stopped after the failed screenshot");
}

/// Two demo photos side by side: a still with two faces.
fn two_face_image(dir: &Path) -> PathBuf {
    use opencv::core::{Mat, Vector};
    let demo = emocam::source::DemoSource::new(false).expect("demo");
    let (_, left) = demo.render(0).expect("frame");
    let (_, right) = demo.render(emocam::source::DEMO_FRAMES_PER_PHOTO).expect("frame");
    let mut both = Mat::default();
    opencv::core::hconcat2(&left, &right, &mut both).expect("hconcat");
    let path = dir.join("two_faces.png");
    assert!(opencv::imgcodecs::imwrite(&path, &both, &Vector::new()).expect("imwrite"));
    path
}

#[test]
fn clicking_a_face_selects_it() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let image = two_face_image(dir.path());
    let mut harness = start(options(Some(SourceSpec::Image(image)), dir.path(), dir.path()));
    assert!(step_until(&mut harness, |app| app.current_faces().len() >= 2), "two faces not found; faces: {:?}", app(&harness).current_faces());
    let auto = app(&harness).selected_face().expect("a face is selected by default");
    assert!(!app(&harness).face_was_picked());
    let other = app(&harness).current_faces().iter().map(|f| f.track_id).find(|&id| id != auto).expect("a second face");

    harness.get_by_label(&face_label(other)).click();
    harness.step();
    harness.step();
    assert_eq!(app(&harness).selected_face(), Some(other), "the clicked face is not selected");
    assert!(app(&harness).face_was_picked());
    assert!(harness.query_by_label(&format!("Face #{other} (picked)")).is_some(), "the side panel does not show the picked face");
}

/// Copies of the fixture model in a models folder, in file-name order.
fn model_copies(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            std::fs::copy(fixture_model(), &path).expect("copy model");
            path
        })
        .collect()
}

#[test]
fn a_finished_photo_follows_model_and_detector_changes() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let image = two_face_image(dir.path());
    let models = tempfile::tempdir().expect("tempdir");
    let copies = model_copies(models.path(), &["a_tiny.onnx", "b_tiny.onnx"]);
    let mut opts = options(Some(SourceSpec::Image(image)), models.path(), dir.path());
    opts.model = copies[0].clone();
    let mut harness = start(opts);
    assert!(
        step_until(&mut harness, |app| app.current_faces().len() >= 2 && app.source_finished() && app.models().len() == 2),
        "the photo was not scored and finished; faces: {:?}",
        app(&harness).current_faces()
    );

    // A model switch on a photo that has ended scores it again with the new model: no
    // "loading…" that never ends.
    harness.state_mut().as_mut().expect("app").switch_model(copies[1].clone());
    assert!(
        step_until(&mut harness, |app| !app.model_switch_pending() && app.result_model_path() == Some(copies[1].as_path())),
        "the photo's results do not come from the new model; toasts: {:?}",
        app(&harness).toasts()
    );
    assert_eq!(app(&harness).current_model_path(), Some(copies[1].as_path()), "the status bar's model is stale");
    assert!(app(&harness).current_faces().len() >= 2, "faces lost in the switch");
    harness.step();
    assert!(harness.query_by_label_contains("loading").is_none(), "still shows loading");

    // The largest minimum face size hides the faces at once, and the default brings them back.
    harness.state_mut().as_mut().expect("app").update_settings(|s| s.detector.min_face_fraction = 0.9);
    assert!(
        step_until(&mut harness, |app| app.current_faces().is_empty()),
        "a larger minimum face size changed nothing: {:?} {:?}",
        app(&harness).current_faces(),
        app(&harness).toasts()
    );
    let default = emocam::app::Settings::default().detector.min_face_fraction;
    harness.state_mut().as_mut().expect("app").update_settings(|s| s.detector.min_face_fraction = default);
    assert!(step_until(&mut harness, |app| app.current_faces().len() >= 2), "the faces did not come back");
}

#[test]
fn the_open_window_keeps_focus_and_shortcuts_stay_off_while_typing() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let image = two_face_image(dir.path());
    let shots = dir.path().join("shots");
    let mut harness = start(options(Some(SourceSpec::Demo), dir.path(), &shots));
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0), "no frame shown");

    harness.get_by_label(emocam::app::OPEN_FILE_BUTTON).click();
    harness.step();
    harness.step();
    assert!(app(&harness).typed_path().is_some(), "the open window did not open");
    // Clicking into the field keeps the window open (a popup closed on this click before).
    harness.get_by_role_and_label(egui::accesskit::Role::TextInput, emocam::app::PATH_FIELD).click();
    harness.step();
    harness.step();
    assert!(app(&harness).typed_path().is_some(), "clicking the path field closed the window");

    // Letters that are shortcuts elsewhere: typed, they go into the path only.
    let mirror_before = app(&harness).settings().mirror;
    for key in [egui::Key::S, egui::Key::M, egui::Key::Space, egui::Key::Num2] {
        harness.key_press(key);
        harness.step();
    }
    harness.get_by_role_and_label(egui::accesskit::Role::TextInput, emocam::app::PATH_FIELD).type_text(&image.display().to_string());
    harness.step();
    harness.step();
    assert_eq!(app(&harness).settings().mirror, mirror_before, "M toggled the mirror while typing");
    assert!(app(&harness).typed_path().is_some_and(|t| t.ends_with("two_faces.png")), "typed text went elsewhere: {:?}", app(&harness).typed_path());
    assert!(!shots.exists(), "S saved a screenshot while typing");

    harness.get_by_label(emocam::app::OPEN_BUTTON).click();
    assert!(step_until(&mut harness, |app| app.source() == Some(&SourceSpec::Image(image.clone()))), "the typed path was not opened");
    assert!(app(&harness).typed_path().is_none(), "the window stayed open");

    // With the window closed, M is the mirror shortcut again (so the check above could fail).
    harness.key_press(egui::Key::M);
    harness.step();
    assert_ne!(app(&harness).settings().mirror, mirror_before, "M is not a shortcut outside the field");
}

#[test]
fn a_folder_opens_one_photo_at_a_time_and_arrows_step_through_it() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).expect("mkdir");
    let first = two_face_image(&photos);
    let second = photos.join("zz_copy.png");
    std::fs::copy(&first, &second).expect("copy photo");
    let mut harness = start(options(Some(SourceSpec::Folder(photos.clone())), dir.path(), dir.path()));
    assert!(
        step_until(&mut harness, |app| app.source() == Some(&SourceSpec::Image(first.clone())) && app.photo_position() == Some((1, 2))),
        "the folder did not open on its first photo: {:?}",
        app(&harness).source()
    );
    assert!(step_until(&mut harness, |app| app.source_finished() && !app.current_faces().is_empty()), "the first photo was not scored");
    // It stays on the first photo: no slideshow.
    assert!(frames_stay(&mut harness), "more frames came from a photo");
    assert_eq!(app(&harness).source(), Some(&SourceSpec::Image(first.clone())));

    harness.key_press(egui::Key::ArrowRight);
    assert!(step_until(&mut harness, |app| app.photo_position() == Some((2, 2))), "→ did not step: {:?}", app(&harness).photo_position());
    assert_eq!(app(&harness).source(), Some(&SourceSpec::Image(second.clone())));
    harness.get_by_label(emocam::app::PREVIOUS_PHOTO).click();
    assert!(step_until(&mut harness, |app| app.photo_position() == Some((1, 2))), "◀ did not step back");
    assert!(app(&harness).settings().recent_files.contains(&photos), "the folder is not among the recent files");
}

/// Steps the UI for a while and tells whether no frame beyond those shown came meanwhile.
fn frames_stay(harness: &mut Harness<'static, Option<EmocamApp>>) -> bool {
    let seen = app(harness).frames_shown();
    for _ in 0..25 {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    app(harness).frames_shown() == seen
}

#[test]
fn the_model_menu_speaks_plainly_and_keeps_its_order() {
    if !can_run() {
        return;
    }
    let models = tempfile::tempdir().expect("tempdir");
    let copies = model_copies(models.path(), &["b_second.onnx", "a_first.onnx", "c_third.onnx"]);
    std::fs::write(models.path().join("default.txt"), "c_third.onnx\n").expect("write default.txt");
    let mut opts = options(Some(SourceSpec::Demo), models.path(), models.path());
    // Started with the middle one: it must not jump to the front of the list.
    opts.model = copies[0].clone();
    let mut harness = start(opts);
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0 && app.models().len() == 3), "app did not start and list 3 models");
    let names: Vec<String> = app(&harness).models().iter().map(|e| e.file_name()).collect();
    assert_eq!(names, ["a_first.onnx", "b_second.onnx", "c_third.onnx"], "keys 1–9 must follow file names");
    let titles: Vec<String> = app(&harness).models().iter().map(|e| e.title()).collect();
    assert!(titles.iter().all(|t| t.contains("emotions") && t.contains("ms per face")), "titles: {titles:?}");
    assert!(titles[2].contains("recommended") && !titles[0].contains("recommended"), "titles: {titles:?}");

    harness.key_press(egui::Key::Num3);
    assert!(step_until(&mut harness, |app| app.current_model_path() == Some(copies[2].as_path())), "key 3 did not switch");
    assert!(
        step_until(&mut harness, |app| has_toast(app, Severity::Info, "ms per face (was")),
        "the switch toast does not say what changed: {:?}",
        app(&harness).toasts()
    );
    let switched_to = app(&harness).current_model_name().expect("a model").to_string();
    assert!(step_until(&mut harness, |app| app.timeline_switches().contains(&switched_to)), "the timeline does not mark the switch");
}

#[test]
fn the_side_panel_folds_in_a_small_window_and_text_stays_readable() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut small = start_sized(options(Some(SourceSpec::Demo), dir.path(), dir.path()), [800.0, 600.0]);
    assert!(step_until(&mut small, |app| app.frames_shown() > 0), "no frame shown");
    small.step();
    assert!(small.query_by_label("Face detector").is_none(), "the side panel takes room from the video at 800 wide");
    small.get_by_label(emocam::app::DETAILS_TOGGLE).click();
    small.step();
    small.step();
    assert!(small.query_by_label("Face detector").is_some(), "the Details toggle does not bring the side panel back");
    let small_text = small.ctx.style_of(small.ctx.theme()).text_styles[&egui::TextStyle::Small].size;
    assert!(small_text >= 11.0, "small text is {small_text} points");

    let mut large = start_sized(options(Some(SourceSpec::Demo), dir.path(), dir.path()), [1600.0, 1000.0]);
    assert!(step_until(&mut large, |app| app.frames_shown() > 0), "no frame shown");
    large.step();
    assert!(large.query_by_label("Face detector").is_some(), "no side panel in a large window");
}

/// A short MJPG video of the demo's first photo: a file source that ends within a second.
fn short_video(dir: &Path) -> PathBuf {
    use opencv::prelude::VideoWriterTrait as _;
    let demo = emocam::source::DemoSource::new(false).expect("demo");
    let path = dir.join("short.avi");
    let fourcc = opencv::videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = opencv::videoio::VideoWriter::new(path.display().to_string(), fourcc, 30.0, opencv::core::Size::new(640, 480), true).expect("writer");
    for i in 0..15 {
        let (_, frame) = demo.render(i).expect("frame");
        writer.write(&frame).expect("write frame");
    }
    writer.release().expect("close video");
    path
}

#[test]
fn a_finished_video_can_be_replayed() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let video = short_video(dir.path());
    let mut harness = start(options(Some(SourceSpec::Video(video.clone())), dir.path(), dir.path()));
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0 && app.source_finished()), "the video did not play to its end");
    let shown = app(&harness).frames_shown();
    harness.step();
    harness.get_by_label(emocam::app::REPLAY_BUTTON).click();
    assert!(step_until(&mut harness, |app| app.frames_shown() > shown), "Replay did not play the video again");
    assert!(step_until(&mut harness, |app| app.source_finished()), "the replay did not end");
    assert_eq!(app(&harness).source(), Some(&SourceSpec::Video(video)));
    assert!(app(&harness).settings().recent_files.iter().any(|p| p.ends_with("short.avi")), "the video is not among the recent files");
}

/// The sliders span the usual values, the command line every value the detector takes: showing
/// a slider must not move a setting outside its span (it did: `--min-face 0.9` became 0.6).
#[test]
fn detector_settings_outside_the_sliders_stay_as_given() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = options(Some(SourceSpec::Demo), dir.path(), dir.path());
    opts.detector = DetectorOverrides { min_face_fraction: Some(0.9), min_neighbors: Some(40), scale_factor: Some(1.9), ..DetectorOverrides::default() };
    let mut harness = start(opts);
    assert!(frames_keep_coming(&mut harness, 3), "the demo does not play");
    for _ in 0..5 {
        harness.step();
    }
    let detector = &app(&harness).settings().detector;
    assert_eq!((detector.min_face_fraction, detector.min_neighbors, detector.scale_factor), (0.9, 40, 1.9), "{detector:?}");
}

/// An MJPG video of the demo's first `frames` frames (the astronaut: one face in every frame),
/// at 30 frames/s.
fn demo_video(dir: &Path, name: &str, frames: u64) -> PathBuf {
    use opencv::prelude::VideoWriterTrait as _;
    let demo = emocam::source::DemoSource::new(false).expect("demo");
    let path = dir.join(name);
    let fourcc = opencv::videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer = opencv::videoio::VideoWriter::new(path.display().to_string(), fourcc, 30.0, opencv::core::Size::new(640, 480), true).expect("writer");
    for i in 0..frames {
        let (_, frame) = demo.render(i).expect("frame");
        writer.write(&frame).expect("write frame");
    }
    writer.release().expect("close video");
    path
}

/// True once the frame on screen is `frame` (0-based) and no seek is on its way.
fn at_frame(app: &EmocamApp, frame: u64) -> bool {
    !app.seek_pending() && app.current_frame_index() == Some(frame)
}

#[test]
fn the_seek_bar_and_frame_steps_go_to_a_frame_and_show_its_faces() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // 20 s at 30 frames/s: it plays on while the test looks.
    let video = demo_video(dir.path(), "seek.avi", 600);
    let mut harness = start(options(Some(SourceSpec::Video(video)), dir.path(), dir.path()));
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0 && app.can_seek()), "the video did not play");
    harness.step();
    assert!(harness.query_by_label(emocam::app::SEEK_BAR).is_some(), "no seek bar under a video");
    assert!(harness.query_by_label_contains("/ 00:20").is_some(), "the bar does not say the video is 20 s long");

    // A seek while playing plays on from there.
    harness.state_mut().as_mut().expect("app").seek_to(450);
    assert!(step_until(&mut harness, |app| !app.seek_pending() && app.current_frame_index().is_some_and(|i| i >= 450)), "the seek did not arrive");
    assert!(!app(&harness).is_paused(), "a seek while playing paused the video");
    assert!(frames_keep_coming(&mut harness, 3), "the video stopped after the seek");

    // Paused, a click in the middle of the bar goes to the middle: that frame, its time and
    // its face, although no frame follows it.
    harness.key_press(egui::Key::Space);
    assert!(step_until(&mut harness, |app| app.is_paused()), "Space did not pause");
    harness.get_by_label(emocam::app::SEEK_BAR).click();
    assert!(
        step_until(&mut harness, |app| !app.seek_pending()
            && app.current_frame_index().is_some_and(|i| (200..400).contains(&i))
            && !app.current_faces().is_empty()),
        "clicking the middle of the bar did not show the middle frame with its face: frame {:?}, faces {:?}",
        app(&harness).current_frame_index(),
        app(&harness).current_faces()
    );
    let middle = app(&harness).current_frame_index().expect("a frame");
    harness.step();
    let clock = format!("{} / 00:20", emocam::app::clock(middle as f64 / 30.0));
    assert!(harness.query_by_label(&clock).is_some(), "the bar does not show {clock}");
    assert!(harness.query_by_label(&format!("frame {:>3} of 600", middle + 1)).is_some(), "the bar does not show the frame number");

    // `.` one frame forward, `,` twice two back, and the button one forward again: each frame
    // is scored (its face shows), and the video stays paused.
    harness.key_press(egui::Key::Period);
    assert!(step_until(&mut harness, |app| at_frame(app, middle + 1)), "`.` did not step forward: {:?}", app(&harness).current_frame_index());
    harness.key_press(egui::Key::Comma);
    harness.step();
    harness.key_press(egui::Key::Comma);
    assert!(step_until(&mut harness, |app| at_frame(app, middle - 1)), "`,` twice did not step back two: {:?}", app(&harness).current_frame_index());
    assert!(!app(&harness).current_faces().is_empty(), "the frame stepped to has no face");
    harness.get_by_label(emocam::app::FRAME_FORWARD).click();
    assert!(step_until(&mut harness, |app| at_frame(app, middle)), "the button did not step forward");
    assert!(app(&harness).is_paused(), "stepping played the video");
    assert!(frames_stay(&mut harness), "frames came while paused");

    // While a text field has the keyboard, `.` is typed, not a step.
    harness.get_by_label(emocam::app::OPEN_FILE_BUTTON).click();
    harness.step();
    harness.step();
    harness.get_by_role_and_label(egui::accesskit::Role::TextInput, emocam::app::PATH_FIELD).click();
    harness.step();
    harness.step();
    harness.key_press(egui::Key::Period);
    harness.step();
    assert!(frames_stay(&mut harness) && at_frame(app(&harness), middle), "`.` stepped while typing a path");
}

#[test]
fn a_finished_video_seeks_back_paused_and_plays_on_from_there() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let video = demo_video(dir.path(), "end.avi", 30);
    let mut harness = start(options(Some(SourceSpec::Video(video)), dir.path(), dir.path()));
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0 && app.source_finished()), "the video did not play to its end");
    assert!(app(&harness).can_seek(), "a video at its end can no longer seek");
    // As a media player does: a video that ended is paused at the frame sought.
    harness.state_mut().as_mut().expect("app").seek_to(10);
    assert!(step_until(&mut harness, |app| at_frame(app, 10)), "the seek from the end did not arrive: {:?}", app(&harness).current_frame_index());
    assert!(app(&harness).is_paused() && !app(&harness).source_finished(), "not paused at the frame sought");
    harness.step();
    assert!(harness.query_by_label("Paused").is_some(), "the status bar does not say Paused");
    // `,` at frame 10 goes to 9; Space plays on from there to the end.
    harness.key_press(egui::Key::Comma);
    assert!(step_until(&mut harness, |app| at_frame(app, 9)), "`,` did not step back");
    let shown = app(&harness).frames_shown();
    harness.key_press(egui::Key::Space);
    assert!(step_until(&mut harness, |app| app.source_finished() && app.frames_shown() > shown), "the video did not play on to its end");
    assert_eq!(app(&harness).current_frame_index(), Some(29), "the end is the last frame");
    // `.` at the end stays on the last frame.
    harness.key_press(egui::Key::Period);
    harness.step();
    assert!(frames_stay(&mut harness) && app(&harness).current_frame_index() == Some(29));
}

#[test]
fn the_demo_has_no_seek_bar_and_ignores_frame_steps() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut harness = start(options(Some(SourceSpec::Demo), dir.path(), dir.path()));
    assert!(step_until(&mut harness, |app| app.frames_shown() > 0), "the demo did not play");
    harness.step();
    assert!(!app(&harness).can_seek());
    assert!(harness.query_by_label(emocam::app::SEEK_BAR).is_none(), "a seek bar under the demo");
    assert!(harness.query_by_label(emocam::app::FRAME_FORWARD).is_none(), "frame steps under the demo");
    harness.key_press(egui::Key::Period);
    harness.step();
    assert!(!app(&harness).is_paused(), "`.` paused the demo");
    assert!(frames_keep_coming(&mut harness, 3), "the demo stopped");
}

/// The detector is chosen in the side panel and switches without a restart: the demo keeps
/// playing with its face found by each, and the Haar-only settings show for Haar alone.
#[test]
fn the_detector_switches_in_the_side_panel_without_a_restart() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut harness = start(options(Some(SourceSpec::Demo), dir.path(), dir.path()));
    assert!(step_until(&mut harness, |app| app.current_faces().len() == 1), "no face in the demo with BlazeFace");
    assert_eq!(app(&harness).settings().detector.detector, DetectorKind::Blazeface, "BlazeFace is the default");
    assert!(harness.query_by_label("Cascade").is_none(), "a Haar setting is shown for BlazeFace");
    assert!(harness.query_by_label("Detector").is_some(), "no detector choice in the side panel");
    // What the panel's choice does (its combo box sets the same field).
    harness.state_mut().as_mut().expect("app").update_settings(|s| s.detector.detector = DetectorKind::Haar);
    harness.step();
    assert!(harness.query_by_label("Cascade").is_some(), "the cascade choice is not shown for Haar");
    assert!(frames_keep_coming(&mut harness, 30), "the video stopped after the switch");
    assert!(step_until(&mut harness, |app| app.current_faces().len() == 1), "no face in the demo with Haar");
}
