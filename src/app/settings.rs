//! User settings that survive restarts (stored by eframe's persistence in the config dir).

use serde::{Deserialize, Serialize};

use crate::vision::detect::{DetectorOverrides, DetectorSettings};

/// Key under which the settings are stored.
pub const STORAGE_KEY: &str = "emocam-settings";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Stored under the detector's own field names (`cascade`, `min_neighbors`, ...).
    #[serde(flatten)]
    pub detector: DetectorSettings,
    pub smoothing: bool,
    /// Show the video like a mirror (what people expect from a front camera).
    pub mirror: bool,
    pub show_timeline: bool,
    /// Play a video again when it ends.
    pub loop_video: bool,
    /// Files and folders played lately, newest first (under Source).
    pub recent_files: Vec<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { detector: DetectorSettings::default(), smoothing: true, mirror: false, show_timeline: true, loop_video: false, recent_files: Vec::new() }
    }
}

impl Settings {
    /// Settings for a run: the saved ones (numbers brought into range: the file is anyone's to
    /// edit), with each detector option given on the command line in place of its saved value.
    pub fn merged(saved: Option<Settings>, command_line: &DetectorOverrides) -> Settings {
        let mut settings = saved.unwrap_or_default();
        settings.detector = command_line.apply(settings.detector.within_ranges());
        settings
    }

    pub fn smoothing_alpha(&self) -> Option<f32> {
        self.smoothing.then_some(crate::inference::smooth::DEFAULT_ALPHA)
    }

    /// What the chosen cascade does, in words, for the dropdown.
    pub fn cascade_label(&self) -> String {
        cascade_title(&self.detector.cascade)
    }
}

/// Recent files kept under Source.
const RECENT_FILES: usize = 8;

impl Settings {
    /// Puts `path` first in the recent files.
    pub fn add_recent(&mut self, path: &std::path::Path) {
        self.recent_files.retain(|p| p != path);
        self.recent_files.insert(0, path.to_path_buf());
        self.recent_files.truncate(RECENT_FILES);
    }
}

/// What a cascade of `haarcascades/` does, in words; another file by its name.
pub fn cascade_title(cascade: &str) -> String {
    let name = std::path::Path::new(cascade).file_stem().map(|s| s.to_string_lossy().trim_start_matches("haarcascade_").to_string()).unwrap_or_default();
    match name.as_str() {
        "frontalface_default" => "Frontal (finds most)".into(),
        "frontalface_alt" => "Frontal, stricter".into(),
        "frontalface_alt2" => "Frontal, stricter 2".into(),
        "frontalface_alt_tree" => "Frontal, strictest".into(),
        "profileface" => "Profile (side view)".into(),
        "" => cascade.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascades_are_named_for_what_they_do() {
        assert_eq!(cascade_title("frontalface_default"), "Frontal (finds most)");
        assert_eq!(cascade_title("/opt/x/haarcascade_profileface.xml"), "Profile (side view)");
        assert_eq!(cascade_title("/home/me/my_cascade.xml"), "my_cascade");
    }

    #[test]
    fn saved_numbers_out_of_range_are_brought_back_in() {
        let hostile =
            DetectorSettings { scale_factor: 1e9, min_neighbors: -5, min_face_fraction: f32::NAN, full_scan_interval_frames: 0, ..DetectorSettings::default() };
        let settings = Settings::merged(Some(Settings { detector: hostile, ..Settings::default() }), &DetectorOverrides::default()).detector;
        assert!(crate::vision::detect::FaceFinder::new(settings.clone()).is_ok(), "{settings:?}");
        assert_eq!((settings.scale_factor, settings.min_neighbors, settings.full_scan_interval_frames), (2.0, 0, 1));
        assert_eq!(settings.min_face_fraction, DetectorSettings::default().min_face_fraction);
    }

    #[test]
    fn a_command_line_option_replaces_its_saved_setting_alone() {
        let saved = Settings { detector: DetectorSettings { min_neighbors: 9, scale_factor: 1.3, ..DetectorSettings::default() }, ..Settings::default() };
        let overrides = DetectorOverrides { scale_factor: Some(1.2), ..DetectorOverrides::default() };
        let merged = Settings::merged(Some(saved), &overrides).detector;
        assert_eq!((merged.scale_factor, merged.min_neighbors), (1.2, 9), "{merged:?}");
    }

    #[test]
    fn settings_saved_before_the_detector_had_its_own_struct_still_load() {
        let old = r#"{"cascade":"frontalface_alt2","scale_factor":1.2,"min_neighbors":7,"min_face_fraction":0.1,"full_scan_interval_frames":10,"smoothing":false,"mirror":true,"show_timeline":true}"#;
        let settings: Settings = serde_json::from_str(old).expect("old settings");
        assert_eq!(
            (settings.detector.cascade.as_str(), settings.detector.min_neighbors, settings.mirror, settings.smoothing),
            ("frontalface_alt2", 7, true, false)
        );
    }
}
