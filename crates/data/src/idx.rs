//! The IDX format as MNIST uses it, and the checks a file's bytes must pass before the
//! `mnist` crate (which panics on anything unexpected) is allowed to read them.
//!
//! An images file is a 16-byte header — magic 2051, count, rows, cols, each a big-endian
//! `u32` — followed by `count * rows * cols` pixels. A labels file is an 8-byte header —
//! magic 2049, count — followed by `count` labels.

use crate::error::FormatDefect;
use crate::kind::{FileRole, IMAGE_HEIGHT, IMAGE_PIXELS, IMAGE_WIDTH, NUM_CLASSES};

/// Magic number of an IDX file of unsigned bytes in 3 dimensions (images).
pub(crate) const IMAGES_MAGIC: u32 = 0x0803;
/// Magic number of an IDX file of unsigned bytes in 1 dimension (labels).
pub(crate) const LABELS_MAGIC: u32 = 0x0801;

const IMAGES_HEADER_LEN: u64 = 16;
const LABELS_HEADER_LEN: u64 = 8;

/// Byte length of a decompressed file of `role` holding `count` samples.
pub(crate) const fn file_len(role: FileRole, count: u64) -> u64 {
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
