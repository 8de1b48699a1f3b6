//! What a run records to show how it trains: the training loss every few batches,
//! the gradient flow through every parameter tensor, the activations of every layer
//! and the test images it gets most confidently wrong.

use crate::mistakes::confident_mistakes;
use crate::probe_maps::{ProbeImageMaps, ProbeMapsRecorder};
use crate::{BatchWindow, ConfusionMatrix, Evaluation, Mistake, TrainError};
use ndarray::{Array4, ArrayD, ArrayViewD, Zip};
use scratchnet_data::Split;
use scratchnet_layers::{Layer, Mode};
use std::sync::{Arc, Mutex, PoisonError};

/// What [`Diagnostics`] records, and how often.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagnosticsConfig {
    /// Record the gradient flow every this many batches (steps counted over the whole
    /// run: steps 0, K, 2K, …). Default 50.
    pub every_batches: usize,
    /// Test images forwarded (in `Mode::Eval`) after every epoch for the activation
    /// statistics: the first this many of the test split, the same every epoch.
    /// Default 64.
    pub probe_size: usize,
    /// Average the training loss and accuracy over every this many batches of an
    /// epoch (batches 1–K, K+1–2K, …, the last window of an epoch possibly shorter):
    /// the per-batch curves. Default 10.
    pub metrics_every_batches: usize,
    /// The test images classified wrong with the highest probability kept after
    /// every evaluation (0: none). Default 12.
    pub mistakes: usize,
    /// The first this many probe images whose feature maps at every convolution and
    /// pooling layer are kept after every epoch (0: none). Default 3.
    pub feature_map_images: usize,
}

impl Default for DiagnosticsConfig {
    fn default() -> Self {
        Self {
            every_batches: 50,
            probe_size: 64,
            metrics_every_batches: 10,
            mistakes: 12,
            feature_map_images: 3,
        }
    }
}

/// One parameter tensor at one recorded step.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterFlow {
    /// The parameter's name (`conv1.weight`).
    pub name: String,
    /// The L2 norm of its gradient for the batch (what the optimizer stepped with).
    pub grad_norm: f64,
    /// ‖weight after the step − weight before‖ / ‖weight before‖ (infinite for a
    /// weight that was all zeros and moved, 0 if it did not move): about 1e-3 is
    /// the classic healthy value.
    pub update_ratio: f64,
}

/// The gradient flow of one recorded step.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientSample {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The batch within the epoch, from 1.
    pub batch: usize,
    /// The step over the whole run, from 0.
    pub step: u64,
    /// The learning rate of the step.
    pub learning_rate: f32,
    /// Every parameter tensor, in the model's order.
    pub parameters: Vec<ParameterFlow>,
}

/// Statistics of one layer's output on the probe batch.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerActivation {
    /// The layer's name (`conv1`, `relu1`).
    pub layer: String,
    /// Mean of the outputs.
    pub mean: f64,
    /// Standard deviation of the outputs (population).
    pub std: f64,
    /// Fraction of outputs exactly 0 (after a ReLU: dead units).
    pub zero_fraction: f64,
}

/// The first convolution's weights, `[out, in, kh, kw]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filters {
    /// The parameter's name (`conv1.weight`).
    pub name: String,
    /// Its value.
    pub weight: ArrayD<f32>,
}

/// What an epoch's end recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochDiagnostics {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The learning rate of the epoch's last step.
    pub learning_rate: f32,
    /// Every layer's output statistics on the probe batch, in order.
    pub activations: Vec<LayerActivation>,
    /// The test split's confusion matrix after the epoch.
    pub confusion: ConfusionMatrix,
    /// The first 4-dimensional parameter (the first convolution's filters), if any.
    pub filters: Option<Filters>,
    /// The test images classified wrong with the highest probability, most confident
    /// first ([`DiagnosticsConfig::mistakes`] of them at most).
    pub mistakes: Vec<Mistake>,
    /// The first [`DiagnosticsConfig::feature_map_images`] probe images and their
    /// feature maps at every convolution and pooling layer.
    pub feature_maps: Vec<ProbeImageMaps>,
}

/// Everything recorded so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiagnosticsLog {
    /// The training loss and accuracy of every [`DiagnosticsConfig::metrics_every_batches`]
    /// batches, in order.
    pub batches: Vec<BatchWindow>,
    /// One sample every [`DiagnosticsConfig::every_batches`] steps.
    pub gradients: Vec<GradientSample>,
    /// One entry per epoch trained.
    pub epochs: Vec<EpochDiagnostics>,
}

/// The recorder given to [`Trainer::with_diagnostics`](crate::Trainer::with_diagnostics):
/// a handle that can be cloned and read (with [`log`](Self::log)) while the trainer
/// records into it, e.g. from an epoch callback that writes a report.
///
/// Recording never changes training: the weights are read, never written, and the
/// probe batch is forwarded in `Mode::Eval`, which updates no buffer or counter.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    config: DiagnosticsConfig,
    recorded: Arc<Mutex<Recorded>>,
}

/// The log, and the window of batches being summed.
#[derive(Debug, Default)]
struct Recorded {
    log: DiagnosticsLog,
    window: Option<BatchWindow>,
}

/// The weights before a recorded step, to measure the step by.
pub(crate) struct BeforeStep {
    step: u64,
    weights: Vec<ArrayD<f32>>,
}

impl Diagnostics {
    /// A recorder with `config`.
    ///
    /// # Errors
    /// [`TrainError::Config`] if `every_batches`, `metrics_every_batches` or
    /// `probe_size` is 0.
    pub fn new(config: DiagnosticsConfig) -> Result<Self, TrainError> {
        if config.every_batches == 0 || config.metrics_every_batches == 0 {
            return Err(TrainError::config(
                "diagnostics every 0 batches: give at least 1",
            ));
        }
        if config.probe_size == 0 {
            return Err(TrainError::config(
                "a diagnostics probe of 0 images: give at least 1",
            ));
        }
        Ok(Self {
            config,
            recorded: Arc::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DiagnosticsConfig {
        &self.config
    }

    /// A copy of everything recorded so far.
    pub fn log(&self) -> DiagnosticsLog {
        self.lock().log.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds batch `batch` (from 1) of the `batches` of `epoch` to the current window:
    /// `samples` samples with mean loss `loss`, `correct` of them right. The window is
    /// logged after every [`DiagnosticsConfig::metrics_every_batches`]-th batch of the
    /// epoch and after its last.
    pub(crate) fn after_batch(
        &self,
        epoch: usize,
        batch: usize,
        batches: usize,
        samples: usize,
        loss: f64,
        correct: usize,
    ) {
        let mut guard = self.lock();
        let recorded = &mut *guard;
        let window = recorded
            .window
            .get_or_insert_with(|| BatchWindow::starting(epoch, batch, batches));
        window.add(batch, samples, loss, correct);
        if batch % self.config.metrics_every_batches == 0 || batch == batches {
            recorded.log.batches.extend(recorded.window.take());
        }
    }

    /// A copy of the weights if `step` is recorded.
    pub(crate) fn before_step(&self, step: u64, model: &dyn Layer) -> Option<BeforeStep> {
        (step % self.config.every_batches as u64 == 0).then(|| BeforeStep {
            step,
            weights: model
                .parameters()
                .into_iter()
                .map(|(_, p)| p.value.clone())
                .collect(),
        })
    }

    /// Records the gradients of the step just taken and how far it moved the weights.
    pub(crate) fn after_step(
        &self,
        before: BeforeStep,
        epoch: usize,
        batch: usize,
        learning_rate: f32,
        model: &dyn Layer,
    ) {
        let parameters = model
            .parameters()
            .into_iter()
            .zip(&before.weights)
            .map(|((name, p), old)| {
                let mut moved = 0.0f64;
                Zip::from(&p.value).and(old).for_each(|&new, &old| {
                    moved += f64::from(new - old).powi(2);
                });
                let (moved, weight) = (moved.sqrt(), norm(old.view()));
                ParameterFlow {
                    name,
                    grad_norm: norm(p.grad.view()),
                    update_ratio: if moved == 0.0 { 0.0 } else { moved / weight },
                }
            })
            .collect();
        self.lock().log.gradients.push(GradientSample {
            epoch,
            batch,
            step: before.step,
            learning_rate,
            parameters,
        });
    }

    /// Records the end of `epoch`: the activations of `probe` through `model` (in
    /// `Mode::Eval`) and the feature maps of its first images, the first convolution's
    /// filters, and from the `evaluation` of
    /// `test` the confusion matrix and the most confident mistakes.
    pub(crate) fn end_epoch(
        &self,
        epoch: usize,
        learning_rate: f32,
        model: &mut dyn Layer,
        probe: &Array4<f32>,
        evaluation: &Evaluation,
        test: &Split,
    ) -> Result<(), TrainError> {
        let mut activations = Vec::new();
        let mut maps = ProbeMapsRecorder::new(
            model,
            probe.view().into_dyn(),
            self.config.feature_map_images,
        );
        model.forward_visiting(probe.view().into_dyn(), Mode::Eval, &mut |layer, out| {
            maps.visit(layer, out.view());
            activations.push(statistics(layer, out));
        })?;
        let filters = model
            .parameters()
            .into_iter()
            .find(|(_, p)| p.value.ndim() == 4)
            .map(|(name, p)| Filters {
                name,
                weight: p.value.clone(),
            });
        let mistakes = confident_mistakes(evaluation, test, self.config.mistakes);
        self.lock().log.epochs.push(EpochDiagnostics {
            epoch,
            learning_rate,
            activations,
            confusion: evaluation.confusion.clone(),
            filters,
            mistakes,
            feature_maps: maps.finish(),
        });
        Ok(())
    }
}

/// The L2 norm, summed in f64.
fn norm(values: ArrayViewD<f32>) -> f64 {
    values
        .iter()
        .map(|&v| f64::from(v).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Mean, standard deviation and fraction of zeros of one layer's output.
fn statistics(layer: &str, values: ArrayViewD<f32>) -> LayerActivation {
    let n = values.len().max(1) as f64;
    let (mut sum, mut squares, mut zeros) = (0.0f64, 0.0f64, 0usize);
    for &v in &values {
        let v = f64::from(v);
        sum += v;
        squares += v * v;
        zeros += usize::from(v == 0.0);
    }
    let mean = sum / n;
    LayerActivation {
        layer: layer.to_owned(),
        mean,
        std: (squares / n - mean * mean).max(0.0).sqrt(),
        zero_fraction: zeros as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn statistics_of_a_relu_output() {
        let stats = statistics("relu", arr1(&[0.0f32, 0.0, 1.0, 3.0]).view().into_dyn());
        assert_eq!(stats.mean, 1.0);
        assert_eq!(stats.std, 1.5f64.sqrt());
        assert_eq!(stats.zero_fraction, 0.5);
    }
}
