//! A bounded channel where the newest message wins.
//!
//! Live video must never queue: when the consumer is slower than the producer, the frame
//! waiting in the channel is replaced by the new one instead of blocking the producer.

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// The sending half of a newest-wins channel of capacity `capacity`.
pub struct LatestSender<T> {
    tx: Sender<T>,
    // A receiver clone used only to evict the oldest message when the channel is full.
    evict: Receiver<T>,
}

impl<T> Clone for LatestSender<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), evict: self.evict.clone() }
    }
}

/// Creates a newest-wins channel holding at most `capacity` messages.
pub fn channel<T>(capacity: usize) -> (LatestSender<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    (LatestSender { tx, evict: rx.clone() }, rx)
}

impl<T> LatestSender<T> {
    /// Sends without blocking, dropping the oldest queued message if the channel is full.
    /// Returns how many messages were dropped to make room.
    pub fn send(&self, mut message: T) -> usize {
        let mut dropped = 0;
        loop {
            match self.tx.try_send(message) {
                Ok(()) => return dropped,
                Err(TrySendError::Full(back)) => {
                    message = back;
                    if self.evict.try_recv().is_ok() {
                        dropped += 1;
                    }
                }
                // Unreachable while `evict` lives; dropping the message is the right answer anyway.
                Err(TrySendError::Disconnected(_)) => return dropped,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_message_wins_when_full() {
        let (tx, rx) = channel(1);
        assert_eq!(tx.send(1), 0);
        assert_eq!(tx.send(2), 1);
        assert_eq!(tx.send(3), 1);
        assert_eq!(rx.try_recv(), Ok(3));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn keeps_capacity_messages_in_order() {
        let (tx, rx) = channel(2);
        for i in 0..5 {
            tx.send(i);
        }
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![3, 4]);
    }
}
