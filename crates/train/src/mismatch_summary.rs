//! The message of a [`CheckpointError::Mismatch`](crate::CheckpointError::Mismatch):
//! one short line whatever the number of differences (a file of another model can
//! differ in a hundred tensors), which says so when the file is not a checkpoint of
//! the model at all, or is a `--predictions` file.

use crate::checkpoint_error::TensorProblem;

/// The differences a message names; the rest are counted ("and 97 more").
pub(crate) const LISTED_PROBLEMS: usize = 4;

/// The tensors of a file written by the command line's `--predictions`.
const PREDICTIONS_TENSORS: [&str; 3] = ["labels", "logits", "predictions"];

/// The message for `problems` (in name order), of a model of `model_tensors`
/// parameters and buffers if known: at most [`LISTED_PROBLEMS`] of them, each as
/// [`TensorProblem`]'s `Display`, then how many more. When fewer than half of the
/// model's tensors are in the file as the model has them, it first says that it is
/// not a checkpoint of this model, and how many match; a file whose only other
/// tensors are `logits`, `predictions` and `labels` is named a `--predictions` file.
pub(crate) fn summarize_mismatch(
    problems: &[TensorProblem],
    model_tensors: Option<usize>,
) -> String {
    let unexpected: Vec<&str> = problems
        .iter()
        .filter_map(|p| match p {
            TensorProblem::Unexpected { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if unexpected.contains(&"logits") && unexpected.iter().all(|n| PREDICTIONS_TENSORS.contains(n))
    {
        return "it is a --predictions file (a test set's logits, predictions and labels), \
                not a model: give the checkpoint its run saved (the --save path)"
            .to_string();
    }
    let mut parts = Vec::new();
    if let Some(total) = model_tensors {
        let matching = total.saturating_sub(problems.len() - unexpected.len());
        if matching * 2 < total {
            let others = match unexpected.len() {
                0 => String::new(),
                n => format!(", which has {n} other tensor(s)"),
            };
            parts.push(format!(
                "it is not a checkpoint of this model: {matching} of its {total} tensors are in \
                 the file with the model's shape and type{others}"
            ));
        }
    }
    parts.extend(problems.iter().take(LISTED_PROBLEMS).map(|p| p.to_string()));
    if problems.len() > LISTED_PROBLEMS {
        parts.push(format!("and {} more", problems.len() - LISTED_PROBLEMS));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(name: &str) -> TensorProblem {
        TensorProblem::Missing {
            name: name.into(),
            expected: vec![2],
        }
    }

    fn unexpected(name: &str) -> TensorProblem {
        TensorProblem::Unexpected {
            name: name.into(),
            shape: vec![3],
        }
    }

    #[test]
    fn a_few_problems_are_all_listed() {
        let problems = [missing("fc.bias"), unexpected("fc.extra")];
        assert_eq!(
            summarize_mismatch(&problems, Some(10)),
            "missing tensor fc.bias (the model has it with shape [2]); \
             unexpected tensor fc.extra of shape [3] (the model has no such tensor)"
        );
    }

    #[test]
    fn another_models_file_is_named_so_in_a_short_line() {
        let mut problems: Vec<TensorProblem> = (0..10).map(|i| missing(&format!("m{i}"))).collect();
        problems.extend((0..100).map(|i| unexpected(&format!("u{i:03}"))));
        let message = summarize_mismatch(&problems, Some(10));
        assert!(
            message.starts_with(
                "it is not a checkpoint of this model: 0 of its 10 tensors are in the file \
                 with the model's shape and type, which has 100 other tensor(s); missing tensor m0"
            ),
            "{message}"
        );
        assert!(message.ends_with("; and 106 more"), "{message}");
        assert!(message.len() < 600, "{} bytes: {message}", message.len());
    }

    #[test]
    fn a_predictions_file_is_recognised() {
        let mut problems = vec![missing("conv1.bias"), missing("conv1.weight")];
        problems.extend(PREDICTIONS_TENSORS.map(unexpected));
        let message = summarize_mismatch(&problems, Some(2));
        assert!(
            message.starts_with("it is a --predictions file"),
            "{message}"
        );
        // A file with other tensors besides is not taken for one.
        problems.push(unexpected("fc.weight"));
        let message = summarize_mismatch(&problems, Some(2));
        assert!(!message.contains("--predictions"), "{message}");
    }
}
