//! A loaded dataset and its splits: images kept as `u8` (784 bytes each), labels as `u8`.
//! Images become normalised `f32` only a mini-batch at a time (see [`crate::batch`]).

use std::fmt;

use crate::kind::{DatasetKind, Normalization, IMAGE_PIXELS, NUM_CLASSES};

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

/// Samples of one split: `len() * 784` pixels row-major, one label each, and the
/// normalisation its batches use (that of its [`DatasetKind`] when loaded).
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
    normalization: Normalization,
}

impl Split {
    /// A split from `n * 784` pixels (row-major 28×28 images, one after the other) and `n`
    /// labels.
    ///
    /// **Panics** if `images.len() != labels.len() * 784` or a label is not in `0..=9`
    /// (loading never builds such a split: it checks the files first).
    #[track_caller]
    pub fn new(images: Vec<u8>, labels: Vec<u8>, normalization: Normalization) -> Split {
        assert_eq!(
            images.len(),
            labels.len() * IMAGE_PIXELS,
            "Split::new: {} pixels for {} labels (need 784 per label)",
            images.len(),
            labels.len()
        );
        if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= NUM_CLASSES) {
            panic!("Split::new: label {bad} is not in 0..=9");
        }
        Split {
            images,
            labels,
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

    /// All labels, each in `0..=9`.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All pixels, `len() * 784` bytes, image after image, row-major.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// The 784 pixels of image `i`, row-major (`[y * 28 + x]`).
    ///
    /// **Panics** if `i >= len()`.
    #[track_caller]
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.len(), "image {i} of a split of {}", self.len());
        &self.images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]
    }

    /// The normalisation [`batches`](Self::batches) applies.
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }

    /// The same samples with another normalisation.
    pub fn with_normalization(self, normalization: Normalization) -> Split {
        Split {
            normalization,
            ..self
        }
    }

    /// How many samples carry each label: `histogram[d]` is the count of label `d`.
    pub fn label_histogram(&self) -> [usize; NUM_CLASSES] {
        let mut histogram = [0; NUM_CLASSES];
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
            images: self.images[..n * IMAGE_PIXELS].to_vec(),
            labels: self.labels[..n].to_vec(),
            normalization: self.normalization,
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
            images: self.images.split_off(n_train * IMAGE_PIXELS),
            labels: self.labels.split_off(n_train),
            normalization: self.normalization,
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
            .field("normalization", &self.normalization)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn histogram_counts_labels_and_debug_is_short() {
        let split = numbered(25);
        assert_eq!(split.label_histogram(), [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]);
        assert!(format!("{split:?}").len() < 100);
    }
}
