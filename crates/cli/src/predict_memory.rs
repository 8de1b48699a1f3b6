//! How many images `predict` classifies at a time: its `--batch-size`, lowered to what
//! fits in the memory there is (predict's results do not depend on the batch size), or
//! refused when not even one image fits — instead of aborting with "memory allocation
//! failed".

use crate::step_memory::{available_memory, human_bytes, Available, StepMemory};
use scratchnet_layers::{group_thousands, Summary};

/// The batch `predict` classifies at a time, and the line that says so when it is
/// smaller than `--batch-size` asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PredictBatch {
    /// Images decoded and classified at a time (at least 1).
    pub size: usize,
    /// Why `size` is smaller than the `--batch-size` asked, when it is.
    pub note: Option<String>,
}

/// The batch of at most `batch_size` (and at most the `images` there are) whose
/// forward through the model `summary` describes fits in the memory this process can
/// still take, with one image's saliency (a forward and a backward) when `explain`.
/// The estimate is the training step's (the run's memory check): every layer's output kept
/// for each image of the batch.
///
/// # Errors
/// When not even one image fits: one line naming the memory needed and the fix.
pub fn predict_batch_size(
    summary: &Summary,
    batch_size: usize,
    images: usize,
    explain: bool,
) -> Result<PredictBatch, String> {
    let memory = StepMemory::of_model(summary, None, usize::from(explain));
    choose_predict_batch(&memory, batch_size, images, available_memory())
}

/// [`predict_batch_size`] against `available` (`None`, unknown: `batch_size` is kept).
fn choose_predict_batch(
    memory: &StepMemory,
    batch_size: usize,
    images: usize,
    available: Option<Available>,
) -> Result<PredictBatch, String> {
    let batch = batch_size.min(images).max(1);
    let keep = PredictBatch {
        size: batch_size.max(1),
        note: None,
    };
    let Some(available) = available else {
        return Ok(keep);
    };
    let needed = memory.bytes(batch);
    if needed <= available.bytes {
        return Ok(keep);
    }
    let problem = format!(
        "--batch-size {batch_size} needs about {} to classify {} images at a time; {}",
        human_bytes(needed),
        group_thousands(batch),
        available.describe()
    );
    match memory.largest_batch(available.bytes, batch) {
        0 => Err(format!(
            "{problem}, and even one image needs about {}: classify on a machine with more memory",
            human_bytes(memory.bytes(1))
        )),
        largest => Ok(PredictBatch {
            size: largest,
            note: Some(format!(
                "{problem}: classifying {} at a time instead (the results are the same for any batch size)",
                group_thousands(largest)
            )),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100,000 activation elements per image: 500 kB an image.
    fn memory(explain: bool) -> StepMemory {
        StepMemory {
            activation_elements: 100_000,
            input_elements: 3 * 320 * 320,
            parameters: 10_000,
            replicas: None,
            eval_batch: usize::from(explain),
        }
    }

    fn limit(bytes: u64) -> Option<Available> {
        Some(Available {
            bytes,
            address_space_limit: true,
        })
    }

    /// QA: `predict --model r320.safetensors many/*.jpg` (256 images of a 3×320×320
    /// model, default --batch-size 256) under `ulimit -v 4000000` aborted with "memory
    /// allocation of 3355443200 bytes failed" (exit 134).
    #[test]
    fn a_batch_too_large_for_the_memory_is_lowered_to_the_largest_that_fits() {
        let chosen = choose_predict_batch(&memory(false), 256, 1000, limit(20_000_000)).unwrap();
        assert_eq!(chosen.size, 40);
        assert_eq!(
            chosen.note.as_deref(),
            Some(
                "--batch-size 256 needs about 122 MiB to classify 256 images at a time; this \
                 process's address-space limit (ulimit -v) leaves 19 MiB: classifying 40 at a \
                 time instead (the results are the same for any batch size)"
            )
        );
        // --explain adds one image's saliency.
        let chosen = choose_predict_batch(&memory(true), 256, 1000, limit(20_000_000)).unwrap();
        assert_eq!(chosen.size, 39);
    }

    #[test]
    fn a_batch_that_fits_or_unknown_memory_keeps_the_batch_size() {
        let keep = PredictBatch {
            size: 256,
            note: None,
        };
        assert_eq!(
            choose_predict_batch(&memory(false), 256, 1000, limit(200_000_000)),
            Ok(keep.clone())
        );
        assert_eq!(
            choose_predict_batch(&memory(false), 256, 1000, None),
            Ok(keep.clone())
        );
        // Only the images there are count: 10 images fit in 5 MB.
        assert_eq!(
            choose_predict_batch(&memory(false), 256, 10, limit(5_000_000)),
            Ok(keep)
        );
    }

    #[test]
    fn not_even_one_image_fitting_is_refused_in_one_line() {
        let err = choose_predict_batch(&memory(true), 256, 1000, limit(600_000)).unwrap_err();
        assert!(
            err.starts_with("--batch-size 256 needs about")
                && err.ends_with(
                    "even one image needs about 977 KiB: classify on a machine with more memory"
                ),
            "{err}"
        );
    }
}
