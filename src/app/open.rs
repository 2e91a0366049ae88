//! The "Open file…" and "Open model…" window: the system's file dialog (through `rfd`, on its
//! own thread so the video keeps playing while it is open) or a typed path, in a window that
//! stays open while its field is clicked and typed in. While the window is open, single-key
//! shortcuts are off, so the "s" of a path never saves a screenshot.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

/// Accessible names (the UI tests find the controls by these).
pub const OPEN_FILE_BUTTON: &str = "Open file…";
pub const OPEN_MODEL_BUTTON: &str = "Open model…";
pub const PATH_FIELD: &str = "Path";
pub const OPEN_BUTTON: &str = "Open";

/// A dialog that answers faster than this was never shown (no dialog service on this system).
const NO_DIALOG_WITHIN: Duration = Duration::from_millis(300);

const VIDEO_EXTENSIONS: &[&str] = &["mp4", "avi", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "wmv"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenKind {
    /// A video, a photo or a folder of photos.
    Source,
    Model,
}

/// What the user chose in the window.
pub enum Chosen {
    Source(PathBuf),
    Model(PathBuf),
}

struct Browsing {
    picked: Receiver<Option<PathBuf>>,
    since: Instant,
}

#[derive(Default)]
pub struct OpenWindow {
    kind: Option<OpenKind>,
    path: String,
    browsing: Option<Browsing>,
    /// Why the last path could not be opened, shown in the window.
    problem: Option<String>,
    focus_field: bool,
}

impl OpenWindow {
    pub fn open(&mut self, kind: OpenKind) {
        if self.kind != Some(kind) {
            self.path.clear();
        }
        self.kind = Some(kind);
        self.problem = None;
        self.focus_field = true;
    }

    pub fn is_open(&self) -> bool {
        self.kind.is_some()
    }

    pub fn typed_path(&self) -> Option<&str> {
        self.kind.map(|_| self.path.as_str())
    }

    /// Shows the system's file dialog on "emocam-file-dialog". The thread is not joined on exit:
    /// a dialog waits for a person, and closing the app must not.
    fn browse(&mut self, kind: OpenKind, folder: bool, repaint: impl Fn() + Send + 'static) {
        let (tx, picked) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new().name("emocam-file-dialog".into()).spawn(move || {
            let dialog = rfd::FileDialog::new();
            let picked = match (kind, folder) {
                (OpenKind::Model, _) => dialog.set_title("Open a model").add_filter("ONNX model", &["onnx"]).pick_file(),
                (OpenKind::Source, true) => dialog.set_title("Open a folder of photos").pick_folder(),
                (OpenKind::Source, false) => {
                    let mut playable: Vec<&str> = VIDEO_EXTENSIONS.to_vec();
                    playable.extend_from_slice(crate::source::IMAGE_EXTENSIONS);
                    dialog.set_title("Open a video or a photo").add_filter("Videos and photos", &playable).add_filter("All files", &["*"]).pick_file()
                }
            };
            let _ = tx.send(picked);
            repaint();
        });
        match spawned {
            Ok(_) => self.browsing = Some(Browsing { picked, since: Instant::now() }),
            Err(error) => self.problem = Some(format!("cannot show the file dialog: {error}")),
        }
    }

    /// Draws the window while it is open; returns what was chosen.
    pub fn show(&mut self, ctx: &egui::Context, repaint: impl Fn() + Send + 'static) -> Option<Chosen> {
        let kind = self.kind?;
        let mut chosen: Option<PathBuf> = None;
        if let Some(browsing) = &self.browsing {
            if let Ok(picked) = browsing.picked.try_recv() {
                let quick = browsing.since.elapsed() < NO_DIALOG_WITHIN;
                self.browsing = None;
                match picked {
                    Some(path) => chosen = Some(path),
                    None if quick => self.problem = Some("No file dialog is available on this system: type the path below".into()),
                    None => {}
                }
            }
        }
        let title = match kind {
            OpenKind::Source => "Open a video, photo or folder",
            OpenKind::Model => "Open a model",
        };
        let mut open = true;
        let mut browse = None;
        // Centred below the top bar, so that it covers neither the menus nor the face panel.
        let top_centre = ctx.content_rect().center_top() + egui::vec2(0.0, 60.0);
        egui::Window::new(title)
            .id(egui::Id::unique("emocam-open"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .pivot(egui::Align2::CENTER_TOP)
            .default_pos(top_centre)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    let idle = self.browsing.is_none();
                    let label = if kind == OpenKind::Model { "Choose a model file…" } else { "Choose a file…" };
                    if ui.add_enabled(idle, egui::Button::new(label)).clicked() {
                        browse = Some(false);
                    }
                    if kind == OpenKind::Source && ui.add_enabled(idle, egui::Button::new("Choose a folder…")).clicked() {
                        browse = Some(true);
                    }
                    if !idle {
                        ui.spinner();
                        ui.label("waiting for the file dialog…");
                    }
                });
                ui.add_space(6.0);
                ui.label(match kind {
                    OpenKind::Source => "Or type the path of a video, a photo or a folder of photos:",
                    OpenKind::Model => "Or type the path of an .onnx file:",
                });
                let submitted = ui
                    .horizontal(|ui| {
                        let label = ui.label(PATH_FIELD);
                        let hint = if kind == OpenKind::Model { "/path/to/model.onnx" } else { "/path/to/video.mp4" };
                        let field = ui.add(egui::TextEdit::singleline(&mut self.path).hint_text(hint).desired_width(360.0)).labelled_by(label.id);
                        if std::mem::take(&mut self.focus_field) {
                            field.request_focus();
                        }
                        let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                        ui.button(OPEN_BUTTON).clicked() || entered
                    })
                    .inner;
                if submitted {
                    let path = PathBuf::from(self.path.trim());
                    let usable = match kind {
                        OpenKind::Model => path.is_file(),
                        OpenKind::Source => path.exists(),
                    };
                    if usable {
                        chosen = Some(path);
                    } else {
                        self.problem = Some(format!("Nothing at {}", path.display()));
                        self.focus_field = true;
                    }
                }
                if let Some(problem) = &self.problem {
                    ui.colored_label(ui.visuals().warn_fg_color, problem);
                }
            });
        if let Some(folder) = browse {
            self.problem = None;
            self.browse(kind, folder, repaint);
        }
        if !open {
            self.kind = None;
        }
        let path = chosen?;
        self.kind = None;
        self.path.clear();
        Some(match kind {
            OpenKind::Source => Chosen::Source(path),
            OpenKind::Model => Chosen::Model(path),
        })
    }
}
