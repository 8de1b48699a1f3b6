//! A loaded dataset and its splits: images kept as `u8` (784 bytes each), labels as `u8`.
//! Images become normalised `f32` only a mini-batch at a time (see [`crate::batch`]).

use std::fmt;

use ndarray::Array4;

use crate::batch::{fill_images, BatchConfig, Batches, Shift};
use crate::kind::{
    DatasetKind, Normalization, IMAGE_HEIGHT, IMAGE_PIXELS, IMAGE_WIDTH, NUM_CLASSES,
};
use crate::Batch;

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

    /// The samples at `indices`, as a batch of normalised images `[B, 1, 28, 28]` (NCHW,
    /// `B = indices.len()`) and their labels.
    ///
    /// With `shifts`, image `k` is translated by `shifts[k]` (see [`Shift`]); the pixels
    /// moved in from outside are background (pixel value 0, i.e. `-mean / std` after
    /// normalisation).
    ///
    /// Pixels are written straight into the batch's array, with no allocation per sample.
    ///
    /// **Panics** if an index is `>= len()` or `shifts` has a length other than
    /// `indices.len()`.
    ///
    /// ```
    /// use scratchnet_data::{Normalization, Shift, Split};
    ///
    /// let mut pixels = vec![0u8; 784];
    /// pixels[0] = 255; // top-left corner
    /// let split = Split::new(pixels, vec![7], Normalization::UNIT);
    /// let batch = split.batch(&[0], Normalization::UNIT, Some(&[Shift { dy: 1, dx: 2 }]));
    /// assert_eq!(batch.images[[0, 0, 1, 2]], 1.0); // moved down 1, right 2
    /// assert_eq!(batch.images[[0, 0, 0, 0]], 0.0);
    /// assert_eq!(batch.labels, vec![7]);
    /// ```
    #[track_caller]
    pub fn batch(
        &self,
        indices: &[usize],
        normalization: Normalization,
        shifts: Option<&[Shift]>,
    ) -> Batch {
        self.batch_with_table(indices, &normalization.lookup_table(), shifts)
    }

    /// [`batch`](Self::batch) with the normalisation as a 256-entry look-up table.
    #[track_caller]
    pub(crate) fn batch_with_table(
        &self,
        indices: &[usize],
        table: &[f32; 256],
        shifts: Option<&[Shift]>,
    ) -> Batch {
        if let Some(shifts) = shifts {
            assert_eq!(
                shifts.len(),
                indices.len(),
                "one shift per sample of the batch"
            );
        }
        let mut images = Array4::<f32>::zeros((indices.len(), 1, IMAGE_HEIGHT, IMAGE_WIDTH));
        let out = images
            .as_slice_mut()
            .expect("a freshly made array is contiguous");
        fill_images(self, indices, table, shifts, out);
        let labels = indices
            .iter()
            .map(|&i| usize::from(self.labels[i]))
            .collect();
        Batch { images, labels }
    }

    /// The mini-batches of one epoch, in an order that depends only on `config` and
    /// `epoch` (see [`BatchConfig`]), the last one partial if `len()` is not a multiple of
    /// the batch size. Batches use [`normalization`](Self::normalization).
    ///
    /// **Panics** if `config.batch_size` is 0.
    #[track_caller]
    pub fn batches(&self, config: &BatchConfig, epoch: u64) -> Batches<'_> {
        Batches::new(self, config, epoch)
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
    fn batch_is_nchw_normalised_and_in_index_order() {
        let split = numbered(4);
        let batch = split.batch(&[3, 1], Normalization::MNIST, None);
        assert_eq!(batch.images.shape(), &[2, 1, 28, 28]);
        assert_eq!(batch.labels, vec![3, 1]);
        let expected = Normalization::MNIST.apply(3);
        assert!(batch
            .images
            .index_axis(ndarray::Axis(0), 0)
            .iter()
            .all(|&v| v == expected));
        assert_eq!(batch.images[[1, 0, 27, 27]], Normalization::MNIST.apply(1));
    }

    #[test]
    fn histogram_counts_labels_and_debug_is_short() {
        let split = numbered(25);
        assert_eq!(split.label_histogram(), [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]);
        assert!(format!("{split:?}").len() < 100);
    }
}
