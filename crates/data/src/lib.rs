//! # scratchnet-data
//!
//! MNIST and Fashion-MNIST for scratchnet: find the four IDX files, check them, load them
//! through the [`mnist`] crate, download them when they are missing, and cut them into
//! seeded, reproducible mini-batches of normalised `f32` images `[B, 1, 28, 28]`. Also
//! CIFAR-10 (`[3, 32, 32]`, [`load_or_download_cifar10`]), with the same checks, and
//! folders of your own PNG and JPEG images (`load_image_folder`).
//!
//! # Features
//!
//! Both on by default. **`download`** fetches missing datasets (`ureq` with `rustls`,
//! `tar` for the CIFAR-10 archive, `fs4` to lock a download in progress; the SHA-256
//! checks of files on disk are always built); without it the loaders read what is on disk and
//! [`load_or_download`] and the other downloading functions, when a file is missing, return
//! [`DataError::DownloadNotBuilt`] saying how to put it there. **`images`** loads image
//! folders (`image`, `rayon`): `load_image_folder`, `plan_image_folder`, `FolderOptions`
//! and `decode_image_file` exist only with it. Reading `.gz` IDX files (`flate2`) and
//! batching are always there. `scratchnet-train` uses this crate with neither; the
//! `scratchnet` facade and `scratchnet-cli` turn both on.
//!
//! ```no_run
//! use scratchnet_data::{load_or_download, BatchConfig, DatasetKind};
//!
//! // Explicit dir, else $MNIST_DIR, else <workspace>/data/mnist (downloaded if missing).
//! let mnist = load_or_download(DatasetKind::Mnist, None)?;
//! let (train, validation) = mnist.train.split_validation(5_000);
//! let config = BatchConfig { batch_size: 64, seed: 42, ..BatchConfig::default() };
//! for epoch in 0..10 {
//!     for batch in train.batches(&config, epoch) {
//!         // batch.images: Array4<f32> [64, 1, 28, 28]; batch.labels: Vec<usize>
//!     }
//! }
//! # let _ = validation;
//! # Ok::<(), scratchnet_data::DataError>(())
//! ```
//!
//! Contents, one concept per module:

#![warn(missing_docs)]

/// The datasets and their facts: names, normalisation, mirrors, file names and checksums.
mod kind;
pub use kind::{
    DataFile, DatasetKind, FileRole, Normalization, UnknownDataset, IMAGE_HEIGHT, IMAGE_PIXELS,
    IMAGE_WIDTH, NUM_CLASSES,
};

/// Where the data is: explicit directory, environment variable, workspace default.
mod location;
pub use location::{
    all_files_present, default_dir, dir_from_env, mnist_dir_from_env, resolve_dir, workspace_root,
};

/// What is wrong with a folder an environment variable names (only read, never
/// downloaded into), said for that variable.
mod env_dir;

/// The IDX format — each file's layout, what can be wrong inside one — and the checks each
/// file passes before the `mnist` crate reads it.
mod idx;
pub use idx::FormatDefect;

/// Allocating a dataset's large buffers fallibly: an error naming the file, not an abort.
mod memory;
/// Reading one file into memory, raw or `.gz`, refusing sizes no dataset file has.
mod read;

/// Whether a local file is the published one, the other dataset's, or neither (SHA-256).
mod published;

/// What a path that is not a regular file is (a FIFO, a directory…), for messages.
mod file_kind;
pub use file_kind::describe_file_kind;

/// Loading a directory: read (raw or `.gz`), check, stage, parse with the `mnist` crate.
mod loader;
pub use loader::{load, load_or_download, load_or_download_from};

/// Downloading missing files from mirrors, with time-outs, progress and SHA-256 checks
/// (without the `download` feature: an error saying how to put them there by hand).
mod downloader;
pub use downloader::{download, download_files, DownloadOptions};

/// One file or archive over HTTP(S) into a temporary file, checked, then renamed
/// (`download` feature).
#[cfg(feature = "download")]
mod fetch;

/// A loaded dataset and its splits of `u8` images of any `[C, H, W]`, with class names.
mod split;
pub use split::{Dataset, ImageDataset, Split, MAX_CLASSES};

/// Mini-batches of a split ([`Split::batch`], [`Split::batches`]): seeded order, last
/// partial batch, optional shift augmentation.
mod batch;
pub use batch::{Batch, BatchConfig, Batches, Shift, MAX_SHIFT};

/// How an epoch's shuffle and augmentation derive from `(seed, epoch)`.
mod seeding;
pub use seeding::{augmentation_seed, epoch_order, shuffle_seed};

/// CIFAR-10 (binary version): its six batch files, their checks, the archive's download
/// and extraction.
mod cifar10;
pub use cifar10::{
    cifar10_batches_dir, cifar10_default_dir, cifar10_dir_from_env, load_cifar10,
    load_or_download_cifar10, load_or_download_cifar10_from, resolve_cifar10_dir, Cifar10Defect,
    Cifar10Source, CIFAR10_ARCHIVE_LEN, CIFAR10_ARCHIVE_NAME, CIFAR10_BATCHES_DIR, CIFAR10_CLASSES,
    CIFAR10_DIR_ENV, CIFAR10_FILES, CIFAR10_MAX_RECORDS, CIFAR10_NORMALIZATION, CIFAR10_RECORD_LEN,
    CIFAR10_SHA256, CIFAR10_URL,
};

/// Image folders (torchvision's `ImageFolder` layout) of PNG and JPEG files, decoded in
/// parallel into `u8` splits of one shape, memory stated and bounded first (`images`
/// feature).
#[cfg(feature = "images")]
mod folder;
/// Every class of a folder keeps images (`images` feature).
#[cfg(feature = "images")]
mod folder_classes;
/// The shape of a folder's images, from the images that decode (`images` feature).
#[cfg(feature = "images")]
mod folder_shape;
#[cfg(feature = "images")]
pub use folder::{
    load_image_folder, plan_image_folder, FolderLoad, FolderOptions, FolderPlan, IMAGE_EXTENSIONS,
    MAX_FOLDER_IMAGE_ALLOC, MAX_FOLDER_IMAGE_SIDE,
};

/// Opening and decoding one PNG or JPEG file: not a FIFO or other non-regular file, not a
/// JPEG cut short (`images` feature).
#[cfg(feature = "images")]
mod image_file;
#[cfg(feature = "images")]
pub use image_file::{decode_image_file, TRUNCATED_JPEG};

/// Whether a JPEG ends before its end-of-image marker, from its structure (`images`
/// feature).
#[cfg(feature = "images")]
mod jpeg_end;

/// Removing the temporary files and folders an interrupted download left (`download`
/// feature).
#[cfg(feature = "download")]
mod leftovers;

/// Taking only the expected members out of a `.tar.gz`, refusing paths that leave the
/// folder and links (`download` feature).
#[cfg(feature = "download")]
mod archive;

/// Everything that can go wrong loading or downloading, each message naming the file and
/// what to do.
mod error;
pub use error::{DataError, MirrorFailure};
