//! Book-keeping for the app's short-lived background threads (pipeline start, camera probe,
//! model scan, screenshots), so that shutting down waits for them: a process that exits while
//! one is inside OpenCV or ONNX Runtime can crash on the way out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Default)]
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
    /// Raised on shutdown; long jobs check it between steps.
    stop: Arc<AtomicBool>,
}

impl Workers {
    /// Runs `job` on a thread called `name`, handing it the stop flag.
    pub fn spawn(&mut self, name: &str, job: impl FnOnce(&AtomicBool) + Send + 'static) -> std::io::Result<()> {
        self.handles.retain(|h| !h.is_finished());
        let stop = self.stop.clone();
        let handle = std::thread::Builder::new().name(name.into()).spawn(move || job(&stop))?;
        self.handles.push(handle);
        Ok(())
    }

    /// Asks the threads to stop and waits for them.
    pub fn join_all(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}
