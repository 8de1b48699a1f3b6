//! The errors of a dataset folder named by an environment variable (`MNIST_DIR`,
//! `FASHION_MNIST_DIR`, `CIFAR10_DIR`): such a folder is only read, never downloaded
//! into, so what the loader reports about it becomes [`DataError::EnvDirUnusable`],
//! which names the variable and says to fill the folder or unset the variable.

use std::path::Path;

use crate::cifar10::{cifar10_default_dir, CIFAR10_BATCHES_DIR, CIFAR10_DIR_ENV, CIFAR10_URL};
use crate::error::DataError;
use crate::kind::DatasetKind;
use crate::location::{default_dir, locate_file};

/// `error`, from loading MNIST or Fashion-MNIST from `dir` (named by
/// [`DatasetKind::dir_env_var`]), said for that variable when the folder is missing, not
/// a folder, or lacks files; other errors (a damaged file) as they are.
pub(crate) fn idx_env_dir_error(kind: DatasetKind, dir: &Path, error: DataError) -> DataError {
    let missing: Vec<String> = kind
        .files()
        .iter()
        .filter(|file| locate_file(dir, file.name).is_none())
        .map(|file| file.gz_name())
        .collect();
    let put_there = format!(
        "put {} there (from {}, raw or .gz)",
        missing.join(", "),
        kind.mirrors()[0]
    );
    let (problem, fix) = match error {
        DataError::DirectoryMissing { .. } => ("does not exist".to_owned(), put_there),
        DataError::NotADirectory { .. } => (
            "is not a folder".to_owned(),
            format!(
                "set {} to the folder that holds {} and the three other files",
                kind.dir_env_var(),
                kind.files()[0].name
            ),
        ),
        DataError::FileMissing { file, .. } => (format!("lacks {file} (raw or .gz)"), put_there),
        other => return other,
    };
    DataError::EnvDirUnusable {
        var: kind.dir_env_var(),
        dir: dir.to_path_buf(),
        problem: format!("{problem}: {fix}"),
    }
}

/// `error`, from loading CIFAR-10 from `dir` (named by `CIFAR10_DIR`), said for that
/// variable when the folder is missing or lacks a batch file; other errors as they are.
pub(crate) fn cifar10_env_dir_error(dir: &Path, error: DataError) -> DataError {
    let problem = match error {
        DataError::Cifar10Missing { .. } if !dir.exists() => "does not exist".to_owned(),
        DataError::Cifar10Missing { .. } if !dir.is_dir() => "is not a folder".to_owned(),
        DataError::Cifar10Missing { file, .. } => {
            format!("lacks {file} (looked there and in its {CIFAR10_BATCHES_DIR} folder)")
        }
        other => return other,
    };
    DataError::EnvDirUnusable {
        var: CIFAR10_DIR_ENV,
        dir: dir.to_path_buf(),
        problem: format!(
            "{problem}: download {CIFAR10_URL} and extract it there, or set {CIFAR10_DIR_ENV} \
             to the folder that holds {CIFAR10_BATCHES_DIR}"
        ),
    }
}

/// For the message of [`DataError::EnvDirUnusable`]: `MNIST downloaded into <folder>`, the
/// dataset `var` names the folder of and where it goes when `var` is unset.
pub(crate) fn downloaded_instead(var: &str) -> String {
    let (name, dir) = match DatasetKind::ALL
        .into_iter()
        .find(|k| k.dir_env_var() == var)
    {
        Some(kind) => (kind.name(), default_dir(kind)),
        None => ("CIFAR-10", cifar10_default_dir()),
    };
    format!("{name} downloaded into {}", dir.display())
}
