//! Mini-batches: a split's `u8` images become normalised `f32` NCHW arrays one batch at a
//! time, in a seeded order, optionally shifted by up to two pixels. The [`Split`] methods
//! that make them, [`Split::batch`] and [`Split::batches`], are defined here, on top of the
//! split's own accessors.

use std::fmt;
use std::iter::FusedIterator;

use ndarray::Array4;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::{Rng, SeedableRng};

use crate::kind::Normalization;
use crate::seeding::{augmentation_seed, epoch_order};
use crate::split::Split;

/// The largest translation, in pixels along each axis, that augmentation applies.
pub const MAX_SHIFT: i8 = 2;

/// How to cut a split into mini-batches.
///
/// The order of an epoch is a pure function of `(seed, epoch)` (see [`epoch_order`]), and so
/// is its augmentation (one seed per batch, [`augmentation_seed`]): the same seed gives the
/// same batches, whatever ran before and however many threads there are.
///
/// [`epoch_order`]: crate::epoch_order
/// [`augmentation_seed`]: crate::augmentation_seed
///
/// ```
/// use scratchnet_data::BatchConfig;
///
/// let config = BatchConfig { batch_size: 128, seed: 7, ..BatchConfig::default() };
/// assert!(config.shuffle && !config.augment);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchConfig {
    /// Samples per batch; the last batch of an epoch may be smaller. Must be at least 1.
    pub batch_size: usize,
    /// Visit the samples in a fresh random order each epoch (else in file order).
    pub shuffle: bool,
    /// Seed of the shuffle and of the augmentation.
    pub seed: u64,
    /// Translate each image by a random whole number of pixels in
    /// `-MAX_SHIFT..=MAX_SHIFT` along each axis (uniform over the 25 shifts, no shift
    /// included), filling with background. For recipes that aim beyond 99.2% on MNIST.
    pub augment: bool,
}

impl Default for BatchConfig {
    /// Batches of 64, shuffled, seed 0, no augmentation.
    fn default() -> Self {
        BatchConfig {
            batch_size: 64,
            shuffle: true,
            seed: 0,
            augment: false,
        }
    }
}

/// A mini-batch: `images` is `[B, C, H, W]` (NCHW, normalised `f32`; `[B, 1, 28, 28]` for
/// MNIST), `labels` has `B` class indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Normalised images, shape `[B, C, H, W]`.
    pub images: Array4<f32>,
    /// The class of each image, below the split's number of classes.
    pub labels: Vec<usize>,
}

impl Batch {
    /// Number of samples `B`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A translation of an image: its content moves `dy` pixels down and `dx` pixels right
/// (negative: up, left). Pixels moved out are lost; pixels moved in are background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Shift {
    /// Rows down (negative: up).
    pub dy: i8,
    /// Columns right (negative: left).
    pub dx: i8,
}

impl Shift {
    /// No translation.
    pub const NONE: Shift = Shift { dy: 0, dx: 0 };
}

/// The batches of one epoch of a split: an [`ExactSizeIterator`] of [`Batch`], made by
/// [`Split::batches`].
///
/// `nth` skips batches without building them, so `batches(&config, epoch).skip(k)`
/// resumes an epoch at batch `k` cheaply and exactly.
pub struct Batches<'a> {
    split: &'a Split,
    order: Vec<usize>,
    batch_size: usize,
    next_batch: usize,
    num_batches: usize,
    tables: Vec<[f32; 256]>,
    augmentation: Option<(u64, u64)>,
}

impl<'a> Batches<'a> {
    #[track_caller]
    pub(crate) fn new(split: &'a Split, config: &BatchConfig, epoch: u64) -> Batches<'a> {
        assert!(
            config.batch_size > 0,
            "BatchConfig::batch_size must be at least 1"
        );
        Batches {
            split,
            order: epoch_order(split.len(), config.shuffle, config.seed, epoch),
            batch_size: config.batch_size,
            next_batch: 0,
            num_batches: split.len().div_ceil(config.batch_size),
            tables: split
                .channel_normalization()
                .iter()
                .map(|n| n.lookup_table())
                .collect(),
            augmentation: config.augment.then_some((config.seed, epoch)),
        }
    }

    /// The order in which this epoch visits the split's samples (indices into the split).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The shifts augmentation applies to the samples of batch `batch_index` of this epoch
    /// (`None` without augmentation, empty past the last batch).
    pub fn shifts(&self, batch_index: usize) -> Option<Vec<Shift>> {
        let (seed, epoch) = self.augmentation?;
        let size = self.batch_indices(batch_index).len();
        let mut rng = StdRng::seed_from_u64(augmentation_seed(seed, epoch, batch_index as u64));
        let mut draw = || rng.random_range(-MAX_SHIFT..=MAX_SHIFT);
        Some(
            (0..size)
                .map(|_| Shift {
                    dy: draw(),
                    dx: draw(),
                })
                .collect(),
        )
    }

    fn batch_indices(&self, batch_index: usize) -> &[usize] {
        let start = batch_index
            .saturating_mul(self.batch_size)
            .min(self.order.len());
        let end = start.saturating_add(self.batch_size).min(self.order.len());
        &self.order[start..end]
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next_batch >= self.num_batches {
            return None;
        }
        let index = self.next_batch;
        self.next_batch += 1;
        let shifts = self.shifts(index);
        Some(self.split.batch_with_table(
            self.batch_indices(index),
            &self.tables,
            shifts.as_deref(),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.num_batches.saturating_sub(self.next_batch);
        (remaining, Some(remaining))
    }

    fn nth(&mut self, n: usize) -> Option<Batch> {
        self.next_batch = self.next_batch.saturating_add(n);
        self.next()
    }
}

impl ExactSizeIterator for Batches<'_> {}

impl FusedIterator for Batches<'_> {}

impl fmt::Debug for Batches<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batches")
            .field("samples", &self.order.len())
            .field("batch_size", &self.batch_size)
            .field("next_batch", &self.next_batch)
            .field("num_batches", &self.num_batches)
            .field("augmentation", &self.augmentation)
            .finish_non_exhaustive()
    }
}

/// Cutting a split into batches.
impl Split {
    /// The samples at `indices`, as a batch of normalised images `[B, C, H, W]` (NCHW,
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
        self.batch_with_table(indices, &[normalization.lookup_table()], shifts)
    }

    /// [`batch`](Self::batch) with the normalisation of each channel as a 256-entry
    /// look-up table (one table for all channels, or one per channel).
    #[track_caller]
    pub(crate) fn batch_with_table(
        &self,
        indices: &[usize],
        tables: &[[f32; 256]],
        shifts: Option<&[Shift]>,
    ) -> Batch {
        if let Some(shifts) = shifts {
            assert_eq!(
                shifts.len(),
                indices.len(),
                "one shift per sample of the batch"
            );
        }
        let [channels, height, width] = self.sample_shape();
        let mut images = Array4::<f32>::zeros((indices.len(), channels, height, width));
        let out = images
            .as_slice_mut()
            .expect("a freshly made array is contiguous");
        fill_images(self, indices, tables, shifts, out);
        let labels = indices
            .iter()
            .map(|&i| usize::from(self.labels()[i]))
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

/// Writes the images of `split` at `indices`, each channel normalised through its table of
/// `tables` (or all through the one table) and shifted by `shifts`, into `out`
/// (`indices.len() * sample_len` values, one image after the other).
pub(crate) fn fill_images(
    split: &Split,
    indices: &[usize],
    tables: &[[f32; 256]],
    shifts: Option<&[Shift]>,
    out: &mut [f32],
) {
    let [_, height, width] = split.sample_shape();
    let plane = height * width;
    for (k, (&index, dst)) in indices
        .iter()
        .zip(out.chunks_exact_mut(split.sample_len()))
        .enumerate()
    {
        let src = split.image(index);
        let planes = src.chunks_exact(plane).zip(dst.chunks_exact_mut(plane));
        for (channel, (src, dst)) in planes.enumerate() {
            let table = &tables[channel.min(tables.len() - 1)];
            match shifts.map(|s| s[k]) {
                None | Some(Shift::NONE) => {
                    for (d, &pixel) in dst.iter_mut().zip(src) {
                        *d = table[usize::from(pixel)];
                    }
                }
                Some(shift) => write_shifted(src, dst, [height, width], shift, table),
            }
        }
    }
}

/// `dst[y][x] = table[src[y - dy][x - dx]]` for one `[H, W]` plane, background where that
/// is outside the image.
fn write_shifted(src: &[u8], dst: &mut [f32], size: [usize; 2], shift: Shift, table: &[f32; 256]) {
    let (h, w) = (size[0] as isize, size[1] as isize);
    dst.fill(table[0]);
    let (dy, dx) = (isize::from(shift.dy), isize::from(shift.dx));
    let (x_start, x_end) = (dx.clamp(0, w), (w + dx).clamp(0, w));
    for y in dy.clamp(0, h)..(h + dy).clamp(0, h) {
        let src_row = ((y - dy) * w) as usize;
        let dst_row = (y * w) as usize;
        for x in x_start..x_end {
            let pixel = src[src_row + (x - dx) as usize];
            dst[dst_row + x as usize] = table[usize::from(pixel)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::IMAGE_PIXELS;

    /// `n` images whose pixel `(y, x)` is `y * 28 + x` mod 251 plus the sample number.
    fn patterned(n: usize) -> Split {
        let images = (0..n)
            .flat_map(|i| (0..IMAGE_PIXELS).map(move |p| ((p + i) % 251) as u8))
            .collect();
        Split::new(
            images,
            (0..n).map(|i| (i % 10) as u8).collect(),
            Normalization::UNIT,
        )
    }

    #[test]
    fn batch_is_nchw_normalised_and_in_index_order() {
        let images = (0..4).flat_map(|i| [i as u8; IMAGE_PIXELS]).collect();
        let split = Split::new(images, vec![0, 1, 2, 3], Normalization::MNIST);
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
    fn epochs_cover_every_sample_once_with_a_last_partial_batch() {
        let split = patterned(23);
        let config = BatchConfig {
            batch_size: 5,
            ..BatchConfig::default()
        };
        let batches = split.batches(&config, 3);
        assert_eq!(batches.len(), 5);
        let order = batches.order().to_vec();
        let sizes: Vec<usize> = batches.map(|b| b.len()).collect();
        assert_eq!(sizes, vec![5, 5, 5, 5, 3]);
        let mut sorted = order;
        sorted.sort_unstable();
        assert_eq!(sorted, (0..23).collect::<Vec<_>>());
    }

    #[test]
    fn exact_size_and_nth_agree_with_sequential_iteration() {
        let split = patterned(50);
        let config = BatchConfig {
            batch_size: 8,
            augment: true,
            seed: 3,
            ..BatchConfig::default()
        };
        let all: Vec<Batch> = split.batches(&config, 1).collect();
        let mut batches = split.batches(&config, 1);
        assert_eq!(batches.nth(4).as_ref(), Some(&all[4]));
        assert_eq!(batches.len(), 2);
        assert_eq!(batches.next().as_ref(), Some(&all[5]));
        assert_eq!(batches.next().as_ref(), Some(&all[6]));
        assert_eq!(batches.next(), None);
        assert_eq!(batches.len(), 0);
        assert_eq!(split.batches(&config, 1).nth(99), None);
    }

    #[test]
    fn shifted_images_move_and_fill_with_background() {
        let split = patterned(1);
        // MNIST's table, where background (normalised black, about −0.42) is not 0: with
        // `UNIT` a border filled with 0.0 instead of `table[0]` passed.
        let table = Normalization::MNIST.lookup_table();
        assert!(table[0] < -0.4);
        let src = split.image(0);
        for (dy, dx) in [(2i8, -1i8), (-2, 2), (0, 1), (27, 0), (-40, 40)] {
            let mut dst = vec![f32::NAN; IMAGE_PIXELS];
            write_shifted(src, &mut dst, [28, 28], Shift { dy, dx }, &table);
            for y in 0..28isize {
                for x in 0..28isize {
                    let (sy, sx) = (y - isize::from(dy), x - isize::from(dx));
                    let expected = if (0..28).contains(&sy) && (0..28).contains(&sx) {
                        table[usize::from(src[(sy * 28 + sx) as usize])]
                    } else {
                        table[0]
                    };
                    assert_eq!(
                        dst[(y * 28 + x) as usize],
                        expected,
                        "({dy},{dx}) at ({y},{x})"
                    );
                }
            }
        }
    }

    #[test]
    fn augmentation_shifts_stay_within_two_pixels_and_vary() {
        let split = patterned(200);
        let config = BatchConfig {
            batch_size: 200,
            augment: true,
            ..BatchConfig::default()
        };
        let shifts = split.batches(&config, 0).shifts(0).unwrap();
        assert_eq!(shifts.len(), 200);
        assert!(shifts
            .iter()
            .all(|s| s.dy.abs() <= MAX_SHIFT && s.dx.abs() <= MAX_SHIFT));
        let distinct: std::collections::HashSet<_> = shifts.iter().collect();
        assert_eq!(distinct.len(), 25);
        let plain = BatchConfig {
            augment: false,
            ..config
        };
        assert_eq!(split.batches(&plain, 0).shifts(0), None);
    }

    #[test]
    #[should_panic(expected = "batch_size")]
    fn a_zero_batch_size_panics() {
        let _ = patterned(1).batches(
            &BatchConfig {
                batch_size: 0,
                ..BatchConfig::default()
            },
            0,
        );
    }

    #[test]
    fn colour_batches_normalise_each_channel_and_shift_every_plane_alike() {
        // One 3×2×3 image: channel c holds c*10 + pixel index.
        let image: Vec<u8> = (0..3u8)
            .flat_map(|c| (0..6u8).map(move |p| c * 10 + p))
            .collect();
        let norms = vec![
            Normalization::UNIT,
            Normalization {
                mean: 0.5,
                std: 1.0,
            },
            Normalization {
                mean: 0.0,
                std: 0.5,
            },
        ];
        let split = Split::with_shape(
            image,
            vec![1],
            [3, 2, 3],
            vec!["a".into(), "b".into()],
            norms.clone(),
        );
        let config = BatchConfig {
            batch_size: 1,
            shuffle: false,
            ..BatchConfig::default()
        };
        let batch = split.batches(&config, 0).next().unwrap();
        assert_eq!(batch.images.shape(), &[1, 3, 2, 3]);
        for (c, norm) in norms.iter().enumerate() {
            for y in 0..2 {
                for x in 0..3 {
                    let pixel = (c * 10 + y * 3 + x) as u8;
                    assert_eq!(batch.images[[0, c, y, x]], norm.apply(pixel));
                }
            }
        }
        let shifted = split.batch(&[0], Normalization::UNIT, Some(&[Shift { dy: 1, dx: 1 }]));
        for c in 0..3 {
            assert_eq!(
                shifted.images[[0, c, 1, 1]],
                Normalization::UNIT.apply((c * 10) as u8)
            );
            assert_eq!(shifted.images[[0, c, 0, 0]], 0.0);
        }
    }
}
