//! Turning a model's raw outputs into probabilities.
//!
//! Exported classifiers end either in logits (PyTorch's usual export) or in a softmax (Keras'
//! usual export). Models may say which in their metadata; otherwise [`OutputKind::detect`] looks
//! at the numbers: rows that are non-negative and sum to one are already probabilities.

use serde::{Deserialize, Serialize};

/// What the last layer of a classifier produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    Logits,
    Probabilities,
}

/// How far a row's sum may stray from 1 and still count as a probability distribution
/// (float32 softmax rounding stays far below this).
const SUM_TOLERANCE: f32 = 1e-3;

impl OutputKind {
    /// Guesses from one batch of outputs (`rows` of `num_classes` values each).
    pub fn detect(values: &[f32], num_classes: usize) -> Self {
        if num_classes == 0 || values.is_empty() {
            return OutputKind::Logits;
        }
        let all_rows_are_distributions = values
            .chunks(num_classes)
            .all(|row| row.iter().all(|v| (0.0..=1.0 + SUM_TOLERANCE).contains(v)) && (row.iter().sum::<f32>() - 1.0).abs() <= SUM_TOLERANCE);
        if all_rows_are_distributions {
            OutputKind::Probabilities
        } else {
            OutputKind::Logits
        }
    }

    /// Parses the metadata spelling (`logits`, `probabilities`, and a few common synonyms).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "logits" | "logit" | "scores" => Some(OutputKind::Logits),
            "probabilities" | "probs" | "softmax" | "probability" => Some(OutputKind::Probabilities),
            _ => None,
        }
    }
}

/// Numerically stable softmax of one row.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Converts a batch of raw outputs to one probability vector per row.
///
/// Probabilities are renormalised so that each row sums to exactly one. A row of a model that
/// gives probabilities but is not one (a negative value, or nothing above zero) is returned as
/// it is, for the caller to refuse: softmaxing it would turn nonsense into plausible bars.
pub fn to_probabilities(values: &[f32], num_classes: usize, kind: OutputKind) -> Vec<Vec<f32>> {
    if num_classes == 0 {
        return Vec::new();
    }
    values
        .chunks_exact(num_classes)
        .map(|row| match kind {
            OutputKind::Logits => softmax(row),
            OutputKind::Probabilities => {
                let sum: f32 = row.iter().sum();
                if sum > 0.0 && row.iter().all(|v| *v >= 0.0) {
                    row.iter().map(|v| v / sum).collect()
                } else {
                    row.to_vec()
                }
            }
        })
        .collect()
}

/// Index and value of the largest probability.
pub fn top(probabilities: &[f32]) -> Option<(usize, f32)> {
    probabilities.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 3.0, 2.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[1] > p[2] && p[2] > p[0]);
    }

    #[test]
    fn softmax_survives_huge_logits() {
        let p = softmax(&[1000.0, 0.0]);
        assert!(p.iter().all(|v| v.is_finite()));
        assert!((p[0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn detects_probabilities() {
        let rows = [0.1, 0.7, 0.2, 0.3, 0.3, 0.4];
        assert_eq!(OutputKind::detect(&rows, 3), OutputKind::Probabilities);
    }

    #[test]
    fn detects_logits_from_negatives_or_bad_sums() {
        assert_eq!(OutputKind::detect(&[-1.0, 2.0, 0.5], 3), OutputKind::Logits);
        assert_eq!(OutputKind::detect(&[0.5, 0.5, 0.5], 3), OutputKind::Logits);
        // One row that is a distribution is not enough when another is not.
        assert_eq!(OutputKind::detect(&[0.2, 0.8, 0.0, 3.0, 1.0, 0.0], 3), OutputKind::Logits);
    }

    #[test]
    fn logits_and_their_softmax_give_the_same_probabilities() {
        let logits = [0.3, -1.2, 2.5, 0.0];
        let from_logits = to_probabilities(&logits, 4, OutputKind::Logits);
        let probs = softmax(&logits);
        let from_probs = to_probabilities(&probs, 4, OutputKind::detect(&probs, 4));
        for (a, b) in from_logits[0].iter().zip(&from_probs[0]) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn probabilities_that_are_not_are_left_for_the_caller_to_refuse() {
        for row in [[-0.2f32, 0.1, 0.1], [0.0, 0.0, 0.0], [0.9, -0.1, 0.2]] {
            assert_eq!(to_probabilities(&row, 3, OutputKind::Probabilities), vec![row.to_vec()], "{row:?}");
        }
        assert_eq!(to_probabilities(&[0.2, 0.2], 2, OutputKind::Probabilities), vec![vec![0.5, 0.5]], "renormalised");
    }

    #[test]
    fn parses_metadata_spellings() {
        assert_eq!(OutputKind::parse(" Softmax "), Some(OutputKind::Probabilities));
        assert_eq!(OutputKind::parse("logits"), Some(OutputKind::Logits));
        assert_eq!(OutputKind::parse("banana"), None);
    }

    #[test]
    fn top_picks_the_largest() {
        assert_eq!(top(&[0.1, 0.6, 0.3]), Some((1, 0.6)));
        assert_eq!(top(&[]), None);
    }
}
