//! Per-track temporal smoothing of probabilities, so labels don't flicker in live video.

use std::collections::HashMap;

/// Exponential moving average of each track's probabilities.
#[derive(Debug)]
pub struct Smoother {
    /// Weight of the newest frame, 0 < alpha <= 1 (1 = no smoothing).
    alpha: f32,
    state: HashMap<u64, TrackState>,
    frame: u64,
}

#[derive(Debug)]
struct TrackState {
    probabilities: Vec<f32>,
    last_seen_frame: u64,
}

/// Tracks unseen for this many frames are forgotten.
const FORGET_AFTER_FRAMES: u64 = 30;

/// The default weight of the newest frame: about a third of a second of memory at 30 fps.
pub const DEFAULT_ALPHA: f32 = 0.3;

impl Smoother {
    pub fn new(alpha: f32) -> Self {
        Self { alpha: alpha.clamp(0.01, 1.0), state: HashMap::new(), frame: 0 }
    }

    /// Smooths one frame's faces in place: `faces` holds (track id, probabilities) pairs.
    pub fn apply<'a, I: IntoIterator<Item = (u64, &'a mut Vec<f32>)>>(&mut self, faces: I) {
        self.frame += 1;
        for (track_id, probabilities) in faces {
            match self.state.get_mut(&track_id) {
                Some(state) if state.probabilities.len() == probabilities.len() => {
                    for (s, p) in state.probabilities.iter_mut().zip(probabilities.iter_mut()) {
                        *s += self.alpha * (*p - *s);
                        *p = *s;
                    }
                    state.last_seen_frame = self.frame;
                }
                // New track, or the model changed its classes: start over.
                _ => {
                    self.state.insert(track_id, TrackState { probabilities: probabilities.clone(), last_seen_frame: self.frame });
                }
            }
        }
        let frame = self.frame;
        self.state.retain(|_, s| frame - s.last_seen_frame <= FORGET_AFTER_FRAMES);
    }

    pub fn reset(&mut self) {
        self.state.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_frame_passes_through_then_moves_by_alpha() {
        let mut smoother = Smoother::new(0.5);
        let mut p = vec![1.0, 0.0];
        smoother.apply([(1, &mut p)]);
        assert_eq!(p, vec![1.0, 0.0]);
        let mut q = vec![0.0, 1.0];
        smoother.apply([(1, &mut q)]);
        assert_eq!(q, vec![0.5, 0.5]);
    }

    #[test]
    fn tracks_are_smoothed_independently() {
        let mut smoother = Smoother::new(0.5);
        let (mut a, mut b) = (vec![1.0, 0.0], vec![0.0, 1.0]);
        smoother.apply([(1, &mut a), (2, &mut b)]);
        let (mut a2, mut b2) = (vec![1.0, 0.0], vec![0.0, 1.0]);
        smoother.apply([(1, &mut a2), (2, &mut b2)]);
        assert_eq!(a2, vec![1.0, 0.0]);
        assert_eq!(b2, vec![0.0, 1.0]);
    }

    #[test]
    fn a_new_label_count_restarts_the_track() {
        let mut smoother = Smoother::new(0.5);
        let mut p = vec![0.5, 0.5];
        smoother.apply([(1, &mut p)]);
        let mut q = vec![0.2, 0.3, 0.5];
        smoother.apply([(1, &mut q)]);
        assert_eq!(q, vec![0.2, 0.3, 0.5]);
    }

    #[test]
    fn smoothed_rows_still_sum_to_one() {
        let mut smoother = Smoother::new(0.3);
        for step in 0..10 {
            let mut p = if step % 2 == 0 { vec![0.7, 0.2, 0.1] } else { vec![0.1, 0.1, 0.8] };
            smoother.apply([(7, &mut p)]);
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}
