//! The test-set predictions file (`--predictions`), for comparison with PyTorch.

use safetensors::tensor::{Dtype, TensorView};
use scratchnet_train::{write_atomically, Evaluation, TrainError};
use std::collections::HashMap;
use std::path::Path;

/// Writes `evaluation`'s logits and predictions, with the true `labels`, as a
/// safetensors file (atomically):
///
/// | tensor | dtype | shape |
/// |---|---|---|
/// | `logits` | F32 | `[N, K]` |
/// | `predictions` | I64 | `[N]` |
/// | `labels` | I64 | `[N]` |
///
/// Read it in Python with `safetensors.numpy.load_file`.
///
/// # Errors
/// [`TrainError::Write`] if the file cannot be written; [`TrainError::Config`] if
/// `labels` and the evaluation differ in length.
pub fn write_predictions(
    path: &Path,
    evaluation: &Evaluation,
    labels: &[u8],
) -> Result<(), TrainError> {
    let n = evaluation.predictions.len();
    if labels.len() != n {
        return Err(TrainError::config(format!(
            "{} labels for {n} predictions",
            labels.len()
        )));
    }
    let logits: Vec<u8> = evaluation
        .logits
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let predictions: Vec<u8> = evaluation
        .predictions
        .iter()
        .flat_map(|&p| (p as i64).to_le_bytes())
        .collect();
    let labels: Vec<u8> = labels
        .iter()
        .flat_map(|&l| i64::from(l).to_le_bytes())
        .collect();
    let invalid = |e: safetensors::SafeTensorError| {
        TrainError::config(format!("cannot encode the predictions: {e}"))
    };
    let tensors = vec![
        (
            "logits",
            TensorView::new(Dtype::F32, evaluation.logits.shape().to_vec(), &logits)
                .map_err(invalid)?,
        ),
        (
            "predictions",
            TensorView::new(Dtype::I64, vec![n], &predictions).map_err(invalid)?,
        ),
        (
            "labels",
            TensorView::new(Dtype::I64, vec![n], &labels).map_err(invalid)?,
        ),
    ];
    let metadata = HashMap::from([("format".to_string(), "np".to_string())]);
    let bytes = safetensors::serialize(tensors, Some(metadata)).map_err(invalid)?;
    write_atomically(path, &bytes).map_err(|source| TrainError::Write {
        path: path.to_path_buf(),
        source,
    })
}
