//! Short messages for the user: toasts that fade after a while, and one banner that stays
//! (e.g. "No camera found — playing the built-in demo").

use std::time::{Duration, Instant};

/// How long a toast stays on screen.
const TOAST_LIFETIME: Duration = Duration::from_secs(6);
/// Toasts kept at once; older ones are dropped first.
const MAX_TOASTS: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Error,
}

#[derive(Clone, Debug)]
pub struct Toast {
    pub text: String,
    pub severity: Severity,
    shown_at: Instant,
}

#[derive(Default)]
pub struct Notices {
    toasts: Vec<Toast>,
    /// A lasting notice about the source (cleared when the source changes).
    banner: Option<String>,
}

impl Notices {
    pub fn info(&mut self, text: impl Into<String>) {
        self.push(text.into(), Severity::Info);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.push(text.into(), Severity::Error);
    }

    fn push(&mut self, text: String, severity: Severity) {
        match severity {
            Severity::Info => tracing::info!("{text}"),
            Severity::Error => tracing::warn!("{text}"),
        }
        // The same message again (e.g. a recurring inference error) refreshes the old toast.
        self.toasts.retain(|t| t.text != text);
        if self.toasts.len() >= MAX_TOASTS {
            self.toasts.remove(0);
        }
        self.toasts.push(Toast { text, severity, shown_at: Instant::now() });
    }

    pub fn set_banner(&mut self, text: Option<String>) {
        self.banner = text;
    }

    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// Toasts still on screen, oldest first.
    pub fn toasts(&self) -> &[Toast] {
        &self.toasts
    }

    /// Forgets expired toasts; returns how long until the next one expires (to schedule a repaint).
    pub fn expire(&mut self) -> Option<Duration> {
        self.toasts.retain(|t| t.shown_at.elapsed() < TOAST_LIFETIME);
        self.toasts.iter().map(|t| TOAST_LIFETIME.saturating_sub(t.shown_at.elapsed())).min()
    }

    /// Draws the toasts in the bottom-right corner.
    pub fn show(&mut self, ctx: &egui::Context) {
        if let Some(next_expiry) = self.expire() {
            ctx.request_repaint_after(next_expiry);
        }
        if self.toasts.is_empty() {
            return;
        }
        egui::Area::new(egui::Id::unique("emocam-toasts")).anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0)).order(egui::Order::Foreground).show(
            ctx,
            |ui| {
                ui.set_max_width(460.0);
                for toast in &self.toasts {
                    let (fill, stroke) = match toast.severity {
                        Severity::Info => (egui::Color32::from_rgb(30, 50, 70), egui::Color32::from_rgb(90, 150, 220)),
                        Severity::Error => (egui::Color32::from_rgb(80, 25, 25), egui::Color32::from_rgb(230, 90, 90)),
                    };
                    egui::Frame::popup(ui.style()).fill(fill).stroke(egui::Stroke::new(1.0, stroke)).show(ui, |ui| {
                        ui.add(egui::Label::new(egui::RichText::new(&toast.text).color(egui::Color32::WHITE)).wrap());
                    });
                    ui.add_space(4.0);
                }
            },
        );
    }
}
