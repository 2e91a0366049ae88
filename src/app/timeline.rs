//! The selected face's emotion probabilities over the last seconds, as an egui_plot chart that
//! spans the data it has (not an empty 30 s), gives values on hover, and marks model switches.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use egui::RichText;

use crate::pipeline::FrameResult;

/// Seconds of history kept and shown.
pub const WINDOW_SECONDS: f64 = 30.0;

/// The shortest span the chart shows, so that the first frames of a face do not fill it.
const MIN_SPAN_SECONDS: f64 = 2.0;

#[derive(Default)]
pub struct Timeline {
    /// Per track: (seconds since `origin`, probabilities).
    tracks: HashMap<u64, VecDeque<(f64, Vec<f32>)>>,
    labels: Vec<String>,
    origin: Option<Instant>,
    /// (seconds since `origin`, model name) of each model switch seen.
    switches: VecDeque<(f64, String)>,
    /// The model of the last result (by file: two models may share a name).
    last_model: Option<std::path::PathBuf>,
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
        if self.last_model.as_deref().is_some_and(|last| last != result.model.path) {
            self.switches.push_back((t, result.model.display_name.clone()));
        }
        self.last_model = Some(result.model.path.clone());
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
        while self.switches.front().is_some_and(|(st, _)| *st < oldest) {
            self.switches.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.tracks.clear();
        self.switches.clear();
        self.last_model = None;
    }

    /// Seconds of history held for `track_id`.
    pub fn span_seconds(&self, track_id: u64) -> Option<f64> {
        let points = self.tracks.get(&track_id)?;
        Some(points.back()?.0 - points.front()?.0)
    }

    /// Model switches within the window, for tests and the chart.
    pub fn switches(&self) -> impl Iterator<Item = &str> {
        self.switches.iter().map(|(_, name)| name.as_str())
    }

    pub fn show(&self, ui: &mut egui::Ui, track_id: Option<u64>) {
        // The legend sits above the chart, so it never covers a curve or an axis.
        ui.horizontal_wrapped(|ui| {
            for (i, label) in self.labels.iter().enumerate() {
                ui.label(RichText::new(format!("— {label}")).color(super::overlay::label_color(&self.labels, i)));
            }
        });
        let points = track_id.and_then(|id| self.tracks.get(&id));
        let now = points.and_then(|p| p.back()).map(|(t, _)| *t).unwrap_or(0.0);
        let span = points.and_then(|p| p.front()).map(|(t, _)| now - t).unwrap_or(0.0).max(MIN_SPAN_SECONDS);
        let labels = &self.labels;
        egui_plot::Plot::new("emocam-timeline")
            .height(ui.available_height().max(60.0))
            .include_y(0.0)
            .include_y(1.0)
            .include_x(-span)
            .include_x(0.0)
            .allow_zoom(false)
            .allow_drag(false)
            .allow_scroll(false)
            .x_axis_label("seconds before now")
            .label_formatter(move |position| match position {
                egui_plot::HoverPosition::NearDataPoint { plot_name, position, .. } if !plot_name.is_empty() => {
                    Some(format!("{plot_name} {:.0}%\n{:.1} s ago", position.y * 100.0, -position.x))
                }
                egui_plot::HoverPosition::NearDataPoint { .. } | egui_plot::HoverPosition::Elsewhere { .. } => {
                    // Away from a curve: every emotion at the time under the pointer.
                    let x = match position {
                        egui_plot::HoverPosition::NearDataPoint { position, .. } | egui_plot::HoverPosition::Elsewhere { position } => position.x,
                    };
                    let (_, values) = points?.iter().min_by(|a, b| (a.0 - now - x).abs().total_cmp(&(b.0 - now - x).abs()))?;
                    let lines: Vec<String> = labels.iter().zip(values).map(|(l, v)| format!("{l} {:.0}%", v * 100.0)).collect();
                    Some(format!("{:.1} s ago\n{}", -x, lines.join("\n")))
                }
            })
            .show(ui, |plot| {
                for (t, name) in &self.switches {
                    if *t <= now && now - t <= span {
                        plot.vline(egui_plot::VLine::new(format!("model: {name}"), t - now).stroke(egui::Stroke::new(1.5, egui::Color32::from_gray(170))));
                    }
                }
                let Some(points) = points else { return };
                for (i, label) in self.labels.iter().enumerate() {
                    let series: Vec<[f64; 2]> = points.iter().filter_map(|(t, p)| p.get(i).map(|v| [t - now, f64::from(*v)])).collect();
                    plot.line(egui_plot::Line::new(label.clone(), series).color(super::overlay::label_color(&self.labels, i)).width(1.5));
                }
            });
    }
}
