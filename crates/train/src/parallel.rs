//! Data-parallel gradients: a batch cut into fixed shards, computed on model replicas
//! on the rayon thread pool.

use crate::TrainError;
use ndarray::{s, Array2, ArrayD, ArrayView4, Axis, Ix2};
use rayon::prelude::*;
use scratchnet_layers::{Layer, Mode, SoftmaxCrossEntropy};
use scratchnet_tensor::parallel::{serial, use_threads};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Builds a fresh model of the same architecture as the one being trained (its
/// weights do not matter: they are overwritten before every use). Used to make one
/// replica per thread.
///
/// ```
/// use std::sync::Arc;
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_train::{models::lenet5, ModelFactory};
/// let factory: ModelFactory = Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(0))));
/// ```
pub type ModelFactory = Arc<dyn Fn() -> Box<dyn Layer> + Send + Sync>;

/// What one training batch gave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchOutcome {
    /// Mean loss over the batch's samples.
    pub loss: f64,
    /// Samples whose largest logit is their label's.
    pub correct: usize,
}

/// Computes the gradient of a batch's mean loss, shard by shard.
///
/// A batch of `N` samples is cut into shards of `shard_size` (the last one smaller).
/// Each shard's gradient is computed separately — forward in `Mode::Train`, softmax
/// cross-entropy, backward of the loss scaled by `n_shard / N` — and the shard
/// gradients are added into the model's gradients **in shard order**. The result is
/// the gradient of the batch mean, and — as long as the layers' own kernels are
/// deterministic — it is bit-for-bit the same whether the shards run one after another
/// on the model itself or on `T` replicas in parallel, so a run is reproducible
/// whatever the number of threads.
///
/// With replicas (from a [`ModelFactory`]), one per thread of the rayon pool, each
/// replica receives the model's weights before every batch and takes the next shard
/// not yet taken whenever it is free; once none is left, it takes over pieces of the
/// shards still running (their sample-by-sample kernels, see
/// [`split_chunk`](scratchnet_tensor::parallel::split_chunk)). Models with buffers
/// (batch norm's running statistics) or counters ([`Layer::extra_state`], dropout's
/// mask counter) are always computed on the model itself, since replicas would not
/// update them — and each replica's dropout would draw its own copy of the masks.
/// [`Trainer`](crate::Trainer) then uses one shard per batch, so that batch statistics
/// cover the whole batch. (The layers' kernels still use every thread.)
///
/// With replicas the engine keeps one set of gradient buffers per shard of the largest
/// batch seen (4 × 247 kB for LeNet-5 at batch 64), reused from batch to batch.
pub struct DataParallel {
    shard_size: usize,
    replicas: Vec<Box<dyn Layer>>,
    loss: SoftmaxCrossEntropy,
    /// Per shard index, that shard's gradients (parameter order), kept from batch to
    /// batch: a replica swaps its gradients with them instead of cloning its own.
    shard_grads: Vec<Mutex<Vec<ArrayD<f32>>>>,
}

/// One shard's share: its index, summed loss, correct count (its gradients are in
/// `shard_grads[index]`).
type ShardResult = (usize, f64, usize);

/// Elements per chunk when adding the shards' gradients on the pool (as Adam's chunks,
/// small enough for the threads to finish together).
const SUM_CHUNK: usize = 1 << 11;

impl DataParallel {
    /// Shards of `shard_size` computed on `model` itself, one after another.
    ///
    /// # Errors
    /// [`TrainError::Config`] if `shard_size` is 0.
    pub fn sequential(shard_size: usize) -> Result<Self, TrainError> {
        if shard_size == 0 {
            return Err(TrainError::config("the shard size must be at least 1"));
        }
        Ok(Self {
            shard_size,
            replicas: Vec::new(),
            loss: SoftmaxCrossEntropy::new(),
            shard_grads: Vec::new(),
        })
    }

    /// Shards of `shard_size` on `threads` replicas made by `factory`, checked against
    /// `model` (same parameter names and shapes). Falls back to
    /// [`sequential`](Self::sequential) if `model` has buffers or counters.
    ///
    /// # Errors
    /// [`TrainError::Config`] if `shard_size` or `threads` is 0 or a replica's
    /// parameters differ from the model's.
    pub fn with_replicas(
        shard_size: usize,
        threads: usize,
        factory: &ModelFactory,
        model: &dyn Layer,
    ) -> Result<Self, TrainError> {
        let mut engine = Self::sequential(shard_size)?;
        if threads == 0 {
            return Err(TrainError::config(
                "the number of threads must be at least 1",
            ));
        }
        if has_state(model) {
            return Ok(engine);
        }
        let signature = |m: &dyn Layer| -> Vec<(String, Vec<usize>)> {
            m.parameters()
                .into_iter()
                .map(|(n, p)| (n, p.value.shape().to_vec()))
                .collect()
        };
        let expected = signature(model);
        for _ in 0..threads {
            let replica = factory();
            if signature(replica.as_ref()) != expected {
                return Err(TrainError::config(
                    "the model factory builds a model whose parameters differ from the model being trained",
                ));
            }
            engine.replicas.push(replica);
        }
        Ok(engine)
    }

    /// Number of replicas (0: the model itself computes).
    pub fn replicas(&self) -> usize {
        self.replicas.len()
    }

    /// Adds the gradient of the mean loss of (`images` `[N, C, H, W]`, `labels`) into
    /// `model`'s parameter gradients, and returns the batch's loss and correct count.
    /// The caller zeroes the gradients first (as for any backward).
    ///
    /// # Errors
    /// A [`TrainError::Layer`] from a layer or the loss (wrong shape, bad label).
    pub fn gradient(
        &mut self,
        model: &mut dyn Layer,
        images: ArrayView4<f32>,
        labels: &[usize],
    ) -> Result<BatchOutcome, TrainError> {
        self.gradient_and(model, images, labels, || ()).0
    }

    /// [`gradient`](Self::gradient), and `meanwhile`, run once: by the first replica
    /// that finds no shard left to take — in time it would otherwise spend waiting for
    /// the last shard — or, without replicas, after the shards. The trainer assembles
    /// the next batch there.
    ///
    /// # Errors
    /// As [`gradient`](Self::gradient); `meanwhile` runs even then.
    pub fn gradient_and<T: Send>(
        &mut self,
        model: &mut dyn Layer,
        images: ArrayView4<f32>,
        labels: &[usize],
        meanwhile: impl FnOnce() -> T + Send,
    ) -> (Result<BatchOutcome, TrainError>, T) {
        let meanwhile = Mutex::new(Some(meanwhile));
        let take = || {
            meanwhile
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        };
        let done = Mutex::new(None);
        let outcome = self.shards(model, images, labels, &|| {
            if let Some(work) = take() {
                *done.lock().unwrap_or_else(PoisonError::into_inner) = Some(work());
            }
        });
        // Without replicas (or after a failed shard) no replica may have run it.
        let result = match done.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(result) => result,
            None => take().expect("only a run that stores its result takes it")(),
        };
        (outcome, result)
    }

    /// The body of [`gradient_and`](Self::gradient_and): `idle` is called by each replica
    /// that runs out of shards.
    fn shards(
        &mut self,
        model: &mut dyn Layer,
        images: ArrayView4<f32>,
        labels: &[usize],
        idle: &(dyn Fn() + Sync),
    ) -> Result<BatchOutcome, TrainError> {
        let n = labels.len();
        if images.dim().0 != n {
            return Err(TrainError::config(format!(
                "{} images for {n} labels",
                images.dim().0
            )));
        }
        let shards: Vec<(usize, usize)> = (0..n)
            .step_by(self.shard_size)
            .map(|start| (start, (start + self.shard_size).min(n)))
            .collect();
        let mut total_loss = 0.0f64;
        let mut correct = 0usize;
        if self.replicas.is_empty() {
            // Each shard's gradient from zero, then added to the total, exactly as the
            // replicas do below, so both paths give the same bits.
            let mut total: Vec<ArrayD<f32>> = model
                .parameters()
                .into_iter()
                .map(|(_, p)| p.grad.clone())
                .collect();
            for &(start, end) in &shards {
                model.zero_grad();
                let (loss, right) = shard_backward(
                    model,
                    &mut self.loss,
                    images.slice(s![start..end, .., .., ..]),
                    &labels[start..end],
                    n,
                )?;
                for (t, (_, p)) in total.iter_mut().zip(model.parameters()) {
                    *t += &p.grad;
                }
                total_loss += loss;
                correct += right;
            }
            for ((_, p), t) in model.parameters_mut().into_iter().zip(total) {
                p.grad = t;
            }
        } else {
            // Each replica copies the model's weights itself, on its own thread.
            let params = model.parameters();
            let weights: Vec<&ArrayD<f32>> = params.iter().map(|(_, p)| &p.value).collect();
            // Shards go to whichever replica is free next, so a thread the system
            // stalls takes fewer; each shard's gradient depends only on the weights and
            // its samples, and they are added in shard order below, so the bits do not
            // depend on who computed what.
            let next_shard = AtomicUsize::new(0);
            if self.shard_grads.len() < shards.len() {
                self.shard_grads.resize_with(shards.len(), Default::default);
            }
            let shard_grads = &self.shard_grads;
            let results: Vec<Result<Vec<ShardResult>, TrainError>> = self
                .replicas
                .par_iter_mut()
                .map(|replica| {
                    // One replica per thread keeps the pool busy. Its kernels cut their
                    // sample-by-sample work into small pieces (`split_chunk`), which a
                    // replica that has run out of shards takes over while it waits for
                    // the others: the last shard of a batch is shared rather than
                    // waited for. (The pieces' results do not depend on who computes
                    // them, and the weight-gradient sums stay whole, so no bit changes.)
                    for ((_, p), w) in replica.parameters_mut().into_iter().zip(&weights) {
                        p.value.assign(w);
                    }
                    let mut loss_fn = SoftmaxCrossEntropy::new();
                    let mut out = Vec::new();
                    loop {
                        let index = next_shard.fetch_add(1, Ordering::Relaxed);
                        let Some(&(start, end)) = shards.get(index) else {
                            idle();
                            break;
                        };
                        replica.zero_grad();
                        let (loss, right) = shard_backward(
                            replica.as_mut(),
                            &mut loss_fn,
                            images.slice(s![start..end, .., .., ..]),
                            &labels[start..end],
                            n,
                        )?;
                        // Each index is taken once, so its lock is never contended.
                        let mut slot = shard_grads[index]
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        let params = replica.parameters_mut();
                        if slot.len() != params.len() {
                            *slot = params.iter().map(|(_, p)| p.grad.clone()).collect();
                        }
                        // The replica gets the slot's old buffers, zeroed before use.
                        for ((_, p), g) in params.into_iter().zip(slot.iter_mut()) {
                            std::mem::swap(&mut p.grad, g);
                        }
                        out.push((index, loss, right));
                    }
                    Ok(out)
                })
                .collect();
            let mut per_shard: Vec<ShardResult> = Vec::with_capacity(shards.len());
            for result in results {
                per_shard.extend(result?);
            }
            per_shard.sort_by_key(|(index, ..)| *index);
            for (_, loss, right) in per_shard {
                total_loss += loss;
                correct += right;
            }
            let shard_grads: Vec<_> = self.shard_grads[..shards.len()]
                .iter_mut()
                .map(|slot| slot.get_mut().unwrap_or_else(PoisonError::into_inner))
                .collect();
            add_in_shard_order(model, &shard_grads);
        }
        Ok(BatchOutcome {
            loss: total_loss / n.max(1) as f64,
            correct,
        })
    }

    /// The logits of `images` (`[N, C, H, W]`) in `Mode::Eval`, `[N, K]`, computed in
    /// `T` contiguous chunks on the replicas (or on `model` without replicas).
    ///
    /// # Errors
    /// A [`TrainError::Layer`] if the model refuses the input or does not output `[N, K]`.
    pub fn logits(
        &mut self,
        model: &mut dyn Layer,
        images: ArrayView4<f32>,
    ) -> Result<Array2<f32>, TrainError> {
        let n = images.dim().0;
        if self.replicas.is_empty() || n < 2 * self.replicas.len() {
            return to_matrix(model.forward(images.into_dyn(), Mode::Eval)?);
        }
        let params = model.parameters();
        let weights: Vec<&ArrayD<f32>> = params.iter().map(|(_, p)| &p.value).collect();
        let chunk = n.div_ceil(self.replicas.len());
        let parts: Vec<Result<Array2<f32>, TrainError>> = self
            .replicas
            .par_iter_mut()
            .enumerate()
            .map(|(r, replica)| {
                for ((_, p), w) in replica.parameters_mut().into_iter().zip(&weights) {
                    p.value.assign(w);
                }
                let start = (r * chunk).min(n);
                let end = (start + chunk).min(n);
                let part = images.slice(s![start..end, .., .., ..]);
                serial(|| to_matrix(replica.forward(part.into_dyn(), Mode::Eval)?))
            })
            .collect();
        let parts = parts.into_iter().collect::<Result<Vec<_>, _>>()?;
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views)
            .map_err(|e| TrainError::config(format!("model outputs of different widths: {e}")))
    }
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
    let add = |(i, start, total): (usize, usize, &mut [f32])| {
        let end = start + total.len();
        for grads in shard_grads {
            let all = grads[i].as_slice().expect("checked: standard layout");
            for (t, g) in total.iter_mut().zip(&all[start..end]) {
                *t += g;
            }
        }
    };
    if chunks.len() > 1 && use_threads() {
        chunks.into_par_iter().for_each(add);
    } else {
        chunks.into_iter().for_each(add);
    }
}

/// Whether `model` has state besides its parameters (buffers or counters) that only a
/// forward on the model itself updates.
pub(crate) fn has_state(model: &dyn Layer) -> bool {
    !model.buffers().is_empty() || !model.extra_state().is_empty()
}

/// Forward, loss and backward of one shard; returns the summed loss and the correct count.
fn shard_backward(
    model: &mut dyn Layer,
    loss_fn: &mut SoftmaxCrossEntropy,
    images: ArrayView4<f32>,
    labels: &[usize],
    batch_len: usize,
) -> Result<(f64, usize), TrainError> {
    let logits = model.forward(images.into_dyn(), Mode::Train)?;
    let loss = loss_fn.forward(logits.view(), labels)?;
    let correct = count_correct(&to_matrix(logits)?, labels);
    let mut grad = loss_fn.backward()?;
    grad *= labels.len() as f32 / batch_len as f32;
    model.backward_parameters(grad.view())?;
    Ok((f64::from(loss) * labels.len() as f64, correct))
}

/// A model output as `[N, K]` logits.
fn to_matrix(output: ArrayD<f32>) -> Result<Array2<f32>, TrainError> {
    let shape = output.shape().to_vec();
    output.into_dimensionality::<Ix2>().map_err(|_| {
        TrainError::config(format!(
            "the model must output logits of shape [N, classes], not {shape:?}"
        ))
    })
}

/// The index of each row's largest value (the first one on ties; NaN never wins).
pub(crate) fn argmax_rows(logits: &Array2<f32>) -> Vec<usize> {
    logits
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] || row[best].is_nan() {
                    best = i;
                }
            }
            best
        })
        .collect()
}

fn count_correct(logits: &Array2<f32>, labels: &[usize]) -> usize {
    argmax_rows(logits)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::lenet5;
    use ndarray::Array4;
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
    use std::sync::atomic::AtomicUsize;

    fn engines(model: &dyn Layer) -> Vec<DataParallel> {
        let factory: ModelFactory = Arc::new(|| Box::new(lenet5(&mut StdRng::seed_from_u64(1))));
        vec![
            DataParallel::sequential(16).unwrap(),
            DataParallel::with_replicas(16, 2, &factory, model).unwrap(),
        ]
    }

    #[test]
    fn meanwhile_runs_exactly_once_and_even_after_an_error() {
        let mut model = lenet5(&mut StdRng::seed_from_u64(0));
        let images = Array4::<f32>::zeros((40, 1, 28, 28));
        let good: Vec<usize> = (0..40).map(|i| i % 10).collect();
        let mut bad = good.clone();
        bad[39] = 10;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for mut engine in engines(&model) {
            for labels in [&good, &bad] {
                let runs = AtomicUsize::new(0);
                let (outcome, value) = pool.install(|| {
                    engine.gradient_and(&mut model, images.view(), labels, || {
                        runs.fetch_add(1, Ordering::Relaxed);
                        "next batch"
                    })
                });
                assert_eq!(outcome.is_ok(), labels == &good);
                assert_eq!(value, "next batch");
                assert_eq!(runs.into_inner(), 1, "{} replicas", engine.replicas());
            }
        }
    }
}
