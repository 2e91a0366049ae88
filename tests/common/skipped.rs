//! What a test does when data it needs is missing, shared by the test binaries (included with
//! `#[path]`): a failure under CI (`CI=true`), where it must be there, and elsewhere a `SKIPPED`
//! notice, also added to `$EMOCAM_SKIPPED_LOG` when set, so that `scripts/test.sh` lists the
//! skipped checks in its summary (cargo reports them as ok).

pub fn missing_data(what: &str) {
    let message = format!("SKIPPED: {what}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message} (CI=true: the data must be there)");
    }
    eprintln!("{message}");
    if let Some(log) = std::env::var_os("EMOCAM_SKIPPED_LOG") {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(file, "{message}");
        }
    }
}
