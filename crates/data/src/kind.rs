//! The two datasets this crate knows — MNIST and Fashion-MNIST — and the facts about each:
//! names, normalisation statistics, where to look, where to download from, and the SHA-256 of
//! every file.

use std::fmt;
use std::str::FromStr;

/// Height of every image, in pixels.
pub const IMAGE_HEIGHT: usize = 28;
/// Width of every image, in pixels.
pub const IMAGE_WIDTH: usize = 28;
/// Pixels in one image (`28 * 28 = 784`), one `u8` each.
pub const IMAGE_PIXELS: usize = IMAGE_HEIGHT * IMAGE_WIDTH;
/// Number of classes; every label is in `0..NUM_CLASSES`.
pub const NUM_CLASSES: usize = 10;

/// Which dataset: MNIST digits or Zalando's Fashion-MNIST, which has the same format,
/// file names and sizes.
///
/// ```
/// use scratchnet_data::DatasetKind;
///
/// let kind: DatasetKind = "fashion-mnist".parse().unwrap();
/// assert_eq!(kind, DatasetKind::FashionMnist);
/// assert_eq!(kind.name(), "Fashion-MNIST");
/// assert_eq!(DatasetKind::Mnist.dir_env_var(), "MNIST_DIR");
/// assert_eq!(DatasetKind::Mnist.files()[0].name, "train-images-idx3-ubyte");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// The MNIST handwritten digits (LeCun, Cortes, Burges).
    Mnist,
    /// Fashion-MNIST, 28×28 grey images of clothing (Xiao, Rasul, Vollgraf, 2017).
    FashionMnist,
}

impl DatasetKind {
    /// Both kinds, MNIST first.
    pub const ALL: [DatasetKind; 2] = [DatasetKind::Mnist, DatasetKind::FashionMnist];

    /// The dataset's usual name: `"MNIST"` or `"Fashion-MNIST"`.
    pub const fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
        }
    }

    /// The names of the ten classes, in label order: the digits for MNIST, the clothing
    /// categories for Fashion-MNIST.
    ///
    /// ```
    /// use scratchnet_data::DatasetKind;
    /// assert_eq!(DatasetKind::FashionMnist.class_names()[1], "Trouser");
    /// assert_eq!(DatasetKind::Mnist.class_names()[1], "1");
    /// ```
    pub const fn class_names(self) -> [&'static str; 10] {
        match self {
            DatasetKind::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetKind::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }

    /// Mean pixel value of the training images, on the `[0, 1]` scale (MNIST 0.1307,
    /// Fashion-MNIST 0.2860).
    pub const fn mean(self) -> f32 {
        self.normalization().mean
    }

    /// Standard deviation of the training pixels, on the `[0, 1]` scale (MNIST 0.3081,
    /// Fashion-MNIST 0.3530).
    pub const fn std(self) -> f32 {
        self.normalization().std
    }

    /// The normalisation batches of this dataset use: `(pixel / 255 - mean) / std`.
    pub const fn normalization(self) -> Normalization {
        match self {
            DatasetKind::Mnist => Normalization::MNIST,
            DatasetKind::FashionMnist => Normalization::FASHION_MNIST,
        }
    }

    /// Name of the default directory under `<workspace root>/data/`: `"mnist"` or
    /// `"fashion-mnist"`.
    pub const fn default_dir_name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    /// The environment variable that names the data directory: `MNIST_DIR` or
    /// `FASHION_MNIST_DIR`.
    pub const fn dir_env_var(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST_DIR",
            DatasetKind::FashionMnist => "FASHION_MNIST_DIR",
        }
    }

    /// Base URLs to download the `.gz` files from, tried in this order.
    ///
    /// - MNIST: the CVDF mirror on Google Cloud Storage (what TensorFlow Datasets and burn
    ///   use), then PyTorch's `ossci-datasets` S3 bucket (torchvision's working mirror).
    ///   Never `yann.lecun.com`, which has answered 403/404 since 2024-25.
    /// - Fashion-MNIST: Zalando's S3 website (plain `http`; the SHA-256 check is what makes
    ///   that safe), then the `data/fashion/` folder of the official GitHub repository
    ///   `zalandoresearch/fashion-mnist`, which holds the same files.
    pub const fn mirrors(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Mnist => &[
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
            ],
            DatasetKind::FashionMnist => &[
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            ],
        }
    }

    /// A system-wide directory a package manager installs the dataset into, checked as a
    /// fallback by [`resolve_dir`](crate::resolve_dir): Debian's `dataset-fashion-mnist`
    /// package puts the four `.gz` files in `/usr/share/datasets/fashion-mnist`. MNIST has
    /// no such package.
    pub const fn system_dir(self) -> Option<&'static str> {
        match self {
            DatasetKind::Mnist => None,
            DatasetKind::FashionMnist => Some("/usr/share/datasets/fashion-mnist"),
        }
    }

    /// The four files of the dataset, in the order train images, train labels, test images,
    /// test labels, each with the SHA-256 of its **decompressed** content.
    ///
    /// Where the sums come from (none was typed in from memory):
    ///
    /// - **MNIST**: `shared/data/mnist/SHA256SUMS.uncompressed` of this project, computed
    ///   from files whose MD5s are the canonical ones of the original distribution (that
    ///   folder's README). Sums of the decompressed files are used because mirrors differ
    ///   in how they compress: the `.gz` bytes of the CVDF mirror and of our shared copy
    ///   are not the same, the content is.
    /// - **Fashion-MNIST**: computed from the decompressed files of Debian's
    ///   `dataset-fashion-mnist` 0.0~git20200523.55506a9-1. Debian re-wrote the gzip headers
    ///   (file name dropped, time stamp reset), so its `.gz` files do not have the official
    ///   MD5s; but putting the original header back (name, time stamp 2017-08-31) in front
    ///   of Debian's unchanged deflate data reproduces, for all four files, exactly the MD5
    ///   sums torchvision checks (`8d4fb7e6…`, `25c81989…`, `bef4ecab…`, `bb300cfd…`). The
    ///   compressed data being byte-identical to the official files, so is what it
    ///   decompresses to.
    pub const fn files(self) -> [DataFile<'static>; 4] {
        match self {
            DatasetKind::Mnist => [
                DataFile {
                    name: "train-images-idx3-ubyte",
                    role: FileRole::TrainImages,
                    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                },
                DataFile {
                    name: "train-labels-idx1-ubyte",
                    role: FileRole::TrainLabels,
                    sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                },
                DataFile {
                    name: "t10k-images-idx3-ubyte",
                    role: FileRole::TestImages,
                    sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                },
                DataFile {
                    name: "t10k-labels-idx1-ubyte",
                    role: FileRole::TestLabels,
                    sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                },
            ],
            DatasetKind::FashionMnist => [
                DataFile {
                    name: "train-images-idx3-ubyte",
                    role: FileRole::TrainImages,
                    sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                },
                DataFile {
                    name: "train-labels-idx1-ubyte",
                    role: FileRole::TrainLabels,
                    sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                },
                DataFile {
                    name: "t10k-images-idx3-ubyte",
                    role: FileRole::TestImages,
                    sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                },
                DataFile {
                    name: "t10k-labels-idx1-ubyte",
                    role: FileRole::TestLabels,
                    sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                },
            ],
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`DatasetKind`] from a name that is neither MNIST nor Fashion-MNIST.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dataset {0:?}: use \"mnist\" or \"fashion-mnist\"")]
pub struct UnknownDataset(pub String);

impl FromStr for DatasetKind {
    type Err = UnknownDataset;

    /// Accepts `mnist` and `fashion-mnist` (also `fashion`, `fashion_mnist`,
    /// `fashionmnist`), in any case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" | "fashion" => {
                Ok(DatasetKind::FashionMnist)
            }
            _ => Err(UnknownDataset(name.to_owned())),
        }
    }
}

/// How `u8` pixels become network inputs: `(pixel / 255 - mean) / std`.
///
/// ```
/// use scratchnet_data::Normalization;
///
/// let n = Normalization::MNIST;
/// assert!((n.apply(0) - (-0.1307 / 0.3081)).abs() < 1e-6);
/// assert!((Normalization::UNIT.apply(255) - 1.0).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    /// Subtracted after scaling to `[0, 1]`.
    pub mean: f32,
    /// Divided by after subtracting the mean.
    pub std: f32,
}

impl Normalization {
    /// MNIST training-set statistics: mean 0.1307, std 0.3081.
    pub const MNIST: Normalization = Normalization {
        mean: 0.1307,
        std: 0.3081,
    };
    /// Fashion-MNIST training-set statistics: mean 0.2860, std 0.3530.
    pub const FASHION_MNIST: Normalization = Normalization {
        mean: 0.2860,
        std: 0.3530,
    };
    /// Only scale to `[0, 1]` (mean 0, std 1).
    pub const UNIT: Normalization = Normalization {
        mean: 0.0,
        std: 1.0,
    };

    /// The normalised value of one pixel.
    pub fn apply(self, pixel: u8) -> f32 {
        (f32::from(pixel) / 255.0 - self.mean) / self.std
    }

    /// [`apply`](Self::apply) for all 256 pixel values, so converting a batch is one table
    /// look-up per pixel.
    pub(crate) fn lookup_table(self) -> [f32; 256] {
        std::array::from_fn(|pixel| self.apply(pixel as u8))
    }
}

/// What one of the four files of a dataset holds.
///
/// How such a file is laid out — its IDX magic number ([`magic`](Self::magic)) and byte
/// length ([`complete_len`](Self::complete_len)) — is the IDX format's business, defined
/// with it in `idx.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileRole {
    /// Training images (IDX3, 60,000 × 28 × 28).
    TrainImages,
    /// Training labels (IDX1, 60,000).
    TrainLabels,
    /// Test images (IDX3, 10,000 × 28 × 28).
    TestImages,
    /// Test labels (IDX1, 10,000).
    TestLabels,
}

impl FileRole {
    /// Whether the file holds images (otherwise labels).
    pub const fn is_images(self) -> bool {
        matches!(self, FileRole::TrainImages | FileRole::TestImages)
    }

    /// How many samples a complete file holds: 60,000 for training, 10,000 for test. The
    /// `mnist` crate accepts no other count.
    pub const fn complete_count(self) -> usize {
        match self {
            FileRole::TrainImages | FileRole::TrainLabels => 60_000,
            FileRole::TestImages | FileRole::TestLabels => 10_000,
        }
    }

    /// What the file holds, in words (`"training images"`, …), for messages.
    pub const fn description(self) -> &'static str {
        match self {
            FileRole::TrainImages => "training images",
            FileRole::TrainLabels => "training labels",
            FileRole::TestImages => "test images",
            FileRole::TestLabels => "test labels",
        }
    }
}

/// One file of a dataset: its name without `.gz`, what it holds, and the SHA-256 of its
/// decompressed content (64 lower-case hex digits).
///
/// [`DatasetKind::files`] gives the real table; tests build their own to download small
/// files with [`download_files`](crate::download_files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataFile<'a> {
    /// File name without `.gz`, e.g. `train-images-idx3-ubyte`.
    pub name: &'a str,
    /// What the file holds.
    pub role: FileRole,
    /// SHA-256 of the decompressed file, lower-case hex.
    pub sha256: &'a str,
}

impl DataFile<'_> {
    /// The compressed file's name, as mirrors serve it: `name` + `.gz`.
    pub fn gz_name(&self) -> String {
        format!("{}.gz", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_kind() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.name().parse::<DatasetKind>().unwrap(), kind);
            assert_eq!(
                kind.default_dir_name().parse::<DatasetKind>().unwrap(),
                kind
            );
        }
        let err = "cifar".parse::<DatasetKind>().unwrap_err();
        assert!(err.to_string().contains("cifar"));
    }

    #[test]
    fn checksums_are_64_lower_case_hex_digits_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for kind in DatasetKind::ALL {
            for file in kind.files() {
                assert_eq!(file.sha256.len(), 64, "{kind} {}", file.name);
                assert!(file
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                assert!(seen.insert(file.sha256));
            }
        }
    }

    #[test]
    fn mirrors_never_include_the_dead_lecun_site() {
        for kind in DatasetKind::ALL {
            assert!(!kind.mirrors().is_empty());
            for mirror in kind.mirrors() {
                assert!(!mirror.contains("lecun.com"));
                assert!(mirror.ends_with('/'));
            }
        }
    }

    #[test]
    fn lookup_table_agrees_with_apply() {
        let table = Normalization::FASHION_MNIST.lookup_table();
        for pixel in [0u8, 1, 128, 255] {
            assert_eq!(
                table[pixel as usize],
                Normalization::FASHION_MNIST.apply(pixel)
            );
        }
        assert_eq!(DatasetKind::Mnist.mean(), 0.1307);
        assert_eq!(DatasetKind::FashionMnist.std(), 0.3530);
    }
}
