//! The metrics of each epoch of a run.

use serde::{Deserialize, Serialize};

/// What one epoch measured. Accuracies are fractions in `[0, 1]`, losses are mean
/// softmax cross-entropies per sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weights changing as it goes).
    pub train_loss: f64,
    /// Fraction of training samples classified right during the epoch (in `Mode::Train`,
    /// before each batch's update).
    pub train_accuracy: f64,
    /// Mean loss on the test split after the epoch (in `Mode::Eval`).
    pub test_loss: f64,
    /// Fraction of the test split classified right after the epoch.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch's training, without the evaluation.
    pub seconds: f64,
    /// Training samples per second (`samples / seconds`).
    pub samples_per_second: f64,
}

/// Every epoch of a run so far, in order; a resumed run continues its checkpoint's history.
///
/// Serialised as a JSON array of [`EpochMetrics`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct History {
    /// One entry per completed epoch; entry `i` is epoch `i + 1`.
    pub epochs: Vec<EpochMetrics>,
}

impl History {
    /// An empty history (a fresh run).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of completed epochs.
    pub fn completed_epochs(&self) -> usize {
        self.epochs.len()
    }

    /// The last epoch's metrics, if any.
    pub fn last(&self) -> Option<&EpochMetrics> {
        self.epochs.last()
    }

    /// Appends an epoch.
    pub fn push(&mut self, metrics: EpochMetrics) {
        self.epochs.push(metrics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checkpoints keep the history as JSON: every f64 must come back to the same bits.
    /// (serde_json's default parser can be one ulp off; this value was, see Cargo.toml.)
    #[test]
    fn json_round_trip_keeps_every_bit() {
        let mut history = History::new();
        for (i, x) in [12275.992625734505, 0.1 + 0.2, 1e-300, 5.147157193]
            .iter()
            .enumerate()
        {
            history.push(EpochMetrics {
                epoch: i + 1,
                train_loss: *x,
                train_accuracy: x / 3.0,
                test_loss: x * 7.0,
                test_accuracy: x.sqrt(),
                seconds: 1.0 / x,
                samples_per_second: *x,
            });
        }
        let back: History =
            serde_json::from_str(&serde_json::to_string(&history).unwrap()).unwrap();
        assert_eq!(back, history);
    }
}
