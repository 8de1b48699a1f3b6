//! The training loss and accuracy of a few consecutive batches: the points of the
//! per-batch curves.

/// The training loss and accuracy over consecutive batches of one epoch: a point of
/// the per-batch curves, [`metrics_every_batches`](crate::DiagnosticsConfig::metrics_every_batches)
/// batches wide (the last window of an epoch may be narrower).
///
/// Its sums are those of the epoch's [`train_loss`](crate::EpochMetrics::train_loss)
/// and [`train_accuracy`](crate::EpochMetrics::train_accuracy): the windows of an
/// epoch add up to its metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchWindow {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The window's first batch within the epoch, from 1.
    pub first_batch: usize,
    /// The window's last batch within the epoch, from 1.
    pub last_batch: usize,
    /// The batches of the whole epoch.
    pub batches: usize,
    /// Samples trained in the window.
    pub samples: usize,
    /// Σ over its batches of the batch's mean loss × the batch's samples.
    pub loss_sum: f64,
    /// Samples whose largest logit was their label's (in `Mode::Train`, before the
    /// batch's update).
    pub correct: usize,
}

impl BatchWindow {
    /// A window of the one batch `batch` (from 1) of `batches`, in `epoch`.
    pub(crate) fn starting(epoch: usize, batch: usize, batches: usize) -> Self {
        Self {
            epoch,
            first_batch: batch,
            last_batch: batch,
            batches,
            samples: 0,
            loss_sum: 0.0,
            correct: 0,
        }
    }

    /// Adds batch `batch`: `samples` of them, `correct` right, with mean loss `loss`.
    pub(crate) fn add(&mut self, batch: usize, samples: usize, loss: f64, correct: usize) {
        self.last_batch = batch;
        self.samples += samples;
        self.loss_sum += loss * samples as f64;
        self.correct += correct;
    }

    /// The mean loss per sample over the window.
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.samples.max(1) as f64
    }

    /// The fraction of the window's samples classified right.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.samples.max(1) as f64
    }

    /// The middle of the window in epochs since the run began: 0.5 is the middle of
    /// epoch 1, where a window of all its batches would be drawn. (An epoch's
    /// metrics are drawn at its end, `epoch`.)
    pub fn position(&self) -> f64 {
        let middle = (self.first_batch.saturating_sub(1) + self.last_batch) as f64 / 2.0;
        (self.epoch - 1) as f64 + middle / self.batches.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_averages_its_batches_by_sample() {
        let mut window = BatchWindow::starting(2, 11, 20);
        window.add(11, 4, 1.0, 1);
        window.add(12, 2, 4.0, 2);
        assert_eq!(window.loss(), 2.0);
        assert_eq!(window.accuracy(), 0.5);
        assert_eq!((window.first_batch, window.last_batch), (11, 12));
        // Batches 11 and 12 of 20 span [0.5, 0.6] of epoch 2.
        assert!((window.position() - 1.55).abs() < 1e-12);
    }
}
