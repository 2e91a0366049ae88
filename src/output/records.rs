//! Per-face result records, as JSON Lines or CSV, to a file or standard output.
//!
//! One record per face per frame: source, frame, time, track id, box, top label, confidence
//! and every probability by label name. The analyzer and the app's "record" toggle share it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::inference::scores::top;
use crate::pipeline::FrameResult;
use crate::vision::detector::Keypoints;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    JsonLines,
    Csv,
}

/// One face in one frame.
#[derive(Clone, Debug, Serialize)]
pub struct FaceRecord<'a> {
    pub source: &'a str,
    pub frame: u64,
    pub time_ms: f64,
    pub track_id: u64,
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    pub label: &'a str,
    pub confidence: f32,
    pub probabilities: &'a [f32],
    /// JSON Lines only (a CSV keeps its columns): eyes, nose, mouth and ears as [x, y] pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keypoints: Option<Keypoints>,
}

/// Why records can't be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot write {path}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write records to standard output (is it closed?)")]
    Stdout(#[source] io::Error),
    #[error("writing records")]
    Io(#[from] io::Error),
    #[error("writing CSV")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Output(#[from] crate::output::pending_file::OutputError),
    #[error("the model's labels changed from {old:?} to {new:?}; a CSV file holds one label set, start a new file")]
    LabelsChanged { old: Vec<String>, new: Vec<String> },
}

/// Writes records in one format to one destination (`-` is standard output).
pub struct RecordWriter {
    format: RecordFormat,
    json: Option<Box<dyn Write + Send>>,
    csv: Option<csv::Writer<Box<dyn Write + Send>>>,
    labels: Option<Vec<String>>,
    /// The file being written when the records go to their target only once complete.
    pending: Option<crate::output::pending_file::PendingFile>,
}

/// Standard output as the process got it, `None` if it was closed. `main` calls this first.
///
/// A process started with descriptor 1 closed (`>&-`) finds it open on `/dev/null`: Rust's
/// start-up code reopens closed standard descriptors there, read-write, so that no later file
/// takes number 1. Records written there would vanish with exit 0, so that case counts as
/// closed; a shell's `>/dev/null` opens it write-only and is honoured.
#[cfg(unix)]
pub fn stdout_at_start() -> Option<&'static std::os::fd::OwnedFd> {
    use std::os::fd::{AsFd, AsRawFd};
    static STDOUT: std::sync::OnceLock<Option<std::os::fd::OwnedFd>> = std::sync::OnceLock::new();
    STDOUT
        .get_or_init(|| {
            let fd = io::stdout().as_fd().try_clone_to_owned().ok()?;
            // SAFETY: F_GETFL only reads the flags of a descriptor this function owns.
            let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
            let read_write = flags >= 0 && flags & libc::O_ACCMODE == libc::O_RDWR;
            let is_dev_null = std::fs::metadata("/dev/null").ok().zip(File::from(fd.try_clone().ok()?).metadata().ok()).is_some_and(|(null, out)| {
                use std::os::unix::fs::MetadataExt;
                null.rdev() == out.rdev() && !out.is_file()
            });
            (!(read_write && is_dev_null)).then_some(fd)
        })
        .as_ref()
}

/// Opens `path` for writing, or standard output for `-`.
pub fn create_output(path: &Path) -> Result<Box<dyn Write + Send>, RecordError> {
    if path.as_os_str() == "-" {
        // Through a duplicate of the descriptor, not `io::Stdout`: Rust's standard output
        // silently drops everything written to a closed descriptor, and records must not
        // vanish with exit 0. Line-buffered, so a live consumer sees each record as it comes.
        #[cfg(unix)]
        {
            let fd = stdout_at_start().ok_or_else(|| RecordError::Stdout(io::Error::from_raw_os_error(9)))?;
            let fd = fd.try_clone().map_err(RecordError::Stdout)?;
            return Ok(Box::new(io::LineWriter::new(File::from(fd))));
        }
        #[cfg(not(unix))]
        return Ok(Box::new(io::stdout()));
    }
    let file = File::create(path).map_err(|source| RecordError::Create { path: path.to_path_buf(), source })?;
    Ok(Box::new(BufWriter::new(file)))
}

impl RecordWriter {
    /// Records written to `path` as they come (the app's recordings: whatever was recorded
    /// stays if the app is killed).
    pub fn create(path: &Path, format: RecordFormat) -> Result<Self, RecordError> {
        let out = create_output(path)?;
        Ok(Self::new(out, format))
    }

    /// Records that reach `path` only complete, when [`RecordWriter::finish`] succeeds;
    /// dropped before, they leave `path` as it was. `-` is standard output, written as it comes.
    pub fn create_complete_or_absent(path: &Path, format: RecordFormat) -> Result<Self, RecordError> {
        if path.as_os_str() == "-" {
            return Self::create(path, format);
        }
        let pending = crate::output::pending_file::PendingFile::beside(path)?;
        let file = File::create(pending.path()).map_err(|source| RecordError::Create { path: path.to_path_buf(), source })?;
        let mut writer = Self::new(Box::new(BufWriter::new(file)), format);
        writer.pending = Some(pending);
        Ok(writer)
    }

    /// Flushes everything and, for [`RecordWriter::create_complete_or_absent`], moves the file
    /// into place.
    pub fn finish(mut self) -> Result<(), RecordError> {
        self.flush()?;
        // Close the file before it is renamed.
        self.json = None;
        self.csv = None;
        if let Some(pending) = self.pending.take() {
            pending.commit()?;
        }
        Ok(())
    }

    pub fn new(out: Box<dyn Write + Send>, format: RecordFormat) -> Self {
        let (json, csv) = match format {
            RecordFormat::JsonLines => (Some(out), None),
            RecordFormat::Csv => (None, Some(csv::Writer::from_writer(out))),
        };
        Self { format, json, csv, labels: None, pending: None }
    }

    /// Writes one record per face of `result`.
    pub fn write_frame(&mut self, result: &FrameResult) -> Result<(), RecordError> {
        for face in &result.faces {
            let (best, confidence) = top(&face.probabilities).unwrap_or((0, 0.0));
            let record = FaceRecord {
                source: &result.source_name,
                frame: result.frame_index,
                time_ms: result.source_time_ms,
                track_id: face.track_id,
                x: face.bbox.x,
                y: face.bbox.y,
                w: face.bbox.width,
                h: face.bbox.height,
                label: result.model.labels.get(best).map(String::as_str).unwrap_or(""),
                confidence,
                probabilities: &face.probabilities,
                keypoints: face.keypoints,
            };
            self.write(&record, &result.model.labels)?;
        }
        Ok(())
    }

    /// Writes one record; `labels` name the probabilities.
    pub fn write(&mut self, record: &FaceRecord<'_>, labels: &[String]) -> Result<(), RecordError> {
        match self.format {
            RecordFormat::JsonLines => {
                let mut object = match serde_json::to_value(record) {
                    Ok(Value::Object(object)) => object,
                    _ => Map::new(),
                };
                let probabilities: Map<String, Value> = labels.iter().cloned().zip(record.probabilities.iter().map(|p| Value::from(round6(*p)))).collect();
                object.insert("confidence".into(), Value::from(round6(record.confidence)));
                object.insert("probabilities".into(), Value::Object(probabilities));
                if let Some(out) = &mut self.json {
                    serde_json::to_writer(&mut *out, &object).map_err(io::Error::from)?;
                    out.write_all(b"\n")?;
                }
            }
            RecordFormat::Csv => {
                match &self.labels {
                    Some(old) if old.as_slice() != labels => return Err(RecordError::LabelsChanged { old: old.clone(), new: labels.to_vec() }),
                    Some(_) => {}
                    None => {
                        let mut header: Vec<String> = CSV_FIELDS.map(String::from).to_vec();
                        for label in labels {
                            header.push(csv_column_for(label, &header));
                        }
                        if let Some(csv) = &mut self.csv {
                            csv.write_record(&header)?;
                        }
                        self.labels = Some(labels.to_vec());
                    }
                }
                let mut row = vec![
                    record.source.to_string(),
                    record.frame.to_string(),
                    format!("{:.3}", record.time_ms),
                    record.track_id.to_string(),
                    record.x.to_string(),
                    record.y.to_string(),
                    record.w.to_string(),
                    record.h.to_string(),
                    record.label.to_string(),
                    format!("{:.6}", record.confidence),
                ];
                row.extend(record.probabilities.iter().map(|p| format!("{p:.6}")));
                if let Some(csv) = &mut self.csv {
                    csv.write_record(&row)?;
                }
            }
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), RecordError> {
        if let Some(out) = &mut self.json {
            out.flush()?;
        }
        if let Some(csv) = &mut self.csv {
            csv.flush()?;
        }
        Ok(())
    }
}

/// The CSV columns before the probabilities.
const CSV_FIELDS: [&str; 10] = ["source", "frame", "time_ms", "track_id", "x", "y", "w", "h", "label", "confidence"];

/// The CSV column of a label's probability: the label, with `probability_` before it while that
/// name is taken (a model whose labels are `label` or `x` must not give two columns of one name,
/// where `row['label']` would read a probability).
fn csv_column_for(label: &str, taken: &[String]) -> String {
    let mut column = label.to_string();
    while taken.contains(&column) {
        column = format!("probability_{column}");
    }
    column
}

fn round6(v: f32) -> f64 {
    (v as f64 * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn record<'a>(probabilities: &'a [f32]) -> FaceRecord<'a> {
        FaceRecord {
            source: "a,b.png",
            frame: 3,
            time_ms: 100.0,
            track_id: 7,
            x: 1,
            y: 2,
            w: 30,
            h: 40,
            label: "happy",
            confidence: 0.75,
            probabilities,
            keypoints: None,
        }
    }

    #[test]
    fn csv_columns_never_repeat_a_name() {
        let mut header: Vec<String> = CSV_FIELDS.map(String::from).to_vec();
        for label in ["happy", "label", "x", "probability_label"] {
            header.push(csv_column_for(label, &header));
        }
        assert_eq!(&header[CSV_FIELDS.len()..], ["happy", "probability_label", "probability_x", "probability_probability_label"]);
        let unique: std::collections::BTreeSet<&String> = header.iter().collect();
        assert_eq!(unique.len(), header.len(), "{header:?}");
    }

    #[test]
    fn json_lines_name_every_probability() {
        let out = Shared::default();
        let mut writer = RecordWriter::new(Box::new(out.clone()), RecordFormat::JsonLines);
        let labels = vec!["sad".to_string(), "happy".to_string()];
        writer.write(&record(&[0.25, 0.75]), &labels).unwrap();
        writer.flush().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let value: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(value["label"], "happy");
        assert_eq!(value["probabilities"]["sad"], 0.25);
        assert_eq!(value["track_id"], 7);
    }

    #[test]
    fn csv_has_a_header_quotes_paths_and_refuses_new_labels() {
        let out = Shared::default();
        let mut writer = RecordWriter::new(Box::new(out.clone()), RecordFormat::Csv);
        let labels = vec!["sad".to_string(), "happy".to_string()];
        writer.write(&record(&[0.25, 0.75]), &labels).unwrap();
        let other = vec!["a".to_string(), "b".to_string()];
        assert!(matches!(writer.write(&record(&[0.5, 0.5]), &other), Err(RecordError::LabelsChanged { .. })));
        writer.flush().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "source,frame,time_ms,track_id,x,y,w,h,label,confidence,sad,happy");
        assert!(lines[1].starts_with("\"a,b.png\",3,100.000,7,1,2,30,40,happy,0.750000,0.250000,0.750000"));
    }

    #[test]
    fn unwritable_path_is_a_clear_error() {
        let err = RecordWriter::create(Path::new("/nonexistent-dir/x.json"), RecordFormat::JsonLines).err().unwrap();
        assert!(err.to_string().contains("/nonexistent-dir/x.json"));
    }
}
