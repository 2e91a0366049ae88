use std::process::ExitCode;

fn main() -> ExitCode {
    #[cfg(unix)]
    emocam::records::stdout_at_start();
    match emocam::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(interrupted) = error.downcast_ref::<emocam::interrupt::Interrupted>() {
                // Not an error: the outputs are complete up to where the signal came.
                eprintln!("emocam: {interrupted}");
                return ExitCode::from(interrupted.exit_code());
            }
            // `{:#}` puts the whole cause chain on one line.
            eprintln!("emocam: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
