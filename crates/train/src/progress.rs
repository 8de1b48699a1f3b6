//! Progress output: an `indicatif` bar per epoch on a terminal, plain lines otherwise.

use crate::{EpochMetrics, PartialEpoch};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scratchnet_layers::group_thousands;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How the trainer reports progress on standard output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when standard output is a terminal, else plain lines.
    #[default]
    Auto,
    /// A bar over the batches of each epoch (loss, running accuracy, samples/s, ETA),
    /// then one line per finished epoch.
    Bars,
    /// Plain lines: about ten per epoch, and one per finished epoch (for logs and CI).
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// `Auto` resolved against standard output.
    fn resolve(self) -> Self {
        match self {
            ProgressMode::Auto if std::io::stdout().is_terminal() => ProgressMode::Bars,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        }
    }
}

/// Reports one run's progress.
pub(crate) struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    epoch: usize,
    epochs: usize,
    /// Where the epoch stood when this call started on it (after a resume: not 0).
    start: PartialEpoch,
    started: Instant,
    next_line: usize,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode) -> Self {
        Self {
            mode: mode.resolve(),
            bar: None,
            epoch: 0,
            epochs: 0,
            start: PartialEpoch::default(),
            started: Instant::now(),
            next_line: 0,
        }
    }

    /// Prints a line (above the bar, if one is drawn).
    pub(crate) fn println(&self, line: &str) {
        match (&self.mode, &self.bar) {
            (ProgressMode::Quiet, _) => {}
            (_, Some(bar)) => bar.println(line),
            _ => println!("{line}"),
        }
    }

    /// Before the first batch this call trains of `epoch`, which stands at `start`
    /// (nothing done, or where a resumed run stopped).
    pub(crate) fn start_epoch(&mut self, epoch: usize, epochs: usize, start: &PartialEpoch) {
        self.epoch = epoch;
        self.epochs = epochs;
        self.start = start.clone();
        self.started = Instant::now();
        // The first line after the batches already done.
        let every = self.line_interval();
        self.next_line = (start.batches_done / every + 1) * every;
        if self.mode == ProgressMode::Bars {
            let bar = ProgressBar::with_draw_target(
                Some(start.batches as u64),
                ProgressDrawTarget::stdout(),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("epoch {epoch}/{epochs}"));
            bar.set_position(start.batches_done as u64);
            bar.reset_eta();
            bar.enable_steady_tick(Duration::from_millis(200));
            self.bar = Some(bar);
        }
    }

    /// Batches between two plain lines: a line every tenth of the epoch.
    fn line_interval(&self) -> usize {
        self.start.batches.div_ceil(10).max(1)
    }

    /// After a batch, with the epoch's running sums.
    pub(crate) fn batch_done(&mut self, epoch: &PartialEpoch) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let status = batch_status(epoch, &self.start, elapsed);
        let done = epoch.batches_done;
        match self.mode {
            ProgressMode::Bars => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                    bar.set_message(status);
                }
            }
            ProgressMode::Lines if done >= self.next_line && done < epoch.batches => {
                self.next_line += self.line_interval();
                let this_call = (done - self.start.batches_done) as f64;
                let eta = elapsed / this_call * (epoch.batches - done) as f64;
                println!(
                    "epoch {}/{} batch {done}/{} {status} ETA {:.0}s",
                    self.epoch, self.epochs, epoch.batches, eta
                );
            }
            _ => {}
        }
    }

    pub(crate) fn finish_epoch(&mut self, metrics: &EpochMetrics, learning_rate: f32) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.println(&format!(
            "epoch {}/{}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | {:.1} s, {} samples/s, lr {:.2e}",
            metrics.epoch,
            self.epochs,
            metrics.train_loss,
            100.0 * metrics.train_accuracy,
            metrics.test_loss,
            100.0 * metrics.test_accuracy,
            metrics.seconds,
            group_thousands(metrics.samples_per_second.round() as usize),
            learning_rate,
        ));
    }

    /// Removes a bar left by an interrupted epoch.
    pub(crate) fn abandon(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

/// The running loss and accuracy of the epoch's batches so far, and the samples per
/// second of the `elapsed` seconds since it stood at `start`.
fn batch_status(epoch: &PartialEpoch, start: &PartialEpoch, elapsed: f64) -> String {
    let rate = (epoch.samples - start.samples) as f64 / elapsed.max(1e-9);
    format!(
        "loss {:.4} acc {:.2}% {} samples/s",
        epoch.mean_loss(),
        100.0 * epoch.accuracy(),
        group_thousands(rate.round() as usize)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_status_is_the_means_so_far_and_the_rate_of_this_call() {
        let epoch = PartialEpoch {
            batches_done: 3,
            batches: 10,
            loss_sum: 6.0,
            correct: 6,
            samples: 8,
            seconds: 0.0,
        };
        let start = |samples| PartialEpoch {
            samples,
            ..PartialEpoch::default()
        };
        let status = |samples, elapsed| batch_status(&epoch, &start(samples), elapsed);
        assert_eq!(status(0, 0.5), "loss 0.7500 acc 75.00% 16 samples/s");
        // Resumed after 4 samples: only the 4 trained since count in the rate.
        assert_eq!(status(4, 2.0), "loss 0.7500 acc 75.00% 2 samples/s");
        // Before the first batch: zeros, not NaN.
        let empty = PartialEpoch::default();
        assert_eq!(
            batch_status(&empty, &empty, 0.0),
            "loss 0.0000 acc 0.00% 0 samples/s"
        );
    }

    #[test]
    fn a_resumed_epoch_logs_its_next_tenth_first() {
        let mut progress = Progress::new(ProgressMode::Lines);
        let mut next_line = |batches_done| {
            let start = PartialEpoch {
                batches_done,
                batches: 100,
                ..PartialEpoch::default()
            };
            progress.start_epoch(1, 1, &start);
            progress.next_line
        };
        assert_eq!(next_line(0), 10);
        // Not a line after every batch until the count catches up with 55.
        assert_eq!(next_line(55), 60);
        assert_eq!(next_line(60), 70);
    }
}
