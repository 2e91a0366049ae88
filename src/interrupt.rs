//! Clean stops on SIGINT, SIGTERM and SIGHUP for the headless commands: the signal only sets a
//! flag, the command's loop sees it between frames, finishes and closes every output, and the
//! process exits with the signal's code (128 + its number) through [`Interrupted`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signal that asked the command to stop (0: none yet).
static REQUESTED: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();

/// Why a command stopped early: a signal asked it to, after its outputs were completed.
#[derive(Debug, thiserror::Error)]
#[error("stopped by {}", signal_name(*.signal))]
pub struct Interrupted {
    pub signal: i32,
}

impl Interrupted {
    /// The exit status the shell expects of a process ended by this signal.
    pub fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(u8::MAX)
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to [`requested`] instead of ending the process. Only for
/// commands whose loops check it.
pub fn install() -> std::io::Result<()> {
    let flag = REQUESTED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register_usize(signal, Arc::clone(flag), signal as usize)?;
    }
    Ok(())
}

/// The signal received since [`install`], if any.
pub fn requested() -> Option<Interrupted> {
    let signal = REQUESTED.get()?.load(Ordering::Relaxed);
    (signal != 0).then_some(Interrupted { signal: signal as i32 })
}

/// For the app, whose loop is the window's: routes the signals to [`requested`] as [`install`]
/// does, and calls `on_signal` (on a named thread) for each, so that it can ask the window to
/// close, which stops recording and the camera the normal way. A second signal while the first
/// is handled ends the process at once, in case the window no longer answers.
pub fn install_with_callback(on_signal: impl Fn() + Send + 'static) -> std::io::Result<()> {
    install()?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new().name("emocam-signals".into()).spawn(move || {
        let mut seen = 0;
        for signal in signals.forever() {
            seen += 1;
            if seen > 1 {
                std::process::exit(i32::from(Interrupted { signal }.exit_code()));
            }
            on_signal();
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app's path: a signal reaches the callback (which closes the window) and is kept as
    /// the exit status. SIGHUP to this test process, which the handler keeps alive.
    #[test]
    fn a_signal_reaches_the_callback_and_is_remembered() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        install_with_callback(move || {
            let _ = tx.try_send(());
        })
        .expect("install");
        signal_hook::low_level::raise(SIGHUP).expect("raise");
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("callback called");
        assert_eq!(requested().map(|i| i.exit_code()), Some(129));
    }
}
