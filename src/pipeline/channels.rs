//! The channels between the pipeline's threads and to its owner.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};

use super::latest::LatestSender;
use super::{Mode, PipelineEvent, POLL_INTERVAL};
use crate::inference::classifier::ModelError;

/// Where the threads report events: a bounded channel that never blocks them. When the channel
/// is full (nobody reading, or a burst of warnings) an event is counted instead of sent, and a
/// model failure is also kept aside, so that the failure that matters is never lost.
#[derive(Clone)]
pub(super) struct EventSink {
    pub(super) tx: Sender<PipelineEvent>,
    pub(super) dropped: Arc<AtomicU64>,
    pub(super) first_model_failure: Arc<Mutex<Option<Arc<ModelError>>>>,
}

impl EventSink {
    pub(super) fn report(&self, event: PipelineEvent) {
        if let PipelineEvent::InferenceFailed(error) = &event {
            if let Ok(mut first) = self.first_model_failure.lock() {
                first.get_or_insert_with(|| error.clone());
            }
        }
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A frame channel that either drops old frames (live) or blocks (offline).
pub(super) enum FrameSender<T> {
    Latest(LatestSender<T>),
    Blocking(Sender<T>),
}

impl<T> FrameSender<T> {
    pub(super) fn new(mode: Mode) -> (Self, Receiver<T>) {
        match mode {
            Mode::Live => {
                let (tx, rx) = super::latest::channel(1);
                (FrameSender::Latest(tx), rx)
            }
            Mode::Offline => {
                let (tx, rx) = crossbeam_channel::bounded(4);
                (FrameSender::Blocking(tx), rx)
            }
        }
    }

    /// False once the receiver is gone or `stop` was raised (a live sender never waits; the
    /// pipeline's stop flag ends it).
    pub(super) fn send(&self, mut item: T, stop: &AtomicBool) -> bool {
        match self {
            FrameSender::Latest(tx) => {
                tx.send(item);
                true
            }
            FrameSender::Blocking(tx) => loop {
                match tx.send_timeout(item, POLL_INTERVAL) {
                    Ok(()) => return true,
                    Err(SendTimeoutError::Timeout(back)) if !stop.load(Ordering::Relaxed) => item = back,
                    Err(_) => return false,
                }
            },
        }
    }
}
