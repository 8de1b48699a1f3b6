//! The checkpoint of a run's best epoch ([`TrainConfig::best_path`](crate::TrainConfig::best_path)):
//! replaced only by an epoch of lower test loss, so a worse epoch never takes its place.

use crate::{check_writable, Checkpoint, CheckpointError, History, SaveLock, TrainError};
use scratchnet_layers::Layer;
use std::path::{Path, PathBuf};

/// Where the best epoch's checkpoint goes, and the test loss an epoch must beat to
/// replace it: the lowest of the history's epochs (a resumed run's earlier ones
/// included) and of the checkpoint already at the path.
pub(crate) struct BestCheckpoint {
    path: PathBuf,
    /// The test loss to beat; `+∞` when nothing is known yet.
    to_beat: f64,
    /// One run at a time writes the file, as for `save_path`.
    _lock: SaveLock,
}

impl BestCheckpoint {
    /// Checks that `path` can be written and takes its lock. An existing file must be a
    /// checkpoint of `model` (its parameters, by name and shape) that records its test
    /// loss: it is kept until an epoch beats that loss.
    ///
    /// # Errors
    /// [`TrainError::Config`] for a file at `path` that is not such a checkpoint (it is
    /// never replaced); the errors of [`check_writable`] and [`SaveLock::acquire`].
    pub(crate) fn open(
        path: &Path,
        model: &dyn Layer,
        history: &History,
    ) -> Result<Self, TrainError> {
        check_writable(path).map_err(|source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let lock = SaveLock::acquire(path)?;
        let earlier = history.epochs.iter().map(|e| e.test_loss);
        let on_disk = path
            .exists()
            .then(|| recorded_test_loss(path, model))
            .transpose()?;
        let to_beat = earlier
            .chain(on_disk)
            .filter(|loss| loss.is_finite())
            .fold(f64::INFINITY, f64::min);
        Ok(Self {
            path: path.to_path_buf(),
            to_beat,
            _lock: lock,
        })
    }

    /// Whether an epoch of test loss `test_loss` is better than every one before it.
    pub(crate) fn is_beaten_by(&self, test_loss: f64) -> bool {
        test_loss < self.to_beat
    }

    /// Saves `checkpoint`, the model after an epoch of test loss `test_loss` that
    /// [beats](Self::is_beaten_by) the best so far.
    pub(crate) fn replace(
        &mut self,
        checkpoint: &Checkpoint,
        test_loss: f64,
    ) -> Result<(), TrainError> {
        checkpoint.save(&self.path)?;
        self.to_beat = test_loss;
        Ok(())
    }
}

/// The test loss of the last epoch the checkpoint at `path` records, after checking
/// that it holds `model`'s parameters.
fn recorded_test_loss(path: &Path, model: &dyn Layer) -> Result<f64, TrainError> {
    let refuse = |why: &str| {
        TrainError::config(format!(
            "best checkpoint {}: {why}, so it is not replaced; give the best checkpoint another path, or remove the file",
            path.display()
        ))
    };
    let checkpoint = Checkpoint::load(path).map_err(|e| refuse(&format!("exists but {e}")))?;
    // The check `apply_to` makes: every parameter and buffer, by name, shape and type.
    if checkpoint.values_for(model).is_err() {
        return Err(refuse("holds another model's checkpoint"));
    }
    checkpoint
        .training
        .and_then(|t| t.history.epochs.last().map(|e| e.test_loss))
        .ok_or_else(|| refuse("holds no test loss to compare with (weights only)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EpochMetrics;
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
    use scratchnet_layers::{Dense, Flatten, Sequential};

    fn model(inputs: usize) -> Sequential {
        Sequential::new()
            .add("flatten", Flatten::new())
            .add("fc", Dense::new(inputs, 2, &mut StdRng::seed_from_u64(0)))
            .build(&[1, 1, inputs])
            .unwrap()
    }

    fn history(losses: &[f64]) -> History {
        let epochs = (losses.iter().enumerate())
            .map(|(i, &test_loss)| EpochMetrics {
                epoch: i + 1,
                train_loss: 1.0,
                train_accuracy: 0.5,
                test_loss,
                test_accuracy: 0.5,
                seconds: 1.0,
                samples_per_second: 1.0,
            })
            .collect();
        History { epochs }
    }

    #[test]
    fn only_a_lower_test_loss_replaces_the_best() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("best.st");
        let m = model(3);
        let mut best = BestCheckpoint::open(&path, &m, &history(&[0.5, 0.3, 0.4])).unwrap();
        assert!(!best.is_beaten_by(0.35), "worse than epoch 2");
        assert!(best.is_beaten_by(0.25));
        best.replace(&Checkpoint::from_model(&m), 0.25).unwrap();
        assert!(path.exists());
        assert!(!best.is_beaten_by(f64::NAN));
        assert!(!best.is_beaten_by(0.25), "a tie keeps the first");
        assert!(best.is_beaten_by(0.2));
    }

    #[test]
    fn a_file_at_the_path_is_kept_unless_it_is_a_checkpoint_of_the_model_with_a_test_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("best.st");
        std::fs::write(&path, "notes").unwrap();
        let m = model(3);
        let err = BestCheckpoint::open(&path, &m, &History::new())
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not replaced"), "{err}");
        Checkpoint::from_model(&model(4)).save(&path).unwrap();
        let err = BestCheckpoint::open(&path, &m, &History::new())
            .err()
            .unwrap();
        assert!(err.to_string().contains("another model"), "{err}");
        Checkpoint::from_model(&m).save(&path).unwrap();
        let err = BestCheckpoint::open(&path, &m, &History::new())
            .err()
            .unwrap();
        assert!(err.to_string().contains("no test loss"), "{err}");
        // (Left as it was: the header's metadata order may differ between writes.)
        let kept = Checkpoint::load(&path).unwrap();
        assert!(kept.training.is_none() && kept.tensors == Checkpoint::from_model(&m).tensors);
    }

    #[test]
    fn a_best_checkpoint_on_disk_is_beaten_only_by_a_lower_test_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("best.st");
        let m = model(3);
        let adam = crate::Adam::new(crate::AdamConfig::adam(1e-3)).unwrap();
        let earlier = Checkpoint::for_training(&m, &adam, 2, 0, &history(&[0.4, 0.2]));
        earlier.save(&path).unwrap();
        // This run's history (a fresh run) knows nothing better than 0.3; the file does.
        let best = BestCheckpoint::open(&path, &m, &history(&[0.3])).unwrap();
        assert!(!best.is_beaten_by(0.25));
        assert!(best.is_beaten_by(0.15));
    }
}
