//! [`RunSettings`]: a run's settings after the defaults and the checkpoint resumed
//! from were applied, and how they are stored in its checkpoints.

use crate::{DataSource, OptimizerKind, RunConfig, ScheduleKind};
use scratchnet_data::DatasetKind;
use scratchnet_train::{Checkpoint, CheckpointError, TrainError};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The resolved settings of a run (stored in its checkpoints' metadata).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// Training batch size.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// The base learning rate.
    pub lr: f32,
    /// The schedule.
    pub schedule: ScheduleKind,
    /// The seed.
    pub seed: u64,
    /// The training subset, if limited.
    pub limit_train: Option<usize>,
    /// Whether training images are shifted at random ([`RunConfig::augment`]).
    pub augment: bool,
    /// The fraction of an image folder's `train/` held out as the test set when it has
    /// no `test/` ([`RunConfig::val_fraction`]); `None` for the other datasets.
    pub val_fraction: Option<f64>,
}

impl RunSettings {
    /// The settings as checkpoint metadata entries.
    pub(crate) fn to_metadata(&self, dataset: &str, model: &str) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("model".into(), model.into());
        m.insert("dataset".into(), dataset.into());
        m.insert("batch_size".into(), self.batch_size.to_string());
        m.insert("optimizer".into(), self.optimizer.to_string());
        m.insert("lr".into(), self.lr.to_string());
        m.insert("schedule".into(), self.schedule.to_string());
        m.insert(
            "limit_train".into(),
            self.limit_train
                .map_or_else(|| "none".into(), |n| n.to_string()),
        );
        m.insert("augment".into(), self.augment.to_string());
        if let Some(fraction) = self.val_fraction {
            m.insert("val_fraction".into(), fraction.to_string());
        }
        m
    }

    /// The settings of a new run: explicit values, else the defaults.
    fn fresh(config: &RunConfig) -> Self {
        let optimizer = config.optimizer.unwrap_or(OptimizerKind::Adam);
        RunSettings {
            batch_size: config.batch_size.unwrap_or(64),
            optimizer,
            lr: config.lr.unwrap_or(optimizer.default_learning_rate()),
            schedule: config.schedule.unwrap_or(ScheduleKind::Cosine),
            seed: config.seed.unwrap_or(0),
            limit_train: config.limit_train,
            augment: config.augment,
            val_fraction: given_val_fraction(config),
        }
    }
}

/// The hold-out fraction of a run on an image folder without a checkpoint's: the given
/// one, else the folder options' (0.1 by default); `None` for the other datasets.
fn given_val_fraction(config: &RunConfig) -> Option<f64> {
    match &config.dataset {
        DataSource::Folder(options) => Some(config.val_fraction.unwrap_or(options.val_fraction)),
        _ => None,
    }
}

/// The hold-out fraction of a run on an image folder resumed from a checkpoint that
/// records `saved` (`val_fraction`): the given one, which must agree, else the saved
/// one. A checkpoint that does not record it (saved before it was recorded) resumes
/// with the given one, else the default, as a fresh run would
/// ([`unrecorded_val_fraction_note`] says so). `None` for the other datasets.
fn resumed_val_fraction(
    config: &RunConfig,
    saved: Option<&str>,
    conflict: &Conflict<'_>,
) -> Result<Option<f64>, TrainError> {
    let Some(fallback) = given_val_fraction(config) else {
        return Ok(None);
    };
    let saved = conflict.recorded::<f64>("--val-fraction", saved)?;
    if let Some(fraction) = saved.filter(|f| !(0.0..1.0).contains(f)) {
        return Err(conflict.unusable("--val-fraction", &fraction.to_string()));
    }
    conflict
        .pick("--val-fraction", config.val_fraction, saved, fallback)
        .map(Some)
}

/// The note of a run on an image folder resumed from the checkpoint at `path`, which
/// does not record the hold-out fraction (saved before it was recorded): the run holds
/// out `settings`' fraction, which may not be the one it was trained with.
pub(crate) fn unrecorded_val_fraction_note(
    path: &Path,
    checkpoint: &Checkpoint,
    settings: &RunSettings,
) -> Option<String> {
    let fraction = settings.val_fraction?;
    if checkpoint.metadata.contains_key("val_fraction") {
        return None;
    }
    Some(format!(
        "note: {} does not record --val-fraction (it was saved before that was recorded): \
         without test/, {fraction} of train/ is held out for testing; if it was trained with \
         another, give that --val-fraction",
        path.display()
    ))
}

/// The `--dataset` value of an IDX kind: `mnist` or `fashion` (see
/// [`DataSource::flag`](crate::DataSource::flag) for all).
pub fn dataset_flag(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::FashionMnist => "fashion",
        _ => "mnist",
    }
}

/// The settings: explicit values, else the checkpoint's (`resumed`, read from `path`),
/// else the defaults. An explicit value that contradicts the checkpoint is an error
/// naming its flag.
pub(crate) fn resolve_settings(
    config: &RunConfig,
    resumed: Option<(&Path, &Checkpoint)>,
) -> Result<RunSettings, TrainError> {
    let Some((path, checkpoint)) = resumed else {
        return Ok(RunSettings::fresh(config));
    };
    let state = checkpoint
        .training
        .as_ref()
        .ok_or_else(|| CheckpointError::NoTrainingState {
            path: path.to_path_buf(),
        })?;
    let saved = |key: &str| checkpoint.metadata.get(key).map(String::as_str);
    let conflict = Conflict { path };
    check_model_and_dataset(config, saved("model"), saved("dataset"), &conflict)?;
    let optimizer = conflict.pick(
        "--optimizer",
        config.optimizer,
        conflict.recorded("--optimizer", saved("optimizer"))?,
        OptimizerKind::Adam,
    )?;
    let saved_lr = conflict.recorded("--lr", saved("lr"))?;
    if let Some(lr) = saved_lr.filter(|lr: &f32| !(lr.is_finite() && *lr > 0.0)) {
        return Err(conflict.unusable("--lr", &lr.to_string()));
    }
    let lr = conflict.pick(
        "--lr",
        config.lr,
        saved_lr,
        optimizer.default_learning_rate(),
    )?;
    let schedule = conflict.pick(
        "--schedule",
        config.schedule,
        conflict.recorded("--schedule", saved("schedule"))?,
        ScheduleKind::Cosine,
    )?;
    let saved_batch = conflict.recorded("--batch-size", saved("batch_size"))?;
    if saved_batch == Some(0) {
        return Err(conflict.unusable("--batch-size", "0"));
    }
    let batch_size = conflict.pick("--batch-size", config.batch_size, saved_batch, 64)?;
    let seed = conflict.pick("--seed", config.seed, Some(state.seed), 0)?;
    let saved_limit = match saved("limit_train") {
        None => None,
        Some("none") => Some(None),
        recorded => Some(conflict.recorded("--limit-train", recorded)?),
    };
    let limit_train = match (config.limit_train, saved_limit) {
        (Some(given), Some(saved)) if Some(given) != saved => {
            let saved = saved.map_or_else(|| "none".to_string(), |n| n.to_string());
            return Err(conflict.error("--limit-train", &saved, given.to_string()));
        }
        (Some(given), _) => Some(given),
        (None, Some(saved)) => saved,
        (None, None) => None,
    };
    check_augment(config.augment, saved("augment"), &conflict)?;
    let val_fraction = resumed_val_fraction(config, saved("val_fraction"), &conflict)?;
    Ok(RunSettings {
        batch_size,
        optimizer,
        lr,
        schedule,
        seed,
        limit_train,
        augment: config.augment,
        val_fraction,
    })
}

/// A run must augment its training images as the checkpoint's did (`saved`, `true` or
/// `false`): resumed the other way, it would go on training on other images without a
/// word. Checkpoints that do not record it (older ones) pass. The example's flag is
/// `--no-augment` where augmenting is the default, `--augment` where it is not: the
/// message names both.
fn check_augment(
    augment: bool,
    saved: Option<&str>,
    conflict: &Conflict<'_>,
) -> Result<(), TrainError> {
    let Some(saved) = conflict.recorded::<bool>("augment", saved)? else {
        return Ok(());
    };
    if saved == augment {
        return Ok(());
    }
    let (was, fix) = if saved {
        (
            "with augmentation (random shifts of the training images), not without",
            "leave out --no-augment, or give --augment",
        )
    } else {
        (
            "without augmentation (random shifts of the training images), not with",
            "give --no-augment, or leave out --augment",
        )
    };
    Err(TrainError::config(format!(
        "{} was trained {was}: resume it the same way ({fix}, whichever this example takes)",
        conflict.path.display()
    )))
}

/// The checkpoint must hold the model of this example, trained on the same dataset.
fn check_model_and_dataset(
    config: &RunConfig,
    saved_model: Option<&str>,
    saved_dataset: Option<&str>,
    conflict: &Conflict<'_>,
) -> Result<(), TrainError> {
    if let Some(model) = saved_model {
        if model != config.model.name {
            return Err(TrainError::config(format!(
                "{} holds the model {model}, not {}: resume it with the example that trained it",
                conflict.path.display(),
                config.model.name
            )));
        }
    }
    match saved_dataset {
        Some(dataset) if dataset != config.dataset.flag() => {
            Err(conflict.error("--dataset", dataset, config.dataset.flag().to_string()))
        }
        _ => Ok(()),
    }
}

/// Settings given on the command line against those of the checkpoint at `path`.
struct Conflict<'a> {
    path: &'a Path,
}

impl Conflict<'_> {
    /// The error of `flag` given as `given` for a checkpoint trained with `saved`.
    fn error(&self, flag: &str, saved: &str, given: String) -> TrainError {
        TrainError::config(format!(
            "{} was trained with {flag} {saved}, not {given}: resume with the same value (or leave {flag} out)",
            self.path.display()
        ))
    }

    /// The error of a setting recorded in the checkpoint as `value`, which no run of
    /// this example records: a file edited by hand, or not written by a run.
    fn unusable(&self, flag: &str, value: &str) -> TrainError {
        TrainError::config(format!(
            "{} records {flag} {value:?}, which no run would have trained with (the file was edited or not written by this example): resume from another checkpoint, or start afresh without --resume",
            self.path.display()
        ))
    }

    /// The setting of `flag` the checkpoint records as `value`, parsed: `None` if it
    /// records none, an error ([`unusable`](Self::unusable)) if what it records is no
    /// value of `flag`.
    fn recorded<T: std::str::FromStr>(
        &self,
        flag: &str,
        value: Option<&str>,
    ) -> Result<Option<T>, TrainError> {
        value
            .map(|v| v.parse().map_err(|_| self.unusable(flag, v)))
            .transpose()
    }

    /// The given value, else the saved one, else `default`; a given value must agree
    /// with the saved one.
    fn pick<T: PartialEq + fmt::Display + Copy>(
        &self,
        flag: &str,
        given: Option<T>,
        saved: Option<T>,
        default: T,
    ) -> Result<T, TrainError> {
        match (given, saved) {
            (Some(g), Some(s)) if g != s => Err(self.error(flag, &s.to_string(), g.to_string())),
            (Some(g), _) => Ok(g),
            (None, Some(s)) => Ok(s),
            (None, None) => Ok(default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_settings;
    use crate::RunConfig;
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
    use scratchnet_layers::Dense;
    use scratchnet_train::{Adam, AdamConfig, Checkpoint, History};
    use std::path::Path;

    /// A setting the checkpoint records with a value no run writes (`lr` "fast", "0")
    /// was replaced by the default without a word, or failed later with a message
    /// that named neither the checkpoint nor a fix.
    #[test]
    fn recorded_settings_no_run_would_write_are_refused_naming_the_checkpoint() {
        let model = Dense::new(2, 2, &mut StdRng::seed_from_u64(0));
        let adam = Adam::new(AdamConfig::default()).unwrap();
        let checkpoint = |key: &str, value: &str| {
            Checkpoint::for_training(&model, &adam, 0, 0, &History::new()).with_metadata(key, value)
        };
        let path = Path::new("old.st");
        let config = RunConfig::default();
        for (key, value, flag) in [
            ("lr", "fast", "--lr"),
            ("lr", "0", "--lr"),
            ("lr", "NaN", "--lr"),
            ("batch_size", "x", "--batch-size"),
            ("batch_size", "0", "--batch-size"),
            ("schedule", "bogus", "--schedule"),
            ("optimizer", "lbfgs", "--optimizer"),
            ("limit_train", "many", "--limit-train"),
            ("augment", "sometimes", "augment"),
        ] {
            let err = resolve_settings(&config, Some((path, &checkpoint(key, value))))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("old.st records {flag} \"{value}\""))
                    && err.contains("without --resume"),
                "{key}={value}: {err}"
            );
        }
        for (key, value) in [
            ("lr", "0.01"),
            ("batch_size", "32"),
            ("limit_train", "none"),
            ("limit_train", "600"),
        ] {
            resolve_settings(&config, Some((path, &checkpoint(key, value))))
                .unwrap_or_else(|e| panic!("{key}={value}: {e}"));
        }
    }

    /// QA: resuming an `mnist_modern` run with `--no-augment` (or a `cifar10_cnn` run
    /// with `--augment`) was accepted without a word, while every other change of the
    /// recipe was refused. A fresh run records whether it augments; a resume the other
    /// way is refused naming the checkpoint and both flags; an older checkpoint, which
    /// records nothing, is accepted either way.
    #[test]
    fn resuming_with_the_other_augmentation_is_refused() {
        let model = Dense::new(2, 2, &mut StdRng::seed_from_u64(0));
        let adam = Adam::new(AdamConfig::default()).unwrap();
        let path = Path::new("run.st");
        let run = |augment| RunConfig {
            augment,
            ..RunConfig::default()
        };
        for trained in [true, false] {
            // What `run` writes into the checkpoints of a fresh run.
            let fresh = resolve_settings(&run(trained), None).unwrap();
            let mut checkpoint = Checkpoint::for_training(&model, &adam, 1, 0, &History::new());
            for (key, value) in fresh.to_metadata("mnist", "lenet5") {
                checkpoint = checkpoint.with_metadata(key, value);
            }
            let same = resolve_settings(&run(trained), Some((path, &checkpoint))).unwrap();
            assert_eq!(same.augment, trained);
            let err = resolve_settings(&run(!trained), Some((path, &checkpoint)))
                .unwrap_err()
                .to_string();
            let expected = if trained {
                "run.st was trained with augmentation (random shifts of the training images), \
                 not without: resume it the same way (leave out --no-augment, or give --augment, \
                 whichever this example takes)"
            } else {
                "run.st was trained without augmentation (random shifts of the training images), \
                 not with: resume it the same way (give --no-augment, or leave out --augment, \
                 whichever this example takes)"
            };
            assert!(err.ends_with(expected), "{err}");
        }
        let old = Checkpoint::for_training(&model, &adam, 1, 0, &History::new());
        for augment in [true, false] {
            let settings = resolve_settings(&run(augment), Some((path, &old))).unwrap();
            assert_eq!(settings.augment, augment);
        }
    }

    /// QA: an image folder's hold-out fraction was not recorded, so a resume with
    /// another `--val-fraction` trained on another split. A fresh run on a folder
    /// records it (other data does not); a resume takes it, refuses another one naming
    /// the flag, and refuses a recorded value no run writes; a checkpoint saved before
    /// it was recorded resumes with the given or default fraction, with a note.
    #[test]
    fn the_hold_out_fraction_is_recorded_and_checked_on_resume() {
        use super::unrecorded_val_fraction_note;
        use crate::DataSource;
        let model = Dense::new(2, 2, &mut StdRng::seed_from_u64(0));
        let adam = Adam::new(AdamConfig::default()).unwrap();
        let path = Path::new("f.st");
        let folder = |val_fraction| RunConfig {
            dataset: DataSource::Folder(scratchnet_data::FolderOptions::default()),
            val_fraction,
            ..RunConfig::default()
        };
        let fresh = resolve_settings(&folder(Some(0.25)), None).unwrap();
        let recorded = fresh.to_metadata("folder", "lenet5");
        assert_eq!(
            recorded.get("val_fraction").map(String::as_str),
            Some("0.25")
        );
        let mnist = resolve_settings(&RunConfig::default(), None).unwrap();
        assert!(!mnist
            .to_metadata("mnist", "lenet5")
            .contains_key("val_fraction"));
        assert_eq!(
            resolve_settings(&folder(None), None).unwrap().val_fraction,
            Some(0.1)
        );

        let mut checkpoint = Checkpoint::for_training(&model, &adam, 1, 0, &History::new());
        for (key, value) in recorded {
            checkpoint = checkpoint.with_metadata(key, value);
        }
        let resumed = |given, checkpoint: &Checkpoint| {
            resolve_settings(&folder(given), Some((path, checkpoint)))
        };
        assert_eq!(resumed(None, &checkpoint).unwrap().val_fraction, Some(0.25));
        assert_eq!(
            resumed(Some(0.25), &checkpoint).unwrap().val_fraction,
            Some(0.25)
        );
        let settings = resumed(None, &checkpoint).unwrap();
        assert_eq!(
            unrecorded_val_fraction_note(path, &checkpoint, &settings),
            None
        );
        let err = resumed(Some(0.5), &checkpoint).unwrap_err().to_string();
        assert!(
            err.ends_with("f.st was trained with --val-fraction 0.25, not 0.5: resume with the same value (or leave --val-fraction out)"),
            "{err}"
        );
        for value in ["half", "1", "-0.5", "NaN"] {
            let edited = checkpoint.clone().with_metadata("val_fraction", value);
            let err = resumed(None, &edited).unwrap_err().to_string();
            assert!(
                err.contains("f.st records --val-fraction"),
                "{value}: {err}"
            );
        }

        let old = Checkpoint::for_training(&model, &adam, 1, 0, &History::new());
        for (given, held_out) in [(None, 0.1), (Some(0.3), 0.3)] {
            let settings = resumed(given, &old).unwrap();
            assert_eq!(settings.val_fraction, Some(held_out));
            let note = unrecorded_val_fraction_note(path, &old, &settings).unwrap();
            assert!(
                note.starts_with("note: f.st does not record --val-fraction")
                    && note.contains(&format!("{held_out} of train/ is held out")),
                "{note}"
            );
        }
    }
}
