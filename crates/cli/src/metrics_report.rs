//! The JSON metrics file of a run (`--metrics`).

use scratchnet_train::{write_atomically, EpochMetrics, Evaluation, History, TrainError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A run's metrics, as written by `--metrics`:
///
/// ```json
/// {"parameters": 61706, "dataset": "mnist", "threads": 2, "batch_size": 64, "seed": 0,
///  "epochs": [{"epoch": 1, "train_loss": 0.21, "train_accuracy": 0.935, "test_loss": 0.06,
///              "test_accuracy": 0.981, "seconds": 6.2, "samples_per_second": 9677.4}, …],
///  "per_class_accuracy": [0.996, …], "confusion_matrix": [[977, 0, …], …]}
/// ```
///
/// Accuracies are fractions; `seconds` is an epoch's training time without its
/// evaluation. The last two entries describe the final model on the test split
/// (`confusion_matrix[label][prediction]`; `null` accuracy for a class with no samples).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// Trainable scalars of the model.
    pub parameters: usize,
    /// `"mnist"` or `"fashion"`.
    pub dataset: String,
    /// Threads of the rayon pool.
    pub threads: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// The run's seed.
    pub seed: u64,
    /// Every epoch of the run (including those before a resume).
    pub epochs: Vec<EpochMetrics>,
    /// Test accuracy of each class for the final model.
    pub per_class_accuracy: Vec<Option<f64>>,
    /// Test confusion matrix of the final model, `[label][prediction]`.
    pub confusion_matrix: Vec<Vec<u64>>,
}

impl MetricsReport {
    /// A report of `history` and the final `evaluation`, with the run's facts.
    pub fn new(
        parameters: usize,
        dataset: impl Into<String>,
        threads: usize,
        batch_size: usize,
        seed: u64,
        history: &History,
        evaluation: &Evaluation,
    ) -> Self {
        Self {
            parameters,
            dataset: dataset.into(),
            threads,
            batch_size,
            seed,
            epochs: history.epochs.clone(),
            per_class_accuracy: evaluation.confusion.per_class_accuracy(),
            confusion_matrix: evaluation.confusion.counts().to_vec(),
        }
    }

    /// Writes the report as pretty JSON to `path`, atomically.
    ///
    /// # Errors
    /// [`TrainError::Write`] if the file cannot be written (an old file is kept).
    pub fn write(&self, path: &Path) -> Result<(), TrainError> {
        let mut json = serde_json::to_string_pretty(self).expect("plain data serialises to JSON");
        json.push('\n');
        write_atomically(path, json.as_bytes()).map_err(|source| TrainError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scratchnet_train::ConfusionMatrix;

    #[test]
    fn writes_the_documented_json() {
        let history = History {
            epochs: vec![EpochMetrics {
                epoch: 1,
                train_loss: 0.5,
                train_accuracy: 0.875,
                test_loss: 0.25,
                test_accuracy: 0.5,
                seconds: 2.0,
                samples_per_second: 3000.0,
            }],
        };
        let mut confusion = ConfusionMatrix::new(2);
        confusion.record(0, 0);
        confusion.record(1, 0);
        let evaluation = Evaluation {
            loss: 0.25,
            accuracy: 0.5,
            confusion,
            predictions: vec![0, 0],
            logits: ndarray::Array2::zeros((2, 2)),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        MetricsReport::new(61_706, "mnist", 2, 64, 0, &history, &evaluation)
            .write(&path)
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "parameters": 61706, "dataset": "mnist", "threads": 2, "batch_size": 64, "seed": 0,
                "epochs": [{"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.875, "test_loss": 0.25,
                            "test_accuracy": 0.5, "seconds": 2.0, "samples_per_second": 3000.0}],
                "per_class_accuracy": [1.0, 0.0],
                "confusion_matrix": [[1, 0], [1, 0]]
            })
        );
        let err = MetricsReport::new(1, "mnist", 1, 1, 0, &history, &evaluation)
            .write(&dir.path().join("missing/m.json"))
            .unwrap_err();
        assert!(err.to_string().starts_with("cannot write "), "{err}");
    }
}
