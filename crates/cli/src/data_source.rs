//! [`DataSource`]: which data a run trains on (`--dataset`), and loading it.

use scratchnet_data::{
    load, load_cifar10, load_or_download, load_or_download_cifar10, plan_image_folder,
    resolve_cifar10_dir, resolve_dir, DatasetKind, FolderOptions, ImageDataset,
};
use scratchnet_train::TrainError;
use std::path::{Path, PathBuf};

/// The data a run trains on, as `--dataset` names it.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// MNIST or Fashion-MNIST, four IDX files.
    Idx(DatasetKind),
    /// CIFAR-10, binary version: six batch files of 32×32 colour images.
    Cifar10,
    /// A folder of your own images (`ROOT/train/<class>/*.png`, …), read as these
    /// options say — but for [`run`](crate::run), which holds out the test set of a
    /// folder without `test/` with the run's seed and fraction
    /// ([`RunConfig::seed`](crate::RunConfig::seed) and
    /// [`val_fraction`](crate::RunConfig::val_fraction), or the checkpoint's when
    /// resuming): the options' `val_fraction` is the default, their `seed` is not used.
    Folder(FolderOptions),
}

impl DataSource {
    /// The `--dataset` value: `mnist`, `fashion` or `cifar10` (stored in checkpoints as
    /// `dataset`).
    pub fn flag(&self) -> &'static str {
        match self {
            DataSource::Idx(kind) => crate::dataset_flag(*kind),
            DataSource::Cifar10 => "cifar10",
            DataSource::Folder(_) => "folder",
        }
    }

    /// This source with an image folder's hold-out drawn by `seed` and, if given, of
    /// `val_fraction` of `train/` (a run's resolved settings); other sources as they are.
    pub(crate) fn with_hold_out(&self, seed: u64, val_fraction: Option<f64>) -> DataSource {
        match self {
            DataSource::Folder(options) => DataSource::Folder(FolderOptions {
                seed,
                val_fraction: val_fraction.unwrap_or(options.val_fraction),
                ..options.clone()
            }),
            other => other.clone(),
        }
    }

    /// The folder [`load`](Self::load) reads the data from (or downloads it to), the
    /// same resolution: `data_dir` if given, else the folder the dataset's variable
    /// names, else its default folder (for Fashion-MNIST, Debian's
    /// `/usr/share/datasets/fashion-mnist` when it has the files and `data/` does not).
    /// `None` for an image folder without `data_dir`, which is not loaded.
    pub fn data_folder(&self, data_dir: Option<&Path>) -> Option<PathBuf> {
        match self {
            DataSource::Idx(kind) => Some(resolve_dir(*kind, data_dir)),
            DataSource::Cifar10 => Some(resolve_cifar10_dir(data_dir)),
            DataSource::Folder(_) => data_dir.map(Path::to_path_buf),
        }
    }

    /// Loads the data: from `data_dir` if given, else from the folder the dataset's
    /// variable names (`$MNIST_DIR`, `$FASHION_MNIST_DIR`, `$CIFAR10_DIR`) — both only
    /// read, never downloaded into — else from its folder under `data/`, downloading it
    /// there if missing.
    ///
    /// An image folder is listed first, and `say` is given the line stating how many
    /// images, of which shape, and the memory they will take, before they are decoded; then
    /// the count of undecodable files skipped, if any.
    ///
    /// # Errors
    /// [`TrainError::Data`] with the loader's one-line message; [`TrainError::Config`]
    /// for an image folder without `--data-dir`.
    pub fn load(
        &self,
        data_dir: Option<&Path>,
        say: &dyn Fn(&str),
    ) -> Result<ImageDataset, TrainError> {
        Ok(match (self, data_dir) {
            (DataSource::Folder(_), None) => {
                return Err(TrainError::config(
                    "--dataset folder needs --data-dir ROOT, the folder holding train/<class>/ \
                     (and test/<class>/)",
                ))
            }
            (DataSource::Folder(options), Some(root)) => {
                let plan = plan_image_folder(root, options)?;
                say(&plan.describe());
                let loaded = plan.load()?;
                if let Some((first, _)) = loaded.skipped.first() {
                    say(&format!(
                        "skipped {} image{} that could not be decoded (the first: {})",
                        loaded.skipped.len(),
                        if loaded.skipped.len() == 1 { "" } else { "s" },
                        first.display()
                    ));
                }
                loaded.dataset
            }
            (DataSource::Idx(kind), Some(dir)) => load(*kind, dir)?.into(),
            (DataSource::Idx(kind), None) => load_or_download(*kind, None)?.into(),
            (DataSource::Cifar10, Some(dir)) => load_cifar10(dir)?,
            (DataSource::Cifar10, None) => load_or_download_cifar10(None)?,
        })
    }
}

impl Default for DataSource {
    /// MNIST.
    fn default() -> Self {
        DataSource::Idx(DatasetKind::Mnist)
    }
}

impl From<DatasetKind> for DataSource {
    fn from(kind: DatasetKind) -> Self {
        DataSource::Idx(kind)
    }
}
