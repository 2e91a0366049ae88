//! The selected face's emotion probabilities over the last seconds, as an egui_plot chart.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::pipeline::FrameResult;

/// Seconds of history kept and shown.
pub const WINDOW_SECONDS: f64 = 30.0;

#[derive(Default)]
pub struct Timeline {
    /// Per track: (seconds since `origin`, probabilities).
    tracks: HashMap<u64, VecDeque<(f64, Vec<f32>)>>,
    labels: Vec<String>,
    origin: Option<Instant>,
}

impl Timeline {
    pub fn add(&mut self, result: &FrameResult) {
        // Another label set makes old curves meaningless.
        if self.labels != result.model.labels {
            self.tracks.clear();
            self.labels = result.model.labels.clone();
        }
        let origin = *self.origin.get_or_insert(result.captured_at);
        let t = result.captured_at.saturating_duration_since(origin).as_secs_f64();
        for face in &result.faces {
            self.tracks.entry(face.track_id).or_default().push_back((t, face.probabilities.clone()));
        }
        let oldest = t - WINDOW_SECONDS;
        self.tracks.retain(|_, points| {
            while points.front().is_some_and(|(pt, _)| *pt < oldest) {
                points.pop_front();
            }
            !points.is_empty()
        });
    }

    pub fn clear(&mut self) {
        self.tracks.clear();
    }

    pub fn show(&self, ui: &mut egui::Ui, track_id: Option<u64>) {
        let points = track_id.and_then(|id| self.tracks.get(&id));
        let now = points.and_then(|p| p.back()).map(|(t, _)| *t).unwrap_or(0.0);
        egui_plot::Plot::new("emocam-timeline")
            .height(ui.available_height().max(80.0))
            .include_y(0.0)
            .include_y(1.0)
            .include_x(-WINDOW_SECONDS)
            .include_x(0.0)
            .allow_zoom(false)
            .allow_drag(false)
            .allow_scroll(false)
            .x_axis_label("seconds")
            .legend(egui_plot::Legend::default().position(egui_plot::Corner::LeftTop).follow_insertion_order(true))
            .show(ui, |plot| {
                let Some(points) = points else { return };
                for (i, label) in self.labels.iter().enumerate() {
                    let series: Vec<[f64; 2]> = points.iter().filter_map(|(t, p)| p.get(i).map(|v| [t - now, f64::from(*v)])).collect();
                    plot.line(egui_plot::Line::new(label.clone(), series).color(super::overlay::label_color(&self.labels, i)).width(1.5));
                }
            });
    }
}
