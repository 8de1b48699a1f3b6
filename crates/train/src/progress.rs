//! Progress output: an `indicatif` bar per epoch on a terminal, plain lines otherwise.

use crate::EpochMetrics;
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
    batches: usize,
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
            batches: 0,
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

    pub(crate) fn start_epoch(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.epoch = epoch;
        self.epochs = epochs;
        self.batches = batches;
        self.started = Instant::now();
        self.next_line = batches.div_ceil(10).max(1);
        if self.mode == ProgressMode::Bars {
            let bar =
                ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("epoch {epoch}/{epochs}"));
            bar.enable_steady_tick(Duration::from_millis(200));
            self.bar = Some(bar);
        }
    }

    /// After batch `done` (from 1) of the epoch, with the running loss and accuracy
    /// and the samples trained so far this epoch.
    pub(crate) fn batch_done(&mut self, done: usize, loss: f64, accuracy: f64, samples: usize) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = samples as f64 / elapsed.max(1e-9);
        let status = format!(
            "loss {loss:.4} acc {:.2}% {} samples/s",
            100.0 * accuracy,
            group_thousands(rate.round() as usize)
        );
        match self.mode {
            ProgressMode::Bars => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                    bar.set_message(status);
                }
            }
            ProgressMode::Lines if done >= self.next_line && done < self.batches => {
                self.next_line += self.batches.div_ceil(10).max(1);
                let eta = elapsed / done as f64 * (self.batches - done) as f64;
                println!(
                    "epoch {}/{} batch {done}/{} {status} ETA {:.0}s",
                    self.epoch, self.epochs, self.batches, eta
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
