//! A loaded dataset and its splits: images kept as `u8` (`C * H * W` bytes each, 784 for
//! MNIST), labels as `u8`.
//! Images become normalised `f32` only a mini-batch at a time (see [`crate::batch`]).

use std::fmt;
use std::sync::Arc;

use crate::kind::{DatasetKind, Normalization, IMAGE_HEIGHT, IMAGE_WIDTH, NUM_CLASSES};

/// A dataset as loaded: its kind, the training split and the test split.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Which dataset this is.
    pub kind: DatasetKind,
    /// The training split (60,000 samples as loaded).
    pub train: Split,
    /// The test split (10,000 samples as loaded).
    pub test: Split,
}

/// A dataset of any source — IDX files, CIFAR-10, an image folder — as a run uses it: a
/// name for messages, the training split and the test split (both of the same sample
/// shape and classes).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDataset {
    /// What was loaded, for messages: `"MNIST"`, `"CIFAR-10"`, `"image folder data/pets"`.
    pub name: String,
    /// The training split.
    pub train: Split,
    /// The test split.
    pub test: Split,
}

impl From<Dataset> for ImageDataset {
    fn from(dataset: Dataset) -> Self {
        ImageDataset {
            name: dataset.kind.name().to_owned(),
            train: dataset.train,
            test: dataset.test,
        }
    }
}

/// Samples of one split: `len()` images of [`sample_shape`](Self::sample_shape) `[C, H, W]`
/// pixels each (channel planes, each row-major), one label each, the names of the classes
/// the labels index, and the normalisation of each channel that its batches use.
///
/// [`Split::new`] makes the MNIST kind (`[1, 28, 28]`, ten classes `"0"`…`"9"`);
/// [`Split::with_shape`] any other (CIFAR-10's `[3, 32, 32]`, an image folder's).
///
/// ```
/// use scratchnet_data::{BatchConfig, Normalization, Split};
///
/// // Five 28×28 images, pixel value = sample number, labels 0..5.
/// let images: Vec<u8> = (0..5u8).flat_map(|i| [i; 784]).collect();
/// let split = Split::new(images, vec![0, 1, 2, 3, 4], Normalization::UNIT);
/// let (train, validation) = split.split_validation(2);
/// assert_eq!((train.len(), validation.len()), (3, 2));
/// assert_eq!(validation.labels(), &[3, 4]);
///
/// let config = BatchConfig { batch_size: 2, shuffle: false, ..BatchConfig::default() };
/// let batches: Vec<_> = train.batches(&config, 0).collect();
/// assert_eq!(batches.len(), 2); // 2 + a last partial batch of 1
/// assert_eq!(batches[1].images.shape(), &[1, 1, 28, 28]);
/// assert_eq!(batches[1].labels, vec![2]);
/// ```
#[derive(Clone, PartialEq)]
pub struct Split {
    images: Vec<u8>,
    labels: Vec<u8>,
    shape: [usize; 3],
    class_names: Arc<[String]>,
    normalization: Vec<Normalization>,
}

/// The most classes a split can have: labels are kept as `u8`.
pub const MAX_CLASSES: usize = 256;

impl Split {
    /// A split of MNIST's kind from `n * 784` pixels (row-major 28×28 grey images, one
    /// after the other) and `n` labels in `0..=9`, classes named `"0"`…`"9"`.
    ///
    /// **Panics** if `images.len() != labels.len() * 784` or a label is not in `0..=9`
    /// (loading never builds such a split: it checks the files first).
    #[track_caller]
    pub fn new(images: Vec<u8>, labels: Vec<u8>, normalization: Normalization) -> Split {
        let names = (0..NUM_CLASSES).map(|d| d.to_string()).collect();
        Split::with_shape(
            images,
            labels,
            [1, IMAGE_HEIGHT, IMAGE_WIDTH],
            names,
            vec![normalization],
        )
    }

    /// A split of `n` images of `shape = [C, H, W]` (`n * C * H * W` bytes: each image its
    /// `C` planes of `H` rows of `W` pixels, images one after the other), `n` labels
    /// indexing `class_names`, and one normalisation per channel.
    ///
    /// ```
    /// use scratchnet_data::{Normalization, Split};
    ///
    /// let split = Split::with_shape(
    ///     vec![0; 2 * 3 * 4 * 5], vec![1, 0], [3, 4, 5],
    ///     vec!["cat".into(), "dog".into()], vec![Normalization::UNIT; 3],
    /// );
    /// assert_eq!(split.sample_shape(), [3, 4, 5]);
    /// assert_eq!(split.class_names()[usize::from(split.labels()[0])], "dog");
    /// ```
    ///
    /// **Panics** if a dimension is 0, the pixel count is not `labels.len() * C * H * W`,
    /// there are no classes or more than [`MAX_CLASSES`], a label is not below the number
    /// of classes, or `normalization` does not have `C` entries.
    #[track_caller]
    pub fn with_shape(
        images: Vec<u8>,
        labels: Vec<u8>,
        shape: [usize; 3],
        class_names: Vec<String>,
        normalization: Vec<Normalization>,
    ) -> Split {
        assert!(
            shape.iter().all(|&d| d > 0),
            "Split::with_shape: shape {shape:?} has a zero dimension"
        );
        let pixels: usize = shape.iter().product();
        assert_eq!(
            Some(images.len()),
            labels.len().checked_mul(pixels),
            "Split::new: {} pixels for {} labels (need {pixels} per label)",
            images.len(),
            labels.len()
        );
        assert!(
            (1..=MAX_CLASSES).contains(&class_names.len()),
            "Split::with_shape: {} classes (need 1 to {MAX_CLASSES})",
            class_names.len()
        );
        if let Some(bad) = labels
            .iter()
            .find(|&&l| usize::from(l) >= class_names.len())
        {
            panic!(
                "Split::new: label {bad} is not in 0..={}",
                class_names.len() - 1
            );
        }
        assert_eq!(
            normalization.len(),
            shape[0],
            "Split::with_shape: one normalisation per channel"
        );
        Split {
            images,
            labels,
            shape,
            class_names: class_names.into(),
            normalization,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape `[C, H, W]` of one sample (`[1, 28, 28]` for MNIST).
    pub fn sample_shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Bytes of one sample, `C * H * W` (784 for MNIST).
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The name of each class, indexed by label.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// All labels, each below [`num_classes`](Self::num_classes).
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All pixels, `len() * sample_len()` bytes, image after image.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// The [`sample_len`](Self::sample_len) pixels of image `i`: channel planes one after
    /// the other, each row-major (`[(c * H + y) * W + x]`).
    ///
    /// **Panics** if `i >= len()`.
    #[track_caller]
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.len(), "image {i} of a split of {}", self.len());
        let n = self.sample_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The normalisation [`batches`](Self::batches) applies to the first (for grey
    /// images, the only) channel.
    pub fn normalization(&self) -> Normalization {
        self.normalization[0]
    }

    /// The normalisation of each channel, `C` of them.
    pub fn channel_normalization(&self) -> &[Normalization] {
        &self.normalization
    }

    /// The same samples with `normalization` for every channel.
    pub fn with_normalization(self, normalization: Normalization) -> Split {
        let channels = self.shape[0];
        self.with_channel_normalization(vec![normalization; channels])
    }

    /// The same samples with one normalisation per channel.
    ///
    /// **Panics** if `normalization` does not have `C` entries.
    #[track_caller]
    pub fn with_channel_normalization(self, normalization: Vec<Normalization>) -> Split {
        assert_eq!(
            normalization.len(),
            self.shape[0],
            "with_channel_normalization: one normalisation per channel"
        );
        Split {
            normalization,
            ..self
        }
    }

    /// The mean and standard deviation of each channel's pixels on the `[0, 1]` scale: the
    /// normalisation that makes this split's inputs zero-mean, unit-variance per channel
    /// (what `transforms.Normalize(mean, std)` is given, computed from a training set). A
    /// channel that is constant gets std 1.
    pub fn channel_statistics(&self) -> Vec<Normalization> {
        let [channels, height, width] = self.shape;
        let plane = height * width;
        let mut histograms = vec![[0u64; 256]; channels];
        for image in self.images.chunks_exact(self.sample_len()) {
            for (histogram, pixels) in histograms.iter_mut().zip(image.chunks_exact(plane)) {
                for &pixel in pixels {
                    histogram[usize::from(pixel)] += 1;
                }
            }
        }
        histograms
            .iter()
            .map(|histogram| {
                let count: u64 = histogram.iter().sum();
                if count == 0 {
                    return Normalization::UNIT;
                }
                let (mut sum, mut sum_sq) = (0f64, 0f64);
                for (value, &n) in histogram.iter().enumerate() {
                    let x = value as f64 / 255.0;
                    sum += x * n as f64;
                    sum_sq += x * x * n as f64;
                }
                let mean = sum / count as f64;
                let std = (sum_sq / count as f64 - mean * mean).max(0.0).sqrt();
                Normalization {
                    mean: mean as f32,
                    std: if std > 1e-6 { std as f32 } else { 1.0 },
                }
            })
            .collect()
    }

    /// How many samples carry each label: `histogram[d]` is the count of label `d`
    /// (`num_classes()` entries).
    pub fn label_histogram(&self) -> Vec<usize> {
        let mut histogram = vec![0; self.num_classes()];
        for &label in &self.labels {
            histogram[usize::from(label)] += 1;
        }
        histogram
    }

    /// A copy of the first `n` samples (all of them if `n >= len()`), e.g. for a
    /// `--limit-train` option.
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len());
        Split {
            images: self.images[..n * self.sample_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
            ..self.empty_like()
        }
    }

    /// Keeps the first `n` samples (all of them if `n >= len()`) and gives the rest's
    /// memory back, without the copy [`take`](Self::take) makes: a `--limit-train` run
    /// never holds the training set twice.
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.images.truncate(n * self.sample_len());
        self.images.shrink_to_fit();
        self.labels.truncate(n);
        self.labels.shrink_to_fit();
    }

    /// The samples at `indices`, in that order (shape, classes and normalisation kept).
    ///
    /// **Panics** if an index is `>= len()`.
    #[track_caller]
    pub fn select(&self, indices: &[usize]) -> Split {
        let mut images = Vec::with_capacity(indices.len() * self.sample_len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Split {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            ..self.empty_like()
        }
    }

    /// No samples, this split's shape, classes and normalisation.
    fn empty_like(&self) -> Split {
        Split {
            images: Vec::new(),
            labels: Vec::new(),
            shape: self.shape,
            class_names: Arc::clone(&self.class_names),
            normalization: self.normalization.clone(),
        }
    }

    /// Splits off the last `n_val` samples as a validation set: returns `(train,
    /// validation)`. The order is the file's, not shuffled, so the same `n_val` always
    /// gives the same validation set (MNIST's training file is not sorted by class).
    ///
    /// **Panics** if `n_val > len()`.
    #[track_caller]
    pub fn split_validation(mut self, n_val: usize) -> (Split, Split) {
        assert!(
            n_val <= self.len(),
            "split_validation: {n_val} validation samples asked of a split of {}",
            self.len()
        );
        let n_train = self.len() - n_val;
        let validation = Split {
            images: self.images.split_off(n_train * self.sample_len()),
            labels: self.labels.split_off(n_train),
            ..self.empty_like()
        };
        self.images.shrink_to_fit();
        self.labels.shrink_to_fit();
        (self, validation)
    }
}

impl fmt::Debug for Split {
    /// The size and normalisation, not the 47 MB of pixels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Split")
            .field("len", &self.len())
            .field("sample_shape", &self.shape)
            .field("classes", &self.num_classes())
            .field("normalization", &self.normalization)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::IMAGE_PIXELS;

    fn numbered(n: usize) -> Split {
        let images = (0..n).flat_map(|i| [i as u8; IMAGE_PIXELS]).collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        Split::new(images, labels, Normalization::MNIST)
    }

    #[test]
    fn take_keeps_the_first_samples_and_clamps() {
        let split = numbered(12);
        let first = split.take(3);
        assert_eq!(first.labels(), &[0, 1, 2]);
        assert_eq!(first.image(2), &[2u8; IMAGE_PIXELS][..]);
        assert_eq!(split.take(100).len(), 12);
        assert!(split.take(0).is_empty());
    }

    #[test]
    fn truncate_keeps_what_take_copies() {
        let split = numbered(12);
        for n in [0, 3, 12, 100] {
            let mut truncated = split.clone();
            truncated.truncate(n);
            let taken = split.take(n);
            assert_eq!(truncated.labels(), taken.labels(), "{n}");
            assert_eq!(truncated.images, taken.images, "{n}");
            assert_eq!(truncated.images.capacity(), taken.images.len(), "{n}");
        }
    }

    #[test]
    fn validation_is_carved_from_the_end() {
        let (train, validation) = numbered(12).split_validation(5);
        assert_eq!(train.len(), 7);
        assert_eq!(validation.labels(), &[7, 8, 9, 0, 1]);
        assert_eq!(validation.image(0), &[7u8; IMAGE_PIXELS][..]);
        assert_eq!(validation.normalization(), Normalization::MNIST);
        let (all, none) = numbered(3).split_validation(0);
        assert_eq!((all.len(), none.len()), (3, 0));
    }

    #[test]
    #[should_panic(expected = "split_validation")]
    fn validation_larger_than_the_split_panics() {
        let _ = numbered(3).split_validation(4);
    }

    #[test]
    #[should_panic(expected = "not in 0..=9")]
    fn new_refuses_labels_above_9() {
        let _ = Split::new(vec![0; IMAGE_PIXELS], vec![10], Normalization::UNIT);
    }

    /// Each channel's mean and standard deviation (the population's, as PyTorch's
    /// recipes compute them), and std 1 for a constant channel.
    #[test]
    fn channel_statistics_are_each_channels_mean_and_std() {
        // Two samples of 3 channels × 1 × 2 pixels. Channel 0: 0, 255, 255, 0 (mean 0.5,
        // std 0.5); channel 1: 51 everywhere (0.2, constant); channel 2: 0, 51, 102, 153
        // (0, 0.2, 0.4, 0.6: mean 0.3, variance 0.05).
        let images = vec![0, 255, 51, 51, 0, 51, 255, 0, 51, 51, 102, 153];
        let split = Split::with_shape(
            images,
            vec![0, 1],
            [3, 1, 2],
            vec!["a".into(), "b".into()],
            vec![Normalization::UNIT; 3],
        );
        let statistics = split.channel_statistics();
        let expected = [(0.5, 0.5), (0.2, 1.0), (0.3, 0.05f32.sqrt())];
        assert_eq!(statistics.len(), 3);
        for (c, (got, (mean, std))) in statistics.iter().zip(expected).enumerate() {
            assert!((got.mean - mean).abs() < 1e-6, "channel {c}: {got:?}");
            assert!((got.std - std).abs() < 1e-6, "channel {c}: {got:?}");
        }
    }

    #[test]
    fn histogram_counts_labels_and_debug_is_short() {
        let split = numbered(25);
        assert_eq!(split.label_histogram(), [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]);
        assert!(format!("{split:?}").len() < 200);
    }
}
