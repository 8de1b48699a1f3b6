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
    let unexpected = unexpected_names(problems);
    if is_predictions_file(&unexpected) {
        return "it is a --predictions file (a test set's logits, predictions and labels), \
                not a model: give the checkpoint its run saved (the --save path)"
            .to_string();
    }
    let mut parts = Vec::new();
    let (wrong_types, others) = split_wrong_types(problems);
    if let Some(total) = model_tensors {
        // A tensor of the right name stored in another type counts as this model's.
        let matching = total.saturating_sub(others.len() - unexpected.len());
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
    if let Some(conversion) = conversion_fix(&wrong_types) {
        parts.push(conversion);
    }
    parts.extend(problems.iter().take(LISTED_PROBLEMS).map(|p| p.to_string()));
    if problems.len() > LISTED_PROBLEMS {
        parts.push(format!("and {} more", problems.len() - LISTED_PROBLEMS));
    }
    parts.join("; ")
}

/// Whether [`summarize_mismatch`]'s message for `problems` ends with its own fix, which
/// another would contradict: a `--predictions` file (give the run's checkpoint), or
/// tensors that only need converting to F32.
pub(crate) fn names_its_fix(problems: &[TensorProblem]) -> bool {
    is_predictions_file(&unexpected_names(problems))
        || (problems.iter()).all(|p| matches!(p, TensorProblem::WrongDtype { .. }))
}

/// The names of the [`TensorProblem::Unexpected`] tensors of `problems`.
fn unexpected_names(problems: &[TensorProblem]) -> Vec<&str> {
    problems
        .iter()
        .filter_map(|p| match p {
            TensorProblem::Unexpected { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// Whether a file whose tensors (besides a model's) are `names` is a `--predictions`
/// file: `logits`, and no other than `predictions` and `labels`.
pub(crate) fn is_predictions_file(names: &[&str]) -> bool {
    names.contains(&"logits") && names.iter().all(|n| PREDICTIONS_TENSORS.contains(n))
}

/// The [`TensorProblem::WrongDtype`] problems of `problems`, and the others.
fn split_wrong_types(problems: &[TensorProblem]) -> (Vec<&TensorProblem>, Vec<&TensorProblem>) {
    problems
        .iter()
        .partition(|p| matches!(p, TensorProblem::WrongDtype { .. }))
}

/// What to do about tensors stored in a type that cannot be loaded (`wrong_types`, all
/// [`TensorProblem::WrongDtype`]): how many, in which types, and how to convert them to
/// float32 in PyTorch. `None` if there are none.
pub(crate) fn conversion_fix(wrong_types: &[&TensorProblem]) -> Option<String> {
    let mut types: Vec<&str> = wrong_types
        .iter()
        .filter_map(|p| match p {
            TensorProblem::WrongDtype { found, .. } => Some(found.as_str()),
            _ => None,
        })
        .collect();
    types.sort_unstable();
    types.dedup();
    if types.is_empty() {
        return None;
    }
    let count = wrong_types.len();
    let (tensors, them) = if count == 1 {
        ("tensor is", "it")
    } else {
        ("tensors are", "them")
    };
    Some(format!(
        "{count} {tensors} stored as {} where only F32 (and I64 for counters) can be \
         loaded: convert {them} to float32, e.g. `{{k: v.float() for k, v in sd.items()}}` \
         before safetensors.torch.save_file",
        types.join(" and ")
    ))
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

    /// QA: a PyTorch state_dict of this very model, saved in bfloat16, was said to be
    /// "not a checkpoint of this model: 0 of its 10 tensors are in the file …".
    #[test]
    fn tensors_of_another_type_are_to_be_converted_not_another_model() {
        let problems: Vec<TensorProblem> = (0..10)
            .map(|i| TensorProblem::WrongDtype {
                name: format!("t{i}"),
                found: "BF16".into(),
                allowed: "F32",
            })
            .collect();
        let message = summarize_mismatch(&problems, Some(10));
        assert!(
            message.starts_with(
                "10 tensors are stored as BF16 where only F32 (and I64 for counters) can be \
                 loaded: convert them to float32, e.g. `{k: v.float() for k, v in \
                 sd.items()}` before safetensors.torch.save_file; tensor t0 is stored as \
                 BF16, but only F32 can be loaded; "
            ),
            "{message}"
        );
        assert!(
            !message.contains("not a checkpoint of this model"),
            "{message}"
        );
    }
}
