//! The IDX format as MNIST uses it, what can be wrong inside such a file
//! ([`FormatDefect`]), and the checks a file's bytes must pass before the `mnist` crate
//! (which panics on anything unexpected) is allowed to read them.
//!
//! An images file is a 16-byte header — magic 2051, count, rows, cols, each a big-endian
//! `u32` — followed by `count * rows * cols` pixels. A labels file is an 8-byte header —
//! magic 2049, count — followed by `count` labels.

use crate::kind::{FileRole, IMAGE_HEIGHT, IMAGE_PIXELS, IMAGE_WIDTH, NUM_CLASSES};

/// Magic number of an IDX file of unsigned bytes in 3 dimensions (images).
const IMAGES_MAGIC: u32 = 0x0803;
/// Magic number of an IDX file of unsigned bytes in 1 dimension (labels).
const LABELS_MAGIC: u32 = 0x0801;

const IMAGES_HEADER_LEN: u64 = 16;
const LABELS_HEADER_LEN: u64 = 8;

/// The IDX layout of each of the four files.
impl FileRole {
    /// The IDX magic number the file must start with: 2051 (`0x0803`, unsigned bytes in
    /// 3 dimensions) for images, 2049 (`0x0801`, 1 dimension) for labels.
    pub const fn magic(self) -> u32 {
        if self.is_images() {
            IMAGES_MAGIC
        } else {
            LABELS_MAGIC
        }
    }

    /// Byte length of a complete, decompressed file: 47,040,016 / 60,008 / 7,840,016 /
    /// 10,008.
    pub const fn complete_len(self) -> u64 {
        file_len(self, self.complete_count() as u64)
    }
}

/// Byte length of a decompressed file of `role` holding `count` samples.
const fn file_len(role: FileRole, count: u64) -> u64 {
    if role.is_images() {
        IMAGES_HEADER_LEN + count * IMAGE_PIXELS as u64
    } else {
        LABELS_HEADER_LEN + count
    }
}

/// The most bytes a file of `role` may have before it is refused unread: twice a complete
/// file, so that a file with a few trailing bytes is still read and reported as such, while
/// a wrong multi-gigabyte file (or a gzip bomb) is not loaded into memory.
pub(crate) const fn max_plausible_len(role: FileRole) -> u64 {
    2 * role.complete_len()
}

/// What is wrong inside one file, once read and decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatDefect {
    /// Zero bytes (or a gzip stream of zero bytes).
    #[error("the file is empty")]
    Empty,
    /// Shorter than the IDX header (16 bytes for images, 8 for labels).
    #[error("it is only {len} bytes long, shorter than the {header_len}-byte IDX header")]
    HeaderTooShort {
        /// Bytes in the file.
        len: u64,
        /// Bytes the header needs.
        header_len: u64,
    },
    /// The first four bytes are not the magic number of the expected IDX file.
    #[error(
        "its magic number is {found} where an IDX {} file has {expected}{}",
        if *.expected == IMAGES_MAGIC { "images" } else { "labels" },
        swapped_hint(*.found)
    )]
    WrongMagic {
        /// The magic number found.
        found: u32,
        /// The magic number expected (2051 images, 2049 labels).
        expected: u32,
    },
    /// Images that are not 28×28.
    #[error("its images are {rows}×{cols} pixels, not 28×28")]
    WrongImageSize {
        /// Rows in the header.
        rows: u32,
        /// Columns in the header.
        cols: u32,
    },
    /// Fewer bytes than the header announces.
    #[error(
        "it is truncated: its header announces {count} items, which take {expected} bytes, but \
         it has only {actual}"
    )]
    Truncated {
        /// Items the header announces.
        count: u32,
        /// Bytes those items take, header included.
        expected: u64,
        /// Bytes in the file.
        actual: u64,
    },
    /// More bytes than the header announces.
    #[error(
        "it has {} unexpected trailing bytes: its header announces {count} items, which take \
         {expected} bytes, but it has {actual}",
        .actual - .expected
    )]
    TrailingBytes {
        /// Items the header announces.
        count: u32,
        /// Bytes those items take, header included.
        expected: u64,
        /// Bytes in the file.
        actual: u64,
    },
    /// A label outside `0..=9`.
    #[error("label number {index} is {label}, outside 0..=9")]
    LabelOutOfRange {
        /// Position of the first bad label.
        index: usize,
        /// Its value.
        label: u8,
    },
    /// So large that it cannot be an MNIST file; refused without reading it all.
    #[error("it is (or decompresses to) more than {limit} bytes, too large for an MNIST file")]
    TooLarge {
        /// The limit, twice the size of a complete file.
        limit: u64,
    },
    /// A consistent file with a sample count other than the complete set's.
    #[error(
        "it holds {found} samples where the complete set has {expected} (the mnist crate reads \
         only complete sets)"
    )]
    WrongCount {
        /// Samples in the file.
        found: usize,
        /// Samples in a complete file.
        expected: usize,
    },
}

/// Checks the bytes of a decompressed file against everything its header promises, and
/// returns the number of samples it holds.
///
/// Checked, in order: not empty, the magic number of `role`, long enough for the header,
/// 28×28 images, a length of exactly header + count × item size, and (for labels) every
/// label in `0..=9`. It does not check the count against a complete set: see
/// [`FileRole::complete_count`].
pub(crate) fn check(role: FileRole, bytes: &[u8]) -> Result<usize, FormatDefect> {
    let header_len = if role.is_images() {
        IMAGES_HEADER_LEN
    } else {
        LABELS_HEADER_LEN
    };
    let len = bytes.len() as u64;
    if len == 0 {
        return Err(FormatDefect::Empty);
    }
    let field = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if len >= 4 && field(0) != role.magic() {
        return Err(FormatDefect::WrongMagic {
            found: field(0),
            expected: role.magic(),
        });
    }
    if len < header_len {
        return Err(FormatDefect::HeaderTooShort { len, header_len });
    }
    let count = field(4);
    if role.is_images() {
        let (rows, cols) = (field(8), field(12));
        if rows as usize != IMAGE_HEIGHT || cols as usize != IMAGE_WIDTH {
            return Err(FormatDefect::WrongImageSize { rows, cols });
        }
    }
    let expected = file_len(role, u64::from(count));
    if len < expected {
        return Err(FormatDefect::Truncated {
            count,
            expected,
            actual: len,
        });
    }
    if len > expected {
        return Err(FormatDefect::TrailingBytes {
            count,
            expected,
            actual: len,
        });
    }
    if !role.is_images() {
        let labels = &bytes[header_len as usize..];
        if let Some(index) = labels.iter().position(|&l| usize::from(l) >= NUM_CLASSES) {
            return Err(FormatDefect::LabelOutOfRange {
                index,
                label: labels[index],
            });
        }
    }
    Ok(count as usize)
}

fn swapped_hint(found: u32) -> &'static str {
    match found {
        IMAGES_MAGIC => " (it looks like an images file)",
        LABELS_MAGIC => " (it looks like a labels file)",
        0x1f8b_0000..=0x1f8b_ffff => " (it looks gzip-compressed: name it with .gz)",
        _ => "",
    }
}

/// Encodes an images file: the header for `count = pixels.len() / 784` 28×28 images, then
/// `pixels`. The inverse of [`check`]; used by tests and by nothing that loads.
///
/// **Panics** if `pixels.len()` is not a multiple of 784.
#[cfg(test)]
pub(crate) fn encode_images(pixels: &[u8]) -> Vec<u8> {
    assert_eq!(pixels.len() % IMAGE_PIXELS, 0);
    let count = (pixels.len() / IMAGE_PIXELS) as u32;
    let mut bytes = Vec::with_capacity(pixels.len() + 16);
    for field in [IMAGES_MAGIC, count, IMAGE_HEIGHT as u32, IMAGE_WIDTH as u32] {
        bytes.extend_from_slice(&field.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    bytes
}

/// Encodes a labels file: the header for `labels.len()` labels, then `labels`.
#[cfg(test)]
pub(crate) fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(labels.len() + 8);
    bytes.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_images() -> Vec<u8> {
        encode_images(&[7u8; 3 * IMAGE_PIXELS])
    }

    #[test]
    fn complete_lengths_match_the_published_sizes() {
        assert_eq!(FileRole::TrainImages.complete_len(), 47_040_016);
        assert_eq!(FileRole::TrainLabels.complete_len(), 60_008);
        assert_eq!(FileRole::TestImages.complete_len(), 7_840_016);
        assert_eq!(FileRole::TestLabels.complete_len(), 10_008);
    }

    #[test]
    fn a_swapped_file_is_recognised_in_the_message() {
        let defect = FormatDefect::WrongMagic {
            found: LABELS_MAGIC,
            expected: IMAGES_MAGIC,
        };
        assert_eq!(
            defect.to_string(),
            "its magic number is 2049 where an IDX images file has 2051 (it looks like a labels \
             file)"
        );
    }

    #[test]
    fn well_formed_files_report_their_count() {
        assert_eq!(check(FileRole::TrainImages, &three_images()), Ok(3));
        assert_eq!(
            check(FileRole::TestLabels, &encode_labels(&[0, 9, 5])),
            Ok(3)
        );
        assert_eq!(check(FileRole::TestLabels, &encode_labels(&[])), Ok(0));
    }

    #[test]
    fn empty_and_short_files_are_refused() {
        assert_eq!(check(FileRole::TrainImages, &[]), Err(FormatDefect::Empty));
        assert_eq!(
            check(FileRole::TrainLabels, &[0, 0, 8]),
            Err(FormatDefect::HeaderTooShort {
                len: 3,
                header_len: 8
            })
        );
        assert_eq!(
            check(FileRole::TrainImages, &[0, 0, 8, 3, 0, 0]),
            Err(FormatDefect::HeaderTooShort {
                len: 6,
                header_len: 16
            })
        );
    }

    #[test]
    fn labels_where_images_belong_are_a_wrong_magic() {
        assert_eq!(
            check(FileRole::TrainImages, &encode_labels(&[1; 20])),
            Err(FormatDefect::WrongMagic {
                found: LABELS_MAGIC,
                expected: IMAGES_MAGIC
            })
        );
    }

    #[test]
    fn lengths_must_match_the_header_exactly() {
        let mut bytes = three_images();
        bytes.push(0);
        assert!(matches!(
            check(FileRole::TestImages, &bytes),
            Err(FormatDefect::TrailingBytes { count: 3, .. })
        ));
        bytes.truncate(bytes.len() - 2);
        assert!(matches!(
            check(FileRole::TestImages, &bytes),
            Err(FormatDefect::Truncated { count: 3, .. })
        ));
    }

    #[test]
    fn a_huge_announced_count_does_not_overflow() {
        let mut bytes = three_images();
        bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            check(FileRole::TrainImages, &bytes),
            Err(FormatDefect::Truncated {
                count: u32::MAX,
                ..
            })
        ));
    }

    #[test]
    fn images_must_be_28_by_28_and_labels_below_10() {
        let mut bytes = three_images();
        bytes[8..12].copy_from_slice(&32u32.to_be_bytes());
        assert_eq!(
            check(FileRole::TrainImages, &bytes),
            Err(FormatDefect::WrongImageSize { rows: 32, cols: 28 })
        );
        assert_eq!(
            check(FileRole::TrainLabels, &encode_labels(&[1, 2, 10, 3])),
            Err(FormatDefect::LabelOutOfRange {
                index: 2,
                label: 10
            })
        );
    }
}
