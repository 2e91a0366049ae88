//! User settings that survive restarts (stored by eframe's persistence in the config dir).

use serde::{Deserialize, Serialize};

use crate::detect::DetectorSettings;

/// Key under which the settings are stored.
pub const STORAGE_KEY: &str = "emocam-settings";
/// EMA weight of the newest frame when smoothing is on.
pub const SMOOTHING_ALPHA: f32 = 0.3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Short cascade name (`frontalface_default`) or a path.
    pub cascade: String,
    pub scale_factor: f64,
    /// "Sensitivity": neighbouring hits needed per face.
    pub min_neighbors: i32,
    /// Smallest face as a fraction of the frame's shorter side.
    pub min_face_fraction: f32,
    pub full_scan_interval_frames: u32,
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
        let detector = DetectorSettings::default();
        Self {
            cascade: "frontalface_default".into(),
            scale_factor: detector.scale_factor,
            min_neighbors: detector.min_neighbors,
            min_face_fraction: detector.min_face_fraction,
            full_scan_interval_frames: detector.full_scan_interval_frames,
            smoothing: true,
            mirror: false,
            show_timeline: true,
            loop_video: false,
            recent_files: Vec::new(),
        }
    }
}

impl Settings {
    /// Settings for a run: detector options given on the command line (anything but the
    /// defaults) win over saved ones.
    pub fn merged(saved: Option<Settings>, command_line: &DetectorSettings) -> Settings {
        let mut settings = saved.map(Settings::within_ranges).unwrap_or_default();
        if *command_line != DetectorSettings::default() {
            settings.cascade = command_line.cascade.display().to_string();
            settings.scale_factor = command_line.scale_factor;
            settings.min_neighbors = command_line.min_neighbors;
            settings.min_face_fraction = command_line.min_face_fraction;
            settings.full_scan_interval_frames = command_line.full_scan_interval_frames;
        }
        settings
    }

    /// Saved settings are a file anyone can edit: each number is brought into the range the
    /// detector accepts (a number that is not one takes the default), so that the app starts.
    fn within_ranges(self) -> Settings {
        use crate::detect::{FULL_SCAN_INTERVAL_RANGE, MIN_FACE_FRACTION_RANGE, MIN_NEIGHBORS_RANGE, SCALE_FACTOR_RANGE};
        let defaults = Settings::default();
        let clamp_f64 = |v: f64, range: std::ops::RangeInclusive<f64>, default: f64| if v.is_nan() { default } else { v.clamp(*range.start(), *range.end()) };
        let clamp_f32 = |v: f32, range: std::ops::RangeInclusive<f32>, default: f32| if v.is_nan() { default } else { v.clamp(*range.start(), *range.end()) };
        Settings {
            scale_factor: clamp_f64(self.scale_factor, SCALE_FACTOR_RANGE, defaults.scale_factor),
            min_neighbors: self.min_neighbors.clamp(*MIN_NEIGHBORS_RANGE.start(), *MIN_NEIGHBORS_RANGE.end()),
            min_face_fraction: clamp_f32(self.min_face_fraction, MIN_FACE_FRACTION_RANGE, defaults.min_face_fraction),
            full_scan_interval_frames: self.full_scan_interval_frames.clamp(*FULL_SCAN_INTERVAL_RANGE.start(), *FULL_SCAN_INTERVAL_RANGE.end()),
            ..self
        }
    }

    pub fn detector(&self) -> DetectorSettings {
        DetectorSettings {
            cascade: crate::resources::cascade_path(&self.cascade),
            scale_factor: self.scale_factor,
            min_neighbors: self.min_neighbors,
            min_face_fraction: self.min_face_fraction,
            full_scan_interval_frames: self.full_scan_interval_frames,
        }
    }

    pub fn smoothing_alpha(&self) -> Option<f32> {
        self.smoothing.then_some(SMOOTHING_ALPHA)
    }

    /// What the chosen cascade does, in words, for the dropdown.
    pub fn cascade_label(&self) -> String {
        cascade_title(&self.cascade)
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
        let hostile = Settings { scale_factor: 1e9, min_neighbors: -5, min_face_fraction: f32::NAN, full_scan_interval_frames: 0, ..Settings::default() };
        let settings = Settings::merged(Some(hostile), &DetectorSettings::default());
        assert!(crate::detect::FaceFinder::new(settings.detector()).is_ok(), "{settings:?}");
        assert_eq!((settings.scale_factor, settings.min_neighbors, settings.full_scan_interval_frames), (2.0, 0, 1));
        assert_eq!(settings.min_face_fraction, Settings::default().min_face_fraction);
    }
}
