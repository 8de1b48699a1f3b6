//! The memory one training step takes, checked before a run trains against the memory
//! the machine has: a batch too large for it is refused at once, with the largest that
//! fits, instead of aborting ("memory allocation failed") or being killed in its first
//! step.

use scratchnet_layers::{group_thousands, Summary};
use std::path::Path;

/// Bytes a training step takes per element of a layer's per-sample output, per sample:
/// the forward keeps one `f32` (4 bytes) of each layer's output (or input) for the
/// backward, and the backward's gradients and the kernels' scratch add about a quarter.
///
/// Measured (2 threads, `--limit-train` of two batches, peak RSS by `/usr/bin/time -f
/// %M`) against [`StepMemory::activation_elements`], on the models that train the whole
/// batch at once: the peak grew by 1.11 (`fashion_resnet`, batch 4096 to 8192), 1.20
/// (`mnist_modern`, 1024 to 8192) and 1.11 (`mnist_lenet --kernels reference`, 1024 to
/// 8192) × 4 bytes per element and sample; the whole peak (data and evaluation
/// included) was 1.19, 1.22 and 1.19 × 4 bytes × batch at batch 8192 (10.0, 4.2 and
/// 0.57 GiB). Five bytes estimate those three peaks 5–9% high.
const BYTES_PER_OUTPUT_ELEMENT: u64 = 5;

/// How much memory a training step of one model takes, for any batch size: see
/// [`bytes`](Self::bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StepMemory {
    /// Elements of one sample's activations: the input and the output of every layer
    /// that holds no others (a container's output is its last layer's).
    pub activation_elements: u64,
    /// Elements of one input sample (`C×H×W`).
    pub input_elements: u64,
    /// The model's trainable scalars.
    pub parameters: u64,
    /// `Some((replicas, shard_size))` when the step computes its gradient in shards on
    /// model replicas ([`Trainer::replicas_for`](scratchnet_train::Trainer::replicas_for)),
    /// `None` when it takes the whole batch at once.
    pub replicas: Option<(usize, usize)>,
    /// Samples per evaluation batch (evaluated after the epoch's steps, whose forward
    /// caches the model may still hold).
    pub eval_batch: usize,
}

impl StepMemory {
    /// The step memory of the model `summary` describes, trained on `replicas` (as
    /// [`replicas`](Self::replicas)) and evaluated `eval_batch` samples at a time.
    pub fn of_model(
        summary: &Summary,
        replicas: Option<(usize, usize)>,
        eval_batch: usize,
    ) -> Self {
        let elements = |shape: &[usize]| shape.iter().map(|&d| d as u64).product::<u64>();
        let rows = &summary.rows;
        // A row holds no layers when the next row is not nested deeper.
        let leaves = rows
            .iter()
            .enumerate()
            .filter(|(i, row)| rows.get(i + 1).is_none_or(|next| next.depth <= row.depth));
        let input_elements = elements(&summary.input_shape);
        Self {
            activation_elements: input_elements
                + leaves
                    .map(|(_, row)| elements(&row.output_shape))
                    .sum::<u64>(),
            input_elements,
            parameters: summary.total_parameters() as u64,
            replicas,
            eval_batch,
        }
    }

    /// Bytes of one training step on `batch` samples, with the evaluation batch: a step
    /// on the whole batch holds every sample's activations
    /// ([`BYTES_PER_OUTPUT_ELEMENT`] each); a step on replicas holds the activations of
    /// one shard per replica, a gradient of every parameter per shard of the batch, and
    /// the batch's images twice (the next batch is assembled during the step).
    /// Saturates at `u64::MAX`.
    ///
    /// On replicas (`mnist_lenet`, 2 threads, measured as for
    /// [`BYTES_PER_OUTPUT_ELEMENT`]) the peak grew by 612 MiB from batch 64 to 30,000,
    /// estimated 619 MiB; to 8192 it grew by 125 MiB, estimated 168 MiB.
    pub fn bytes(&self, batch: usize) -> u64 {
        let per_sample = self.activation_elements as u128 * u128::from(BYTES_PER_OUTPUT_ELEMENT);
        let samples = |n: usize| n as u128 * per_sample;
        let step = match self.replicas {
            None => samples(batch),
            Some((replicas, shard_size)) => {
                let shards = batch.div_ceil(shard_size.max(1)) as u128;
                samples(replicas * shard_size.min(batch))
                    + shards * self.parameters as u128 * 4
                    + 2 * batch as u128 * self.input_elements as u128 * 4
            }
        };
        u64::try_from(step + samples(self.eval_batch)).unwrap_or(u64::MAX)
    }

    /// The largest batch of at most `limit` samples whose step takes at most `available`
    /// bytes; 0 if even one sample's does not fit.
    pub fn largest_batch(&self, available: u64, limit: usize) -> usize {
        last_fitting(limit, |batch| self.bytes(batch) <= available)
    }

    /// The largest evaluation batch of at most [`eval_batch`](Self::eval_batch) samples
    /// with which a step on `batch` samples takes at most `available` bytes; 0 if none
    /// does (not even without evaluating).
    pub fn largest_eval_batch(&self, available: u64, batch: usize) -> usize {
        last_fitting(self.eval_batch, |eval_batch| {
            Self {
                eval_batch,
                ..*self
            }
            .bytes(batch)
                <= available
        })
    }
}

/// The last `n` of `0..=limit` for which `fits(n)`, `fits` being true up to some `n` and
/// false after; 0 if only 0 (or nothing) fits.
fn last_fitting(limit: usize, fits: impl Fn(usize) -> bool) -> usize {
    let (mut fitting, mut too_big) = (0, limit.saturating_add(1));
    while too_big - fitting > 1 {
        let middle = fitting + (too_big - fitting) / 2;
        if fits(middle) {
            fitting = middle;
        } else {
            too_big = middle;
        }
    }
    fitting
}

/// The memory a run can still take, and what bounds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Available {
    /// Bytes.
    pub bytes: u64,
    /// Whether the process's address-space limit (`ulimit -v`) leaves less than the
    /// machine has available.
    pub address_space_limit: bool,
}

impl Available {
    /// What this is, for a message: "this machine has 21.9 GiB available".
    pub(crate) fn describe(&self) -> String {
        if self.address_space_limit {
            format!(
                "this process's address-space limit (ulimit -v) leaves {}",
                human_bytes(self.bytes)
            )
        } else {
            format!("this machine has {} available", human_bytes(self.bytes))
        }
    }
}

/// The memory this process can still take: `MemAvailable` of `/proc/meminfo`, or what
/// its address-space limit (`ulimit -v`) leaves if that is less. `None` where neither
/// is known (systems other than Linux): the check is then skipped.
pub(crate) fn available_memory() -> Option<Available> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let machine = read("/proc/meminfo").and_then(|text| mem_available(&text));
    let address_space = read("/proc/self/limits")
        .zip(read("/proc/self/status"))
        .and_then(|(limits, status)| address_space_left(&limits, &status));
    match (machine, address_space) {
        (Some(m), Some(a)) if a < m => Some(Available {
            bytes: a,
            address_space_limit: true,
        }),
        (Some(m), _) => Some(Available {
            bytes: m,
            address_space_limit: false,
        }),
        (None, Some(a)) => Some(Available {
            bytes: a,
            address_space_limit: true,
        }),
        (None, None) => None,
    }
}

/// `MemAvailable` of `/proc/meminfo`'s text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemAvailable:")
}

/// What the soft address-space limit of `/proc/self/limits`' text leaves beyond the
/// `VmSize` of `/proc/self/status`'s, in bytes; `None` when unlimited or unreadable.
fn address_space_left(limits: &str, status: &str) -> Option<u64> {
    let soft_limit = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max address space"))?
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()?; // "unlimited" does not parse
    Some(soft_limit.saturating_sub(kib_field(status, "VmSize:")?))
}

/// The value of the `name  1234 kB` line of `text`, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let value = text.lines().find_map(|line| line.strip_prefix(name))?;
    let kib = value
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kib.checked_mul(1024)
}

/// The evaluation batch of a run whose training step on batches of `batch_size` fits in
/// `available` (`None`, unknown: accepted), or the run's refusal. The step's batch is at
/// most the `images` there are to train on; the evaluation batch is at most
/// `memory.eval_batch` and the `test_images` there are, lowered to what fits beside the
/// training step, down to one image (an evaluation's results do not depend on its batch
/// size). `model` and `resumed` (the checkpoint the batch size is kept from, if the run
/// resumes one) are for the message, which says how much the step needs, how much there
/// is and the largest batch that fits.
///
/// # Errors
/// When the training step does not fit even with one test image evaluated at a time: the
/// message, naming `--batch-size` and the fix.
pub(crate) fn check_step_memory(
    memory: &StepMemory,
    batch_size: usize,
    images: usize,
    test_images: usize,
    model: &str,
    resumed: Option<&Path>,
    available: Option<Available>,
) -> Result<usize, String> {
    let eval_batch = memory.eval_batch.min(test_images);
    let Some(available) = available else {
        return Ok(eval_batch);
    };
    let batch = batch_size.min(images);
    let memory = &StepMemory {
        eval_batch,
        ..*memory
    };
    let fitting_eval = memory.largest_eval_batch(available.bytes, batch);
    if fitting_eval > 0 || (eval_batch == 0 && memory.bytes(batch) <= available.bytes) {
        return Ok(fitting_eval);
    }
    // The smallest evaluation batch: what is left is the training step's.
    let memory = &StepMemory {
        eval_batch: eval_batch.min(1),
        ..*memory
    };
    Err(step_too_large(
        memory, batch_size, images, model, resumed, available,
    ))
}

/// The refusal of a run whose training step on batches of `batch_size` (at most the
/// `images` there are) does not fit in `available` even with the smallest evaluation
/// batch (`memory.eval_batch`).
fn step_too_large(
    memory: &StepMemory,
    batch_size: usize,
    images: usize,
    model: &str,
    resumed: Option<&Path>,
    available: Available,
) -> String {
    let batch = batch_size.min(images);
    let all = if batch_size > images {
        format!(
            " (one batch of all {} training images)",
            group_thousands(images)
        )
    } else {
        String::new()
    };
    let evaluation = if memory.eval_batch > 0 {
        " (evaluating one test image at a time)"
    } else {
        ""
    };
    let problem = format!(
        "--batch-size {batch_size}{all} needs about {} for one training step of {model}{evaluation}; {}",
        human_bytes(memory.bytes(batch)),
        available.describe()
    );
    let largest = memory.largest_batch(available.bytes, batch);
    let smaller = format!(
        "a smaller --batch-size (at most about {})",
        group_thousands(largest)
    );
    match (largest, resumed) {
        (0, _) => format!(
            "{problem}, and even one training image needs about {}: train on smaller images (--image-size), or on a machine with more memory",
            human_bytes(memory.bytes(1))
        ),
        (_, Some(path)) => format!(
            "{problem}: resume {} on a machine with more memory, or start afresh with {smaller}",
            path.display()
        ),
        (_, None) => format!("{problem}: use {smaller}"),
    }
}

/// `bytes` in GiB with one decimal, or below 1 GiB in MiB, or below 1 MiB in KiB.
pub(crate) fn human_bytes(bytes: u64) -> String {
    let kib = bytes as f64 / 1024.0;
    if kib < 1024.0 {
        format!("{kib:.0} KiB")
    } else if kib < 1024.0 * 1024.0 {
        format!("{:.0} MiB", kib / 1024.0)
    } else {
        format!("{:.1} GiB", kib / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    /// A model of 100,000 activation elements per sample trained on the whole batch:
    /// 500 kB a sample.
    fn whole_batch() -> StepMemory {
        StepMemory {
            activation_elements: 100_000,
            input_elements: 784,
            parameters: 10_000,
            replicas: None,
            eval_batch: 0,
        }
    }

    #[test]
    fn a_step_that_fits_is_accepted_and_an_unknown_amount_skips_the_check() {
        let machine = |bytes| {
            Some(Available {
                bytes,
                address_space_limit: false,
            })
        };
        let memory = whole_batch();
        assert_eq!(memory.bytes(1000), 500_000_000);
        check_step_memory(
            &memory,
            1000,
            60_000,
            10_000,
            "m",
            None,
            machine(500_000_000),
        )
        .unwrap();
        check_step_memory(&memory, usize::MAX, 60_000, 10_000, "m", None, None).unwrap();
        // The batch is never larger than the training set.
        check_step_memory(&memory, 1_000_000, 1000, 10_000, "m", None, machine(GIB)).unwrap();
    }

    /// QA: `fashion_resnet --batch-size 60000` aborted with "memory allocation of
    /// 3010560000 bytes failed" (or was killed by the system) in its first step.
    #[test]
    fn a_step_too_large_is_refused_naming_the_flag_the_memory_and_the_largest_batch() {
        let memory = whole_batch();
        let available = Some(Available {
            bytes: 8 * GIB,
            address_space_limit: false,
        });
        let err = check_step_memory(&memory, 60_000, 60_000, 10_000, "resnet", None, available)
            .unwrap_err();
        // 8 GiB / 500 kB = 17,179.869184.
        assert_eq!(
            err,
            "--batch-size 60000 needs about 27.9 GiB for one training step of resnet; this \
             machine has 8.0 GiB available: use a smaller --batch-size (at most about 17,179)"
        );
        assert!(memory.bytes(17_179) <= 8 * GIB && memory.bytes(17_180) > 8 * GIB);

        let err = check_step_memory(
            &memory,
            usize::MAX,
            60_000,
            10_000,
            "resnet",
            None,
            available,
        )
        .unwrap_err();
        assert!(
            err.starts_with(&format!(
                "--batch-size {} (one batch of all 60,000 training images) needs about 27.9 GiB",
                usize::MAX
            )),
            "{err}"
        );
        // Resumed, the batch size is the checkpoint's: a smaller one starts afresh.
        let err = check_step_memory(
            &memory,
            60_000,
            60_000,
            10_000,
            "resnet",
            Some(Path::new("run.st")),
            available,
        )
        .unwrap_err();
        assert!(
            err.ends_with(
                ": resume run.st on a machine with more memory, or start afresh with a \
                 smaller --batch-size (at most about 17,179)"
            ),
            "{err}"
        );
        // Not even one image fits: a smaller batch is no fix.
        let tiny = Some(Available {
            bytes: 100_000,
            address_space_limit: true,
        });
        let err = check_step_memory(&memory, 64, 60_000, 10_000, "resnet", None, tiny).unwrap_err();
        assert!(
            err.contains("this process's address-space limit (ulimit -v) leaves 98 KiB")
                && err.ends_with(
                    "even one training image needs about 488 KiB: train on smaller images \
                     (--image-size), or on a machine with more memory"
                ),
            "{err}"
        );
    }

    /// On replicas a step holds one shard's activations per replica, whatever the
    /// batch, but a gradient per shard and the batch's images twice.
    #[test]
    fn a_step_on_replicas_holds_shards_not_the_whole_batch() {
        let memory = StepMemory {
            replicas: Some((2, 16)),
            eval_batch: 250,
            ..whole_batch()
        };
        let shards = 2 * 16 * 500_000;
        let evaluation = 250 * 500_000;
        assert_eq!(
            memory.bytes(16),
            shards + 40_000 + 2 * 16 * 784 * 4 + evaluation
        );
        // 1,001 samples: 63 shards.
        assert_eq!(
            memory.bytes(1001),
            shards + 63 * 40_000 + 2 * 1001 * 784 * 4 + evaluation
        );
        assert_eq!(memory.largest_batch(memory.bytes(1001), 60_000), 1001);
        assert_eq!(memory.largest_batch(u64::MAX, 60_000), 60_000);
        assert_eq!(memory.largest_batch(0, 60_000), 0);
    }

    /// QA: a 512×512 folder of 9 training images and 1 test image was refused at
    /// `--batch-size 1` ("even one image needs about 56.7 GiB"): the estimate added an
    /// evaluation batch of 250 images, when there was one to evaluate (and the
    /// evaluation's batch size does not change its results).
    #[test]
    fn the_evaluation_batch_is_at_most_the_test_images_and_shrinks_to_fit() {
        let memory = StepMemory {
            eval_batch: 250,
            ..whole_batch()
        };
        let available = |bytes| {
            Some(Available {
                bytes,
                address_space_limit: false,
            })
        };
        // A step on 4 images with 1 test image: 5 × 500 kB.
        assert_eq!(
            check_step_memory(&memory, 4, 9, 1, "m", None, available(2_500_000)),
            Ok(1)
        );
        // 1,000 test images, room for the step on 4 and 10 evaluated at a time.
        assert_eq!(
            check_step_memory(&memory, 4, 9, 1000, "m", None, available(7_000_000)),
            Ok(10)
        );
        assert_eq!(
            check_step_memory(&memory, 4, 9, 1000, "m", None, available(GIB)),
            Ok(250)
        );
        // Not even the step with one test image evaluated: the training batch is named.
        let err =
            check_step_memory(&memory, 4, 9, 1000, "m", None, available(2_000_000)).unwrap_err();
        assert_eq!(
            err,
            "--batch-size 4 needs about 2 MiB for one training step of m (evaluating one \
             test image at a time); this machine has 2 MiB available: use a smaller \
             --batch-size (at most about 3)"
        );
    }

    /// The sizes of the summary rows that hold no layers count, and the input;
    /// a container's own row does not (its output is its last layer's).
    #[test]
    fn activations_count_the_input_and_the_layers_that_hold_no_others() {
        use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
        use scratchnet_layers::{Dense, ReLU, Sequential};
        let rng = &mut StdRng::seed_from_u64(0);
        let inner = Sequential::new()
            .add("fc", Dense::new(8, 6, rng))
            .add("relu", ReLU::new());
        let model = Sequential::new()
            .add("block", inner)
            .add("out", Dense::new(6, 3, rng))
            .build(&[8])
            .unwrap();
        let memory = StepMemory::of_model(&model.summary().unwrap(), None, 0);
        assert_eq!(memory.activation_elements, 8 + 6 + 6 + 3);
        assert_eq!(memory.input_elements, 8);
        assert_eq!(memory.parameters, 8 * 6 + 6 + 6 * 3 + 3);
    }

    #[test]
    fn available_memory_is_read_from_proc() {
        let meminfo = "MemTotal:       24576000 kB\nMemAvailable:   23198148 kB\n";
        assert_eq!(mem_available(meminfo), Some(23_198_148 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max address space         3072000000           unlimited            bytes     \n";
        let status = "Name:\tx\nVmSize:\t  100000 kB\n";
        assert_eq!(
            address_space_left(limits, status),
            Some(3_072_000_000 - 100_000 * 1024)
        );
        let unlimited = limits.replace("3072000000", "unlimited ");
        assert_eq!(address_space_left(&unlimited, status), None);
        // This machine's, when it is Linux.
        if cfg!(target_os = "linux") {
            assert!(available_memory().is_some_and(|a| a.bytes > 0));
        }
    }
}
