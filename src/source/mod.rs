//! Where frames come from: a camera, a video file, an image, a folder of images, or the
//! built-in demo.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use opencv::core::{Mat, Rect, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc, videoio};

/// File extensions read as still images.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "pgm", "ppm"];

/// What the user asked to read frames from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    Camera(i32),
    Video(PathBuf),
    Image(PathBuf),
    Folder(PathBuf),
    /// Public-domain photos from `assets/`, panned like a camera would see them.
    Demo,
}

impl FromStr for SourceSpec {
    type Err = std::convert::Infallible;

    /// `demo`, a camera index (`0`), a folder, an image file, or anything else as a video.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("demo") {
            return Ok(SourceSpec::Demo);
        }
        if let Ok(index) = text.parse::<i32>() {
            return Ok(SourceSpec::Camera(index));
        }
        // Linux names cameras /dev/video0, /dev/video1, ...: the same as their index.
        if let Some(index) = text.strip_prefix("/dev/video").and_then(|n| n.parse::<i32>().ok()) {
            return Ok(SourceSpec::Camera(index));
        }
        let path = PathBuf::from(text);
        Ok(if path.is_dir() {
            SourceSpec::Folder(path)
        } else if is_image_path(&path) {
            SourceSpec::Image(path)
        } else {
            SourceSpec::Video(path)
        })
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Camera(index) => write!(f, "camera {index}"),
            SourceSpec::Video(p) | SourceSpec::Image(p) | SourceSpec::Folder(p) => write!(f, "{}", p.display()),
            SourceSpec::Demo => f.write_str("demo"),
        }
    }
}

pub fn is_image_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Why frames can't be read. Each message names the source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0} not found")]
    NotFound(PathBuf),
    #[error("the source is an empty name: give a video file, an image, a folder of images, a camera index or demo")]
    EmptyName,
    #[error("{0} is a link to nothing (its target is missing)")]
    BrokenLink(PathBuf),
    #[error("{path} is {kind}, not a file: give a video file, an image, a folder of images, a camera index or demo")]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("{path} ended after {read} of the {expected} frames its header announces: the file is cut short or damaged")]
    EndedEarly { path: PathBuf, read: u64, expected: u64 },
    #[error("{0}: network streams are not supported; give a video file, an image, a folder of images, a camera index or demo")]
    Url(String),
    #[error("{0} is not an image OpenCV can read")]
    NotAnImage(PathBuf),
    #[error("{0} is not a video OpenCV can read")]
    NotAVideo(PathBuf),
    #[error("no images (png, jpg, bmp, tiff, webp, pgm, ppm) in folder {0}")]
    EmptyFolder(PathBuf),
    #[error("camera {0} could not be opened (is it connected, and not used by another program?)")]
    CameraUnavailable(i32),
    #[error("camera {0} stopped delivering frames")]
    CameraLost(i32),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("demo: {0}")]
    Demo(String),
    #[error("{0} cannot jump to a frame")]
    NotSeekable(String),
    #[error("{path}: cannot jump to frame {frame}")]
    SeekFailed { path: PathBuf, frame: u64 },
    #[error("reading frames")]
    OpenCv(#[from] opencv::Error),
}

/// One decoded frame (BGR).
pub struct Frame {
    pub image: Mat,
    /// 0-based position in the source.
    pub index: u64,
    /// Position in the source's own time line, in ms (video timestamps; 0 for stills).
    pub time_ms: f64,
    /// The file the frame came from (images and folders), or the source's description.
    pub name: String,
}

/// A stream of frames.
pub trait FrameSource: Send {
    /// The next frame; `Ok(None)` at the end of a finite source.
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;
    /// Frames per second the source is meant to be played at, if it has a rate.
    fn nominal_fps(&self) -> Option<f64>;
    /// Number of frames, when known in advance.
    fn frame_count(&self) -> Option<u64>;
    /// True for cameras: they pace themselves and can be unplugged.
    fn is_camera(&self) -> bool {
        false
    }
    /// True when consecutive frames are unrelated pictures (a folder of photos): no tracking.
    fn frames_are_independent(&self) -> bool {
        false
    }
    /// True when [`FrameSource::seek`] can work: a file whose frames are counted, the demo, a
    /// folder. Cameras and streams can't.
    fn can_seek(&self) -> bool {
        false
    }
    /// Makes frame `index` (0-based; past the end: the last frame) the next one
    /// [`FrameSource::next_frame`] returns. After an error the source reads on from where it
    /// is, and the frames it gives keep their true indices.
    fn seek(&mut self, index: u64) -> Result<(), SourceError> {
        let _ = index;
        Err(SourceError::NotSeekable("this source".into()))
    }
}

/// Opens `spec`; `loop_demo` makes the demo endless (live use) instead of one pass.
pub fn open(spec: &SourceSpec, loop_demo: bool) -> Result<Box<dyn FrameSource>, SourceError> {
    Ok(match spec {
        SourceSpec::Camera(index) => Box::new(CameraSource::open(*index)?),
        SourceSpec::Video(path) => Box::new(VideoSource::open(path)?),
        SourceSpec::Image(path) => Box::new(StillSource::single(path)?),
        SourceSpec::Folder(path) => Box::new(StillSource::folder(path)?),
        SourceSpec::Demo => Box::new(DemoSource::new(loop_demo)?),
    })
}

/// Keeps OpenCV's own warnings (e.g. about missing cameras) off the terminal: emocam reports
/// failures itself.
pub fn quiet_opencv_logging() {
    let _ = opencv::core::set_log_level(opencv::core::LogLevel::LOG_LEVEL_SILENT);
}

pub struct CameraSource {
    index: i32,
    capture: videoio::VideoCapture,
    frames_read: u64,
    started: std::time::Instant,
}

impl CameraSource {
    pub fn open(index: i32) -> Result<Self, SourceError> {
        if index < 0 {
            return Err(SourceError::CameraUnavailable(index));
        }
        let capture = videoio::VideoCapture::new(index, videoio::CAP_ANY).map_err(|_| SourceError::CameraUnavailable(index))?;
        if !capture.is_opened().unwrap_or(false) {
            return Err(SourceError::CameraUnavailable(index));
        }
        Ok(Self { index, capture, frames_read: 0, started: std::time::Instant::now() })
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let mut image = Mat::default();
        let ok = self.capture.read(&mut image).map_err(|_| SourceError::CameraLost(self.index))?;
        if !ok || image.empty() {
            return Err(SourceError::CameraLost(self.index));
        }
        let index = self.frames_read;
        self.frames_read += 1;
        Ok(Some(Frame { image, index, time_ms: self.started.elapsed().as_secs_f64() * 1e3, name: format!("camera {}", self.index) }))
    }

    fn nominal_fps(&self) -> Option<f64> {
        self.capture.get(videoio::CAP_PROP_FPS).ok().filter(|f| *f > 0.0)
    }

    fn frame_count(&self) -> Option<u64> {
        None
    }

    fn is_camera(&self) -> bool {
        true
    }

    fn seek(&mut self, _index: u64) -> Result<(), SourceError> {
        Err(SourceError::NotSeekable(format!("camera {}", self.index)))
    }
}

pub struct VideoSource {
    path: PathBuf,
    capture: videoio::VideoCapture,
    /// The first frame, read at open time to prove the file is a video.
    pending: Option<Mat>,
    frames_read: u64,
    fps: Option<f64>,
    /// The end was reached (and, if early, reported once).
    ended: bool,
}

impl VideoSource {
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        check_is_file(path)?;
        let not_video = || SourceError::NotAVideo(path.to_path_buf());
        let mut capture = videoio::VideoCapture::from_file(path, videoio::CAP_FFMPEG)
            .or_else(|_| videoio::VideoCapture::from_file(path, videoio::CAP_ANY))
            .map_err(|_| not_video())?;
        if !capture.is_opened().unwrap_or(false) {
            return Err(not_video());
        }
        let mut first = Mat::default();
        if !capture.read(&mut first).unwrap_or(false) || first.empty() {
            return Err(not_video());
        }
        let fps = capture.get(videoio::CAP_PROP_FPS).ok().filter(|f| *f > 0.0 && f.is_finite());
        Ok(Self { path: path.to_path_buf(), capture, pending: Some(first), frames_read: 0, fps, ended: false })
    }

    /// The end of the file: said once, as a problem, when it comes well before the frame count
    /// the header gives (which decoders estimate, hence the margin).
    fn end(&mut self) -> Result<Option<Frame>, SourceError> {
        if std::mem::replace(&mut self.ended, true) {
            return Ok(None);
        }
        match self.frame_count() {
            Some(expected) if self.frames_read + 2 + expected / 100 < expected => {
                Err(SourceError::EndedEarly { path: self.path.clone(), read: self.frames_read, expected })
            }
            _ => Ok(None),
        }
    }
}

impl FrameSource for VideoSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let image = match self.pending.take() {
            Some(first) => first,
            None => {
                let mut image = Mat::default();
                if self.ended || !self.capture.read(&mut image)? || image.empty() {
                    return self.end();
                }
                image
            }
        };
        let index = self.frames_read;
        self.frames_read += 1;
        let time_ms = match self.fps {
            Some(fps) => index as f64 * 1e3 / fps,
            None => self.capture.get(videoio::CAP_PROP_POS_MSEC).unwrap_or(0.0),
        };
        Ok(Some(Frame { image, index, time_ms, name: self.path.display().to_string() }))
    }

    fn nominal_fps(&self) -> Option<f64> {
        self.fps
    }

    fn frame_count(&self) -> Option<u64> {
        self.capture.get(videoio::CAP_PROP_FRAME_COUNT).ok().filter(|n| *n > 0.0 && n.is_finite()).map(|n| n as u64)
    }

    /// A file with no frame count (some streams and containers) has no place to jump to.
    fn can_seek(&self) -> bool {
        self.frame_count().is_some()
    }

    /// OpenCV's `CAP_PROP_POS_FRAMES`: its FFmpeg backend seeks to the key frame before `index`
    /// and decodes up to it, so the frame is exact (and costs up to a group of pictures).
    fn seek(&mut self, index: u64) -> Result<(), SourceError> {
        let Some(count) = self.frame_count() else {
            return Err(SourceError::NotSeekable(self.path.display().to_string()));
        };
        let index = index.min(count.saturating_sub(1));
        let next = if self.pending.is_some() { 0 } else { self.frames_read };
        if index == next && !self.ended {
            return Ok(()); // already there: a step forward while paused reads on
        }
        let failed = || SourceError::SeekFailed { path: self.path.clone(), frame: index };
        if !self.capture.set(videoio::CAP_PROP_POS_FRAMES, index as f64).unwrap_or(false) {
            return Err(failed());
        }
        // Wherever the decoder landed is where the next frame comes from, even if it is not
        // where it was asked to go: indices stay true.
        self.pending = None;
        self.ended = false;
        let landed = self.capture.get(videoio::CAP_PROP_POS_FRAMES).ok().filter(|p| p.is_finite() && *p >= 0.0).map(|p| p.round() as u64);
        self.frames_read = landed.unwrap_or(index);
        if landed.is_some_and(|at| at != index) {
            return Err(failed());
        }
        Ok(())
    }
}

/// One image, or the images of a folder in name order.
pub struct StillSource {
    paths: Vec<PathBuf>,
    next: usize,
}

impl StillSource {
    pub fn single(path: &Path) -> Result<Self, SourceError> {
        check_is_file(path)?;
        // Decode once now so that a bad file fails at open time with a clear message.
        read_image(path)?;
        Ok(Self { paths: vec![path.to_path_buf()], next: 0 })
    }

    pub fn folder(dir: &Path) -> Result<Self, SourceError> {
        if !dir.is_dir() {
            return Err(SourceError::NotFound(dir.to_path_buf()));
        }
        let paths = list_images(dir)?;
        if paths.is_empty() {
            return Err(SourceError::EmptyFolder(dir.to_path_buf()));
        }
        Ok(Self { paths, next: 0 })
    }
}

/// Says why `path` can't be read as a file, in words: missing, a dangling link, a link loop, no
/// permission, or something that is not a regular file (a named pipe or a device would block or
/// never end), or a URL.
pub fn check_is_file(path: &Path) -> Result<(), SourceError> {
    if path.as_os_str().is_empty() {
        return Err(SourceError::EmptyName);
    }
    let text = path.to_string_lossy();
    if text.contains("://") && !path.exists() {
        return Err(SourceError::Url(text.into_owned()));
    }
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(if std::fs::symlink_metadata(path).is_ok() {
                SourceError::BrokenLink(path.to_path_buf())
            } else {
                SourceError::NotFound(path.to_path_buf())
            });
        }
        // A link loop, a permission problem, ...: the OS says it best.
        Err(error) => return Err(SourceError::Io(path.to_path_buf(), error)),
    };
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    let kind = if file_type.is_dir() { "a folder" } else { special_file_kind(&file_type) };
    Err(SourceError::NotAFile { path: path.to_path_buf(), kind })
}

#[cfg(unix)]
fn special_file_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a named pipe (FIFO)"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special_file_kind(_: &std::fs::FileType) -> &'static str {
    "not a regular file"
}

/// Image files directly inside `dir`, sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SourceError::Io(dir.to_path_buf(), e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && is_image_path(p)).collect();
    paths.sort();
    Ok(paths)
}

/// Reads a colour image, with a clear error for files OpenCV can't decode.
pub fn read_image(path: &Path) -> Result<Mat, SourceError> {
    let image = imgcodecs::imread(path, imgcodecs::IMREAD_COLOR).map_err(|_| SourceError::NotAnImage(path.to_path_buf()))?;
    if image.empty() {
        return Err(SourceError::NotAnImage(path.to_path_buf()));
    }
    Ok(image)
}

impl FrameSource for StillSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some(path) = self.paths.get(self.next).cloned() else {
            return Ok(None);
        };
        let index = self.next as u64;
        self.next += 1;
        let image = read_image(&path)?;
        Ok(Some(Frame { image, index, time_ms: 0.0, name: path.display().to_string() }))
    }

    fn nominal_fps(&self) -> Option<f64> {
        None
    }

    fn frame_count(&self) -> Option<u64> {
        Some(self.paths.len() as u64)
    }

    fn frames_are_independent(&self) -> bool {
        true
    }

    fn can_seek(&self) -> bool {
        self.paths.len() > 1
    }

    fn seek(&mut self, index: u64) -> Result<(), SourceError> {
        self.next = (index as usize).min(self.paths.len().saturating_sub(1));
        Ok(())
    }
}

/// Replays a finite source from the start until `total_frames` frames were read (or plays it
/// once when `total_frames` is `None`): long benchmark runs from a short clip.
pub struct Repeat {
    spec: SourceSpec,
    inner: Box<dyn FrameSource>,
    total_frames: Option<u64>,
    delivered: u64,
}

impl Repeat {
    pub fn open(spec: SourceSpec, total_frames: Option<u64>) -> Result<Self, SourceError> {
        let inner = open(&spec, false)?;
        Ok(Self { spec, inner, total_frames, delivered: 0 })
    }
}

impl FrameSource for Repeat {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.total_frames.is_some_and(|total| self.delivered >= total) {
            return Ok(None);
        }
        let frame = match self.inner.next_frame()? {
            Some(frame) => frame,
            None if self.total_frames.is_some() && self.delivered > 0 => {
                self.inner = open(&self.spec, false)?;
                match self.inner.next_frame()? {
                    Some(frame) => frame,
                    None => return Ok(None),
                }
            }
            None => return Ok(None),
        };
        let index = self.delivered;
        self.delivered += 1;
        Ok(Some(Frame { index, ..frame }))
    }

    fn nominal_fps(&self) -> Option<f64> {
        self.inner.nominal_fps()
    }

    fn frame_count(&self) -> Option<u64> {
        self.total_frames.or_else(|| self.inner.frame_count())
    }

    fn is_camera(&self) -> bool {
        self.inner.is_camera()
    }

    fn frames_are_independent(&self) -> bool {
        self.inner.frames_are_independent()
    }
}

/// The demo's frame size and rate: what a common webcam delivers.
pub const DEMO_SIZE: Size = Size { width: 640, height: 480 };
pub const DEMO_FPS: f64 = 30.0;
/// How long each photo is shown, in frames.
pub const DEMO_FRAMES_PER_PHOTO: u64 = 300;

/// Public-domain photos compiled into the binary, so the demo works from any folder.
const DEMO_PHOTOS: [(&str, &[u8]); 2] =
    [("astronaut", include_bytes!("../../assets/astronaut.png")), ("grace_hopper", include_bytes!("../../assets/grace_hopper.jpg"))];

/// Slowly pans and zooms across each demo photo, like a camera watching a person.
pub struct DemoSource {
    photos: Vec<(String, Mat)>,
    next: u64,
    looping: bool,
}

impl DemoSource {
    pub fn new(looping: bool) -> Result<Self, SourceError> {
        let photos = DEMO_PHOTOS
            .iter()
            .map(|(name, bytes)| {
                let image = imgcodecs::imdecode(&Vector::<u8>::from_slice(bytes), imgcodecs::IMREAD_COLOR)?;
                if image.empty() {
                    return Err(SourceError::Demo(format!("embedded photo {name} does not decode")));
                }
                Ok((name.to_string(), image))
            })
            .collect::<Result<Vec<_>, SourceError>>()?;
        Ok(Self { photos, next: 0, looping })
    }

    /// Frame `index` of the demo (deterministic, so tests and benchmarks can rely on it).
    pub fn render(&self, index: u64) -> Result<(String, Mat), SourceError> {
        let (name, photo) = &self.photos[(index / DEMO_FRAMES_PER_PHOTO) as usize % self.photos.len()];
        let t = (index % DEMO_FRAMES_PER_PHOTO) as f64 / DEMO_FRAMES_PER_PHOTO as f64;
        // A 4:3 window that zooms from 100% to 85% of the photo's width while drifting.
        let aspect = DEMO_SIZE.height as f64 / DEMO_SIZE.width as f64;
        let zoom = 1.0 - 0.15 * (t * std::f64::consts::PI).sin();
        let w = (photo.cols() as f64 * zoom).min(photo.rows() as f64 / aspect);
        let h = w * aspect;
        let x = (photo.cols() as f64 - w) * (0.5 + 0.5 * (t * 2.0 * std::f64::consts::PI).sin());
        let y = (photo.rows() as f64 - h) * 0.5 * (1.0 - (t * std::f64::consts::PI).cos()) * 0.5;
        let window = Rect::new(x.max(0.0) as i32, y.max(0.0) as i32, w as i32, h as i32);
        let mut frame = Mat::default();
        imgproc::resize(&Mat::roi(photo, window)?, &mut frame, DEMO_SIZE, 0.0, 0.0, imgproc::INTER_LINEAR)?;
        Ok((name.clone(), frame))
    }

    pub fn length(&self) -> u64 {
        DEMO_FRAMES_PER_PHOTO * self.photos.len() as u64
    }
}

impl FrameSource for DemoSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if !self.looping && self.next >= self.length() {
            return Ok(None);
        }
        let index = self.next;
        self.next += 1;
        let (name, image) = self.render(index)?;
        Ok(Some(Frame { image, index, time_ms: index as f64 * 1e3 / DEMO_FPS, name: format!("demo:{name}") }))
    }

    fn nominal_fps(&self) -> Option<f64> {
        Some(DEMO_FPS)
    }

    fn frame_count(&self) -> Option<u64> {
        (!self.looping).then(|| self.length())
    }

    /// Every demo frame is drawn from its index, so any index is a place to go.
    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, index: u64) -> Result<(), SourceError> {
        self.next = if self.looping { index } else { index.min(self.length() - 1) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_specs() {
        assert_eq!("demo".parse::<SourceSpec>().unwrap(), SourceSpec::Demo);
        assert_eq!("2".parse::<SourceSpec>().unwrap(), SourceSpec::Camera(2));
        assert_eq!("face.JPG".parse::<SourceSpec>().unwrap(), SourceSpec::Image("face.JPG".into()));
        assert_eq!("clip.mp4".parse::<SourceSpec>().unwrap(), SourceSpec::Video("clip.mp4".into()));
        assert_eq!("/dev/video1".parse::<SourceSpec>().unwrap(), SourceSpec::Camera(1));
    }

    /// An MJPG clip of the demo's first `frames` frames.
    fn demo_video(dir: &Path, frames: u64) -> PathBuf {
        let demo = DemoSource::new(false).unwrap();
        let path = dir.join("clip.avi");
        let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
        let mut writer = videoio::VideoWriter::new(path.display().to_string(), fourcc, DEMO_FPS, DEMO_SIZE, true).unwrap();
        for i in 0..frames {
            videoio::VideoWriterTrait::write(&mut writer, &demo.render(i).unwrap().1).unwrap();
        }
        videoio::VideoWriterTrait::release(&mut writer).unwrap();
        path
    }

    fn bytes(frame: &Frame) -> Vec<u8> {
        frame.image.data_bytes().unwrap().to_vec()
    }

    #[test]
    fn a_video_seeks_to_the_exact_frame_forward_back_and_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = demo_video(dir.path(), 40);
        // The frames in order, as decoded without seeking.
        let mut straight = VideoSource::open(&path).unwrap();
        let mut frames = Vec::new();
        while let Some(frame) = straight.next_frame().unwrap() {
            frames.push(frame);
        }
        assert_eq!(frames.len(), 40);
        assert!(bytes(&frames[25]) != bytes(&frames[26]), "the clip's frames must differ for this test to mean anything");

        let mut video = VideoSource::open(&path).unwrap();
        assert!(video.can_seek());
        for target in [25, 3, 0, 39, 17] {
            video.seek(target).unwrap();
            let frame = video.next_frame().unwrap().expect("a frame after the seek");
            assert_eq!(frame.index, target);
            assert_eq!(frame.time_ms, target as f64 * 1e3 / DEMO_FPS);
            assert!(bytes(&frame) == bytes(&frames[target as usize]), "frame {target} after a seek is not frame {target}");
            // Reading on continues from there.
            let next = video.next_frame().unwrap();
            if target < 39 {
                assert_eq!(next.expect("the frame after").index, target + 1);
            } else {
                assert!(next.is_none(), "frame 39 is the last");
            }
        }
        // After the end, a seek back reads again; a seek past the end lands on the last frame.
        while video.next_frame().unwrap().is_some() {}
        assert!(video.next_frame().unwrap().is_none());
        video.seek(10).unwrap();
        assert_eq!(video.next_frame().unwrap().expect("a frame after the end").index, 10);
        video.seek(1000).unwrap();
        let last = video.next_frame().unwrap().expect("the last frame");
        assert!(last.index == 39 && bytes(&last) == bytes(&frames[39]));
    }

    #[test]
    fn a_seek_before_the_first_read_and_to_the_next_frame_reads_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = demo_video(dir.path(), 10);
        let mut video = VideoSource::open(&path).unwrap();
        video.seek(0).unwrap();
        assert_eq!(video.next_frame().unwrap().unwrap().index, 0);
        video.seek(1).unwrap();
        assert_eq!(video.next_frame().unwrap().unwrap().index, 1);
        video.seek(5).unwrap();
        video.seek(5).unwrap();
        assert_eq!(video.next_frame().unwrap().unwrap().index, 5);
    }

    #[test]
    fn the_demo_seeks_to_any_frame_and_a_camera_says_it_cannot() {
        let mut demo = DemoSource::new(false).unwrap();
        demo.seek(450).unwrap();
        let frame = demo.next_frame().unwrap().unwrap();
        assert_eq!(frame.index, 450);
        assert_eq!(frame.image.data_bytes().unwrap(), demo.render(450).unwrap().1.data_bytes().unwrap());
        demo.seek(10_000).unwrap();
        assert_eq!(demo.next_frame().unwrap().unwrap().index, demo.length() - 1);
        assert!(demo.next_frame().unwrap().is_none());

        struct Stream;
        impl FrameSource for Stream {
            fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
                Ok(None)
            }
            fn nominal_fps(&self) -> Option<f64> {
                None
            }
            fn frame_count(&self) -> Option<u64> {
                None
            }
        }
        assert!(!Stream.can_seek());
        assert!(matches!(Stream.seek(3), Err(SourceError::NotSeekable(_))));
    }

    #[test]
    fn demo_is_deterministic_and_webcam_sized() {
        let demo = DemoSource::new(false).unwrap();
        let (_, a) = demo.render(10).unwrap();
        let (_, b) = demo.render(10).unwrap();
        assert_eq!(a.size().unwrap(), DEMO_SIZE);
        assert_eq!(a.data_bytes().unwrap(), b.data_bytes().unwrap());
        assert_eq!(demo.length(), 2 * DEMO_FRAMES_PER_PHOTO);
    }
}
