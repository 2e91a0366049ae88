//! Video files that are complete or absent.
//!
//! OpenCV's `VideoWriter` reports no write errors: on a full disk it writes a short file and
//! says nothing. So a [`VideoFile`] is written under a temporary name (see `pending_file`), read
//! back when finished, and moved to its name only if every frame written can be read again.

use std::path::Path;

use opencv::core::{Mat, Size};
use opencv::prelude::*;
use opencv::videoio;

use crate::output::pending_file::{OutputError, PendingFile};

/// Why a video could not be written. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum VideoFileError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("cannot write a video file at {0} (OpenCV has no encoder for it there)")]
    NoEncoder(std::path::PathBuf),
    #[error("{path}: only {read_back} of the {written} frames written could be read back (is the disk full?); the video was not saved")]
    Short { path: std::path::PathBuf, written: u64, read_back: u64 },
    #[error("writing the video {0}")]
    OpenCv(std::path::PathBuf, #[source] opencv::Error),
}

/// A video being written; [`VideoFile::finish`] checks it and moves it into place.
pub struct VideoFile {
    file: PendingFile,
    writer: videoio::VideoWriter,
    frames_written: u64,
}

impl VideoFile {
    /// MJPG for `.avi`, mp4v otherwise; `fps` and `size` as the frames will be.
    pub fn create(target: &Path, fps: f64, size: Size) -> Result<Self, VideoFileError> {
        let file = PendingFile::beside(target)?;
        let opencv_error = |error| VideoFileError::OpenCv(target.to_path_buf(), error);
        let fourcc = if is_avi(target) { videoio::VideoWriter::fourcc('M', 'J', 'P', 'G') } else { videoio::VideoWriter::fourcc('m', 'p', '4', 'v') }
            .map_err(opencv_error)?;
        let writer = videoio::VideoWriter::new(file.path(), fourcc, fps, size, true).map_err(opencv_error)?;
        if !writer.is_opened().map_err(opencv_error)? {
            return Err(VideoFileError::NoEncoder(target.to_path_buf()));
        }
        Ok(Self { file, writer, frames_written: 0 })
    }

    pub fn write(&mut self, frame: &Mat) -> Result<(), VideoFileError> {
        self.writer.write(frame).map_err(|error| VideoFileError::OpenCv(self.file.target().to_path_buf(), error))?;
        self.frames_written += 1;
        Ok(())
    }

    /// Closes the file, reads it back and, when every frame is there, moves it to its name.
    /// Dropped instead, the file is removed and the target is left as it was.
    pub fn finish(mut self) -> Result<u64, VideoFileError> {
        let target = self.file.target().to_path_buf();
        self.writer.release().map_err(|error| VideoFileError::OpenCv(target.clone(), error))?;
        // A device or a pipe can't be read back: what was written is gone or elsewhere.
        let read_back = if self.file.is_direct() { self.frames_written } else { count_frames(self.file.path()) };
        if read_back < self.frames_written {
            return Err(VideoFileError::Short { path: target, written: self.frames_written, read_back });
        }
        self.file.commit()?;
        Ok(self.frames_written)
    }
}

fn is_avi(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("avi"))
}

/// Frames that can be read from `path` (0 if it does not open). Grabbing without decoding
/// keeps this to a fraction of the time writing took.
fn count_frames(path: &Path) -> u64 {
    // OpenCV's own MJPEG reader for its own MJPEG files: it grabs without decoding.
    let backend = if is_avi(path) { videoio::CAP_OPENCV_MJPEG } else { videoio::CAP_ANY };
    let Ok(mut capture) = videoio::VideoCapture::from_file(path, backend) else { return 0 };
    if !capture.is_opened().unwrap_or(false) {
        return 0;
    }
    let mut frames = 0;
    while capture.grab().unwrap_or(false) {
        frames += 1;
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Scalar, CV_8UC3};

    fn frame(value: f64) -> Mat {
        Mat::new_rows_cols_with_default(48, 64, CV_8UC3, Scalar::all(value)).expect("frame")
    }

    #[test]
    fn a_finished_video_holds_every_frame() {
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("clip.avi");
        let mut video = VideoFile::create(&target, 30.0, Size::new(64, 48)).expect("create");
        for i in 0..12 {
            video.write(&frame(f64::from(i) * 20.0)).expect("write");
        }
        assert!(!target.exists(), "nothing at the name before it is finished");
        assert_eq!(video.finish().expect("finish"), 12);
        assert_eq!(count_frames(&target), 12);
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary file left");
    }

    #[test]
    fn an_unfinished_video_leaves_the_target_as_it_was() {
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("clip.avi");
        std::fs::write(&target, b"earlier").expect("write");
        let mut video = VideoFile::create(&target, 30.0, Size::new(64, 48)).expect("create");
        video.write(&frame(0.0)).expect("write");
        drop(video);
        assert_eq!(std::fs::read(&target).expect("read"), b"earlier");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
