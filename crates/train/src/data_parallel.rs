//! The data-parallel engine: the gradient of a batch computed in fixed shards on
//! model replicas, on the rayon thread pool, then the same optimizer step as
//! [`train_step`](crate::train_step).

use crate::evaluate::evaluate_with;
use crate::predictions::{count_correct, logits_matrix};
use crate::replica_checks::{
    check_same_network, check_same_parameters, named_weights, NamedWeights,
};
use crate::step::check_batch;
use crate::{Evaluation, Optimizer, StepOutcome, TrainError};
use ndarray::{s, Array2, ArrayD, ArrayView4, Axis};
use rayon::prelude::*;
use scratchnet_data::Split;
use scratchnet_layers::{contract, Layer, Mode, SoftmaxCrossEntropy, StateRef};
use scratchnet_tensor::parallel::{for_each_chunk, serial};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Builds a fresh model of the same architecture as the one being trained (its
/// weights do not matter: they are overwritten before every use). Used to make one
/// replica per thread. The same layers with the same hyper-parameters: the parameter
/// names and shapes are checked when the replicas are made and before every batch,
/// and on the first batch the model and a replica holding its weights must give the
/// same outputs, to the bit, in `Mode::Eval` (a factory that builds another
/// activation or slope is refused).
///
/// ```
/// use std::sync::Arc;
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_train::{models::lenet5, ModelFactory};
/// let factory: ModelFactory = Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(0))));
/// ```
pub type ModelFactory = Arc<dyn Fn() -> Box<dyn Layer> + Send + Sync>;

/// Data-parallel training and evaluation on model replicas, PyTorch's `DataParallel`
/// on CPU threads.
///
/// [`train_step`](Self::train_step) does what the plain
/// [`train_step`](crate::train_step) does, but computes the gradient shard by shard:
/// a batch of `N` samples is cut into shards of `shard_size` (the last one smaller);
/// each shard's gradient is computed on a replica — forward in `Mode::Train`, softmax
/// cross-entropy, backward of the loss scaled by `n_shard / N` — and the shard
/// gradients are added into the model's gradients **in shard order**. The result is
/// the gradient of the batch mean and, as the layers' kernels are deterministic, it is
/// bit for bit the same whatever the number of replicas and threads.
///
/// Each replica (one per thread of the rayon pool) receives the model's weights
/// before every batch and takes the next shard not yet taken whenever it is free;
/// once none is left, it takes over pieces of the shards still running (their
/// sample-by-sample kernels, see
/// [`split_chunk`](scratchnet_tensor::parallel::split_chunk)).
///
/// Models with buffers (batch norm's running statistics) or counters
/// ([`Layer::extra_state`], dropout's mask counter) are refused: replicas would not
/// update them, and each replica's dropout would draw its own copy of the masks. So
/// are models with a layer whose Train forward mixes the samples of a batch
/// ([`Layer::mixes_samples`]: batch statistics), which shards would compute
/// differently. Train those with the plain [`train_step`](crate::train_step), whose
/// kernels still use every thread.
///
/// The engine keeps one set of gradient buffers per shard of the largest batch seen
/// (4 × 247 kB for LeNet-5 at batch 64), reused from batch to batch.
pub struct DataParallel {
    shard_size: usize,
    replicas: Vec<Box<dyn Layer>>,
    /// Per shard index, that shard's gradients (parameter order), kept from batch to
    /// batch: a replica swaps its gradients with them instead of cloning its own.
    shard_grads: Vec<Mutex<Vec<ArrayD<f32>>>>,
    /// Whether a replica was found to compute the model's function
    /// ([`check_same_network`]), done on the first batch.
    network_checked: bool,
}

/// One shard's share: its index, summed loss, correct count (its gradients are in
/// `shard_grads[index]`).
type ShardResult = (usize, f64, usize);

/// Elements per chunk when adding the shards' gradients on the pool (as Adam's chunks,
/// small enough for the threads to finish together).
const SUM_CHUNK: usize = 1 << 11;

impl DataParallel {
    /// Shards of `shard_size` on `threads` replicas made by `factory`, checked against
    /// `model` (same parameter names and shapes).
    ///
    /// # Errors
    /// [`TrainError::Config`] if `shard_size` or `threads` is 0, if `model` has
    /// buffers or counters or mixes samples ([`Layer::mixes_samples`]), or if a
    /// replica's parameters differ from the model's.
    pub fn with_replicas(
        shard_size: usize,
        threads: usize,
        factory: &ModelFactory,
        model: &dyn Layer,
    ) -> Result<Self, TrainError> {
        if shard_size == 0 {
            return Err(TrainError::config("the shard size must be at least 1"));
        }
        if threads == 0 {
            return Err(TrainError::config(
                "the number of threads must be at least 1",
            ));
        }
        if needs_whole_batch(model) {
            return Err(TrainError::config(
                "a model with buffers or counters (batch norm, dropout) or a layer that mixes the samples of a batch (Layer::mixes_samples) cannot train on replicas: use train_step",
            ));
        }
        let expected = parameter_shapes(model);
        let mut replicas = Vec::with_capacity(threads);
        for _ in 0..threads {
            let replica = factory();
            if parameter_shapes(replica.as_ref()) != expected {
                return Err(TrainError::config(
                    "the model factory builds a model whose parameters differ from the model being trained",
                ));
            }
            replicas.push(replica);
        }
        Ok(Self {
            shard_size,
            replicas,
            shard_grads: Vec::new(),
            network_checked: false,
        })
    }

    /// Number of replicas.
    pub fn replicas(&self) -> usize {
        self.replicas.len()
    }

    /// On the first batch (training or evaluation): copies the model's weights into
    /// the first replica and requires the same outputs from both on `images`
    /// ([`check_same_network`]): one small forward each, in `Mode::Eval`.
    fn check_network_once(
        &mut self,
        model: &mut dyn Layer,
        images: ArrayView4<f32>,
    ) -> Result<(), TrainError> {
        let Some(replica) = self.replicas.first_mut() else {
            return Ok(());
        };
        if self.network_checked || images.is_empty() {
            return Ok(());
        }
        copy_weights(replica.as_mut(), &named_weights(model))?;
        check_same_network(model, replica.as_mut(), images.into_dyn())?;
        self.network_checked = true;
        Ok(())
    }

    /// The data-parallel [`train_step`](crate::train_step): zeroes `model`'s
    /// gradients, computes the gradient of the batch's mean loss in shards on the
    /// replicas, and steps `optimizer` unless the loss is NaN or infinite.
    ///
    /// # Errors
    /// As [`train_step`](crate::train_step).
    pub fn train_step(
        &mut self,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        images: ArrayView4<f32>,
        labels: &[usize],
    ) -> Result<StepOutcome, TrainError> {
        self.train_step_and(model, optimizer, images, labels, || ())
            .0
    }

    /// [`train_step`](Self::train_step), and `meanwhile`, run once: by the first
    /// replica that finds no shard left to take — in time it would otherwise spend
    /// waiting for the last shard — or after the shards if none ran it. The trainer
    /// assembles the next batch there.
    ///
    /// # Errors
    /// As [`train_step`](Self::train_step); `meanwhile` runs even then.
    pub fn train_step_and<T: Send>(
        &mut self,
        model: &mut dyn Layer,
        optimizer: &mut dyn Optimizer,
        images: ArrayView4<f32>,
        labels: &[usize],
        meanwhile: impl FnOnce() -> T + Send,
    ) -> (Result<StepOutcome, TrainError>, T) {
        model.zero_grad();
        let (gradient, result) = self.gradient_and(model, images, labels, meanwhile);
        let outcome = gradient.inspect(|outcome| {
            if outcome.loss.is_finite() {
                optimizer.step(model);
            }
        });
        (outcome, result)
    }

    /// Adds the gradient of the batch's mean loss into `model`'s gradients, running
    /// `meanwhile` once (see [`train_step_and`](Self::train_step_and)).
    fn gradient_and<T: Send>(
        &mut self,
        model: &mut dyn Layer,
        images: ArrayView4<f32>,
        labels: &[usize],
        meanwhile: impl FnOnce() -> T + Send,
    ) -> (Result<StepOutcome, TrainError>, T) {
        let meanwhile = Mutex::new(Some(meanwhile));
        let take = || {
            meanwhile
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        };
        let done = Mutex::new(None);
        let outcome = self.gradient(model, images, labels, &|| {
            if let Some(work) = take() {
                *done.lock().unwrap_or_else(PoisonError::into_inner) = Some(work());
            }
        });
        // After a failed check or shard no replica may have run it.
        let result = match done.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(result) => result,
            None => take().expect("only a run that stores its result takes it")(),
        };
        (outcome, result)
    }

    /// The shards' gradients on the replicas, added into `model`'s in shard order;
    /// `idle` is called by each replica that runs out of shards.
    fn gradient(
        &mut self,
        model: &mut dyn Layer,
        images: ArrayView4<f32>,
        labels: &[usize],
        idle: &(dyn Fn() + Sync),
    ) -> Result<StepOutcome, TrainError> {
        check_batch(images, labels)?;
        let n = labels.len();
        let shards: Vec<(usize, usize)> = (0..n)
            .step_by(self.shard_size)
            .map(|start| (start, (start + self.shard_size).min(n)))
            .collect();
        if self.shard_grads.len() < shards.len() {
            self.shard_grads.resize_with(shards.len(), Default::default);
        }
        let first_shard = images.slice(s![..shards.first().map_or(0, |s| s.1), .., .., ..]);
        self.check_network_once(model, first_shard)?;
        let results: Vec<Result<Vec<ShardResult>, TrainError>> = {
            let work = ShardWork {
                weights: named_weights(model),
                images,
                labels,
                shards: &shards,
                next_shard: AtomicUsize::new(0),
                shard_grads: &self.shard_grads,
                idle,
            };
            (self.replicas.par_iter_mut())
                .map(|replica| work.run_on(replica.as_mut()))
                .collect()
        };
        // Losses and counts summed in shard order, like the gradients below.
        let mut per_shard: Vec<ShardResult> = Vec::with_capacity(shards.len());
        for result in results {
            per_shard.extend(result?);
        }
        // The shards' gradients are added by position: a replica whose forward
        // created a parameter would pair them with the wrong ones.
        let weights = named_weights(model);
        for replica in &self.replicas {
            check_same_parameters(&weights, replica.as_ref())?;
        }
        per_shard.sort_by_key(|(index, ..)| *index);
        let (mut total_loss, mut correct) = (0.0f64, 0usize);
        for (_, loss, right) in per_shard {
            total_loss += loss;
            correct += right;
        }
        let shard_grads: Vec<_> = self.shard_grads[..shards.len()]
            .iter_mut()
            .map(|slot| slot.get_mut().unwrap_or_else(PoisonError::into_inner))
            .collect();
        add_in_shard_order(model, &shard_grads);
        Ok(StepOutcome {
            loss: total_loss / n.max(1) as f64,
            correct,
        })
    }

    /// The logits of `images` (`[N, C, H, W]`) in `Mode::Eval`, `[N, K]`, computed in
    /// contiguous chunks, one per replica (on `model` itself for fewer than two
    /// samples per replica).
    ///
    /// # Errors
    /// A [`TrainError::Layer`] if the model refuses the input or does not output `[N, K]`.
    pub fn logits(
        &mut self,
        model: &mut dyn Layer,
        images: ArrayView4<f32>,
    ) -> Result<Array2<f32>, TrainError> {
        let n = images.dim().0;
        if n < 2 * self.replicas.len() {
            return logits_matrix(model.forward(images.into_dyn(), Mode::Eval)?);
        }
        self.check_network_once(model, images.slice(s![..2, .., .., ..]))?;
        let weights = named_weights(model);
        let chunk = n.div_ceil(self.replicas.len());
        let parts: Vec<Result<Array2<f32>, TrainError>> = self
            .replicas
            .par_iter_mut()
            .enumerate()
            .map(|(r, replica)| {
                copy_weights(replica.as_mut(), &weights)?;
                let start = (r * chunk).min(n);
                let end = (start + chunk).min(n);
                let part = images.slice(s![start..end, .., .., ..]);
                // One replica per thread already keeps every thread busy.
                serial(|| logits_matrix(replica.forward(part.into_dyn(), Mode::Eval)?))
            })
            .collect();
        let parts = parts.into_iter().collect::<Result<Vec<_>, _>>()?;
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views)
            .map_err(|e| TrainError::config(format!("model outputs of different widths: {e}")))
    }

    /// [`evaluate`](crate::evaluate) with the logits computed on the replicas
    /// ([`logits`](Self::logits)): the same results.
    ///
    /// # Errors
    /// As [`evaluate`](crate::evaluate).
    pub fn evaluate(
        &mut self,
        model: &mut dyn Layer,
        split: &Split,
        batch_size: usize,
    ) -> Result<Evaluation, TrainError> {
        evaluate_with(split, batch_size, |images| self.logits(model, images))
    }
}

/// One batch's shards, shared by the replicas computing them.
struct ShardWork<'a> {
    /// The model's weights by name, copied into each replica before its first shard.
    weights: Vec<(String, &'a ArrayD<f32>)>,
    images: ArrayView4<'a, f32>,
    labels: &'a [usize],
    /// `(start, end)` sample ranges.
    shards: &'a [(usize, usize)],
    /// The index of the next shard not yet taken.
    next_shard: AtomicUsize,
    /// Where each shard's gradients go, by shard index.
    shard_grads: &'a [Mutex<Vec<ArrayD<f32>>>],
    /// Called by a replica that finds no shard left.
    idle: &'a (dyn Fn() + Sync),
}

impl ShardWork<'_> {
    /// Takes shards until none is left, computing each on `replica` and storing its
    /// gradients in its slot.
    ///
    /// Shards go to whichever replica is free next, so a thread the system stalls
    /// takes fewer; each shard's gradient depends only on the weights and its
    /// samples, and they are added in shard order, so the bits do not depend on who
    /// computed what. A replica's kernels cut their sample-by-sample work into small
    /// pieces (`split_chunk`), which a replica that has run out of shards takes over
    /// while it waits for the others: the last shard of a batch is shared rather than
    /// waited for. (The pieces' results do not depend on who computes them, and the
    /// weight-gradient sums stay whole, so no bit changes.)
    fn run_on(&self, replica: &mut dyn Layer) -> Result<Vec<ShardResult>, TrainError> {
        copy_weights(replica, &self.weights)?;
        let mut loss_fn = SoftmaxCrossEntropy::new();
        let batch_len = self.labels.len();
        let mut done = Vec::new();
        loop {
            let index = self.next_shard.fetch_add(1, Ordering::Relaxed);
            let Some(&(start, end)) = self.shards.get(index) else {
                (self.idle)();
                return Ok(done);
            };
            replica.zero_grad();
            let scale = (end - start) as f32 / batch_len as f32;
            let (loss, correct) = forward_loss_backward(
                replica,
                &mut loss_fn,
                self.images.slice(s![start..end, .., .., ..]),
                &self.labels[start..end],
                scale,
            )?;
            self.store_gradients(index, replica);
            done.push((index, f64::from(loss) * (end - start) as f64, correct));
        }
    }

    /// Moves `replica`'s gradients into shard `index`'s slot, giving the replica the
    /// slot's old buffers (zeroed before their next use).
    fn store_gradients(&self, index: usize, replica: &mut dyn Layer) {
        // Each index is taken once, so its lock is never contended.
        let mut slot = self.shard_grads[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let params = replica.parameters_mut();
        if slot.len() != params.len() {
            *slot = params.iter().map(|(_, p)| p.grad.clone()).collect();
        }
        for ((_, p), g) in params.into_iter().zip(slot.iter_mut()) {
            std::mem::swap(&mut p.grad, g);
        }
    }
}

/// Copies `weights` (the model's, in parameter order) into `replica`'s parameters.
///
/// # Errors
/// A [`LayerError::Contract`](scratchnet_layers::LayerError::Contract) if the
/// replica's parameter names and shapes are no longer the model's
/// ([`check_same_parameters`]).
fn copy_weights(replica: &mut dyn Layer, weights: &NamedWeights<'_>) -> Result<(), TrainError> {
    check_same_parameters(weights, replica)?;
    for ((_, p), (_, w)) in replica.parameters_mut().into_iter().zip(weights) {
        p.value.assign(w);
    }
    Ok(())
}

/// Each parameter's name and shape.
fn parameter_shapes(model: &dyn Layer) -> Vec<(String, Vec<usize>)> {
    model
        .parameters()
        .into_iter()
        .map(|(name, p)| (name, p.value.shape().to_vec()))
        .collect()
}

/// Adds every shard's gradients into `model`'s, element by element in shard order —
/// the same bits as adding whole shards one after another — in chunks on the pool.
fn add_in_shard_order(model: &mut dyn Layer, shard_grads: &[&mut Vec<ArrayD<f32>>]) {
    let mut chunks = Vec::new();
    for (i, (_, p)) in model.parameters_mut().into_iter().enumerate() {
        let contiguous = |g: &ArrayD<f32>| g.is_standard_layout();
        if contiguous(&p.grad) && shard_grads.iter().all(|grads| contiguous(&grads[i])) {
            let total = p.grad.as_slice_mut().expect("checked: standard layout");
            chunks.extend(
                (total.chunks_mut(SUM_CHUNK).enumerate()).map(|(c, t)| (i, c * SUM_CHUNK, t)),
            );
        } else {
            for grads in shard_grads {
                p.grad += &grads[i];
            }
        }
    }
    for_each_chunk(chunks, |(i, start, total): (usize, usize, &mut [f32])| {
        let end = start + total.len();
        for grads in shard_grads {
            let all = grads[i].as_slice().expect("checked: standard layout");
            for (t, g) in total.iter_mut().zip(&all[start..end]) {
                *t += g;
            }
        }
    });
}

/// Whether `model` must train on the whole batch at once, on itself: it has state
/// besides its parameters (buffers or counters) that only a forward on the model
/// itself updates, or a layer whose Train forward mixes the samples of a batch
/// ([`Layer::mixes_samples`]), whose function shards would change.
pub(crate) fn needs_whole_batch(model: &dyn Layer) -> bool {
    model.mixes_samples()
        || model
            .state()
            .iter()
            .any(|(_, entry)| !matches!(entry, StateRef::Parameter(_)))
}

/// [`train_step`]'s forward, loss and backward for one shard of a batch, with the
/// gradient of the shard's mean loss scaled by `grad_scale` before the backward, added
/// into the parameters' gradients. Returns the shard's mean loss and correct count.
///
/// The backward is [`Layer::backward_parameters`]: it skips the gradient with respect
/// to the images, which nothing needs (the first layer's input gradient is the most
/// expensive one of a convolutional network).
///
/// `grad_scale` is `n / N` for a shard of `n` samples of a batch of `N` (see
/// [`DataParallel`](crate::DataParallel)), so that the shards' gradients add up to the
/// gradient of the batch's mean loss.
fn forward_loss_backward(
    model: &mut dyn Layer,
    loss_fn: &mut SoftmaxCrossEntropy,
    images: ArrayView4<f32>,
    labels: &[usize],
    grad_scale: f32,
) -> Result<(f32, usize), TrainError> {
    let logits = model.forward(images.into_dyn(), Mode::Train)?;
    let loss = loss_fn.forward(logits.view(), labels)?;
    let correct = count_correct(&logits_matrix(logits)?, labels);
    let mut grad_logits = loss_fn.backward()?;
    grad_logits *= grad_scale;
    model.backward_parameters(grad_logits.view())?;
    // A layer of one's own whose gradient has another shape than its parameter would
    // otherwise be summed with the other shards' element by element, silently wrong.
    contract::check_gradient_shapes(model)?;
    Ok((loss, correct))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::lenet5;
    use crate::{Sgd, SgdConfig};
    use ndarray::{Array4, Dimension, IxDyn, ShapeBuilder};
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    /// The shards' gradients are added onto the model's whatever their memory order: a
    /// gradient replaced by hand (through `parameters_mut`) may be column-major, and
    /// then the sum takes the element-wise path instead of the chunked one.
    #[test]
    fn gradients_in_any_memory_order_are_summed() {
        // Element `index` of parameter `i`'s gradient in copy `copy`: distinct values, so
        // that a product or a misplaced element would not give the same sums.
        let filled = |shape: &[usize], i: usize, copy: usize, column_major: bool| {
            let value = |index: IxDyn| {
                let flat = index.slice().iter().fold(0, |acc, &k| acc * 7 + k);
                (flat % 13) as f32 * 0.25 + (i + 3 * copy) as f32
            };
            if column_major {
                ArrayD::<f32>::from_shape_fn(IxDyn(shape).f(), value)
            } else {
                ArrayD::<f32>::from_shape_fn(IxDyn(shape), value)
            }
        };
        let mut sums = Vec::new();
        for (model_column_major, shard_column_major) in
            [(false, false), (true, false), (false, true)]
        {
            let mut model = lenet5(&mut StdRng::seed_from_u64(0));
            let shapes: Vec<Vec<usize>> = (model.parameters_mut().into_iter())
                .map(|(_, p)| p.grad.shape().to_vec())
                .collect();
            for (i, (_, p)) in model.parameters_mut().into_iter().enumerate() {
                p.grad = filled(&shapes[i], i, 0, model_column_major);
            }
            let mut shards: Vec<Vec<ArrayD<f32>>> = (1..=2)
                .map(|copy| {
                    let column_major = shard_column_major && copy == 2;
                    (shapes.iter().enumerate())
                        .map(|(i, shape)| filled(shape, i, copy, column_major))
                        .collect()
                })
                .collect();
            let shard_grads: Vec<_> = shards.iter_mut().collect();
            add_in_shard_order(&mut model, &shard_grads);
            let grads: Vec<ArrayD<f32>> = (model.parameters_mut().into_iter())
                .map(|(_, p)| p.grad.clone())
                .collect();
            for (i, grad) in grads.iter().enumerate() {
                let expected = (0..3).fold(ArrayD::<f32>::zeros(IxDyn(&shapes[i])), |sum, copy| {
                    sum + filled(&shapes[i], i, copy, false)
                });
                assert_eq!(
                    grad, &expected,
                    "parameter {i}, {model_column_major} {shard_column_major}"
                );
            }
            sums.push(grads);
        }
        assert!(sums.iter().all(|grads| grads == &sums[0]));
    }

    #[test]
    fn meanwhile_runs_exactly_once_and_even_after_an_error() {
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
        let factory: ModelFactory = Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(1))));
        let images = Array4::<f32>::zeros((40, 1, 28, 28));
        let good: Vec<usize> = (0..40).map(|i| i % 10).collect();
        let mut bad = good.clone();
        bad[39] = 10;
        let short = &good[..39];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for replicas in [1, 2] {
            let mut engine = DataParallel::with_replicas(16, replicas, &factory, &model).unwrap();
            for labels in [&good[..], &bad[..], short] {
                let runs = AtomicUsize::new(0);
                let (outcome, value) = pool.install(|| {
                    engine.train_step_and(&mut model, &mut sgd, images.view(), labels, || {
                        runs.fetch_add(1, Ordering::Relaxed);
                        "next batch"
                    })
                });
                assert_eq!(outcome.is_ok(), labels == &good[..]);
                assert_eq!(value, "next batch");
                assert_eq!(runs.into_inner(), 1, "{replicas} replicas");
            }
        }
    }
}
