//! [`RunSettings`]: a run's settings after the defaults and the checkpoint resumed
//! from were applied, and how they are stored in its checkpoints.

use crate::{OptimizerKind, RunConfig, ScheduleKind};
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
        }
    }
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
        saved("optimizer").and_then(|s| s.parse().ok()),
        OptimizerKind::Adam,
    )?;
    let lr = conflict.pick(
        "--lr",
        config.lr,
        saved("lr").and_then(|s| s.parse().ok()),
        optimizer.default_learning_rate(),
    )?;
    let schedule = conflict.pick(
        "--schedule",
        config.schedule,
        saved("schedule").and_then(|s| s.parse().ok()),
        ScheduleKind::Cosine,
    )?;
    let batch_size = conflict.pick(
        "--batch-size",
        config.batch_size,
        saved("batch_size").and_then(|s| s.parse().ok()),
        64,
    )?;
    let seed = conflict.pick("--seed", config.seed, Some(state.seed), 0)?;
    let saved_limit = saved("limit_train").map(|s| s.parse::<usize>().ok());
    let limit_train = match (config.limit_train, saved_limit) {
        (Some(given), Some(saved)) if Some(given) != saved => {
            let saved = saved.map_or_else(|| "none".to_string(), |n| n.to_string());
            return Err(conflict.error("--limit-train", &saved, given.to_string()));
        }
        (Some(given), _) => Some(given),
        (None, Some(saved)) => saved,
        (None, None) => None,
    };
    Ok(RunSettings {
        batch_size,
        optimizer,
        lr,
        schedule,
        seed,
        limit_train,
    })
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
