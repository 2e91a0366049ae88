use std::process::ExitCode;

fn main() -> ExitCode {
    match emocam::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` puts the whole cause chain on one line.
            eprintln!("emocam: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
