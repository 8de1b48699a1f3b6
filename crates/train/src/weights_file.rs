//! What a file of weights without a training state is, read from its header alone: a
//! run asked to `--resume` from one says to give it to `--init-weights` instead, which
//! would refuse a `--predictions` file and tensors stored in a type other than F32, so
//! those are named first.

use crate::checkpoint_error::{CheckpointError, TensorProblem};
use crate::checkpoint_file::CheckpointFile;
use crate::mismatch_summary::{conversion_fix, is_predictions_file};
use crate::optimizer_state::OPTIMIZER_PREFIX;
use safetensors::Dtype;
use std::path::Path;

/// Why the safetensors file at `path` cannot be loaded as any model's weights, judged
/// from its header: it is a `--predictions` file (its tensors are `logits`,
/// `predictions` and `labels`), or model tensors are stored in a type other than F32
/// (or I64) — the message then says how to convert them. `None` if neither.
///
/// # Errors
/// As [`Checkpoint::load`](crate::Checkpoint::load) for a file that cannot be read or
/// has no valid safetensors header.
pub fn weights_file_problem(path: &Path) -> Result<Option<String>, CheckpointError> {
    let file = CheckpointFile::open(path, None)?;
    let tensors = file.header().tensors();
    let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
    if is_predictions_file(&names) {
        return Ok(Some(
            "it is a --predictions file (a test set's logits, predictions and labels), not a \
             model: give the checkpoint its run saved (the --save path)"
                .to_owned(),
        ));
    }
    let wrong_types: Vec<TensorProblem> = (tensors.iter())
        .filter(|(name, info)| {
            !name.starts_with(OPTIMIZER_PREFIX) && !matches!(info.dtype, Dtype::F32 | Dtype::I64)
        })
        .map(|(name, info)| TensorProblem::WrongDtype {
            name: name.clone(),
            found: format!("{:?}", info.dtype),
            allowed: "F32",
        })
        .collect();
    Ok(conversion_fix(&wrong_types.iter().collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    fn write(path: &Path, tensors: &[(&str, Dtype)]) {
        let data = [0u8; 8];
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|&(name, dtype)| {
                let len = 64 / dtype.bitsize();
                let view = TensorView::new(dtype, vec![len], &data[..8]).unwrap();
                (name.to_string(), view)
            })
            .collect();
        safetensors::serialize_to_file(views, None, path).unwrap();
    }

    #[test]
    fn predictions_and_other_types_are_named_and_plain_weights_pass() {
        let dir = tempfile::tempdir().unwrap();
        let predictions = dir.path().join("pr.st");
        write(
            &predictions,
            &[
                ("logits", Dtype::F32),
                ("predictions", Dtype::I64),
                ("labels", Dtype::I64),
            ],
        );
        let problem = weights_file_problem(&predictions).unwrap().unwrap();
        assert!(
            problem.starts_with("it is a --predictions file"),
            "{problem}"
        );

        let half = dir.path().join("bf16.st");
        write(
            &half,
            &[
                ("fc.weight", Dtype::BF16),
                ("fc.bias", Dtype::BF16),
                ("bn.num_batches_tracked", Dtype::I64),
            ],
        );
        let problem = weights_file_problem(&half).unwrap().unwrap();
        assert!(
            problem.starts_with("2 tensors are stored as BF16 where only F32")
                && problem.contains("v.float()"),
            "{problem}"
        );

        let plain = dir.path().join("w.st");
        write(
            &plain,
            &[("fc.weight", Dtype::F32), ("fc.bias", Dtype::F32)],
        );
        assert_eq!(weights_file_problem(&plain).unwrap(), None);
    }
}
