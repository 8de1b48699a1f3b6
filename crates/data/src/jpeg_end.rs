//! Whether a JPEG file is cut short: the `image` crate's JPEG decoder fills the missing
//! part of a truncated scan with grey and reports success, so a file that ends before its
//! end-of-image marker is found here, by walking the file's structure.
//!
//! The walk follows the file marker by marker, as a decoder reads it: each marker segment
//! is skipped by its stated length (so the markers of an EXIF thumbnail, inside its APP1
//! segment, are never mistaken for the image's own), and the entropy-coded data after each
//! start-of-scan is passed over up to the next marker (inside that data a 0xFF byte is
//! followed only by 0x00 or a restart marker, so no other marker can appear there). A
//! progressive JPEG has several scans; the walk goes through all of them. The file is
//! complete when the walk reaches the end-of-image marker `FF D9`; whatever follows it
//! (the video of a "motion photo", a second picture) is not looked at.

use std::io::{self, BufRead, Read};

/// The first bytes of every JPEG file: the start-of-image marker and the next marker's 0xFF.
const JPEG_START: [u8; 3] = [0xFF, 0xD8, 0xFF];
/// The end-of-image marker (after its 0xFF).
const END_OF_IMAGE: u8 = 0xD9;

/// Whether `reader`, read from its start, is a JPEG that ends before its end-of-image
/// marker. Content that does not start as a JPEG does (`FF D8 FF`) gives `false`: there is
/// nothing to say about it here, the decoder judges it.
///
/// # Errors
/// The I/O error of reading.
pub(crate) fn is_truncated_jpeg(mut reader: impl BufRead) -> io::Result<bool> {
    let mut start = [0u8; 3];
    match reader.read_exact(&mut start) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        result => result?,
    }
    if start != JPEG_START {
        return Ok(false);
    }
    // Here, and at the end of each turn, the reader stands just past a 0xFF byte.
    loop {
        let marker = loop {
            match next_byte(&mut reader)? {
                None => return Ok(true),
                Some(0xFF) => continue, // fill bytes before a marker
                Some(marker) => break marker,
            }
        };
        match marker {
            END_OF_IMAGE => return Ok(false),
            // No length follows: a stuffed 0x00 or a restart marker (both only inside
            // entropy-coded data), TEM, or a start-of-image.
            0x00 | 0x01 | 0xD0..=0xD8 => {}
            _ => {
                let (Some(high), Some(low)) = (next_byte(&mut reader)?, next_byte(&mut reader)?)
                else {
                    return Ok(true);
                };
                // The length counts its own two bytes.
                let payload = u64::from(u16::from_be_bytes([high, low]).saturating_sub(2));
                if io::copy(&mut reader.by_ref().take(payload), &mut io::sink())? < payload {
                    return Ok(true);
                }
            }
        }
        if !skip_past_next_ff(&mut reader)? {
            return Ok(true);
        }
    }
}

/// The next byte, or `None` at the end.
fn next_byte(reader: &mut impl BufRead) -> io::Result<Option<u8>> {
    let byte = reader.fill_buf()?.first().copied();
    if byte.is_some() {
        reader.consume(1);
    }
    Ok(byte)
}

/// Reads up to and including the next 0xFF byte; `false` if the end comes first.
fn skip_past_next_ff(reader: &mut impl BufRead) -> io::Result<bool> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(false);
        }
        match buffer.iter().position(|&b| b == 0xFF) {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(true);
            }
            None => {
                let len = buffer.len();
                reader.consume(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::{ExtendedColorType, ImageEncoder};

    /// A complete 16×16 grey JPEG made by the `image` crate's encoder (baseline: one scan).
    fn complete_jpeg() -> Vec<u8> {
        let pixels: Vec<u8> = (0..16 * 16).map(|i| (i * 7 % 256) as u8).collect();
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 90)
            .write_image(&pixels, 16, 16, ExtendedColorType::L8)
            .unwrap();
        bytes
    }

    fn truncated(bytes: &[u8]) -> bool {
        is_truncated_jpeg(bytes).unwrap()
    }

    /// Where the (last) start-of-scan marker of `bytes` is.
    fn last_scan(bytes: &[u8]) -> usize {
        bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap()
    }

    /// A marker segment: the marker, its length (counting itself), the payload.
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() + 2) as u16;
        [&[0xFF, marker][..], &len.to_be_bytes(), payload].concat()
    }

    #[test]
    fn a_complete_jpeg_is_not_truncated_and_one_cut_anywhere_is() {
        let jpeg = complete_jpeg();
        assert_eq!(jpeg[..3], JPEG_START);
        assert_eq!(jpeg[jpeg.len() - 2..], [0xFF, END_OF_IMAGE]);
        assert!(!truncated(&jpeg));
        // Cut in the headers, in the scan header, in the entropy-coded data, between the
        // end-of-image marker's two bytes.
        let scan = last_scan(&jpeg);
        for len in [3, 20, scan + 3, scan + 40, jpeg.len() - 10, jpeg.len() - 1] {
            assert!(
                truncated(&jpeg[..len]),
                "cut to {len} of {} bytes",
                jpeg.len()
            );
        }
    }

    #[test]
    fn bytes_after_the_end_of_image_marker_are_allowed_even_markers() {
        let mut jpeg = complete_jpeg();
        // What a phone appends (a video, another picture): a start-of-scan, no end.
        jpeg.extend_from_slice(&[0x00, 0x12, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0xFF]);
        assert!(!truncated(&jpeg));
    }

    /// A progressive JPEG has several scans, each followed by the next one's tables: cut
    /// after a complete scan, it still ends before its end-of-image marker. (The `image`
    /// crate encodes baseline only; the walk reads the structure, not the coding, so its
    /// scan twice with a Huffman table between stands in for one.)
    #[test]
    fn every_scan_of_a_progressive_jpeg_is_walked_through() {
        let jpeg = complete_jpeg();
        let scan = last_scan(&jpeg);
        let (head, first_scan) = (&jpeg[..scan], &jpeg[scan..jpeg.len() - 2]);
        let huffman_table = segment(
            0xC4,
            &[0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        let progressive = [head, first_scan, &huffman_table, first_scan, &[0xFF, 0xD9]].concat();
        assert!(!truncated(&progressive));
        let second_scan = last_scan(&progressive);
        for len in [second_scan, second_scan + 30, progressive.len() - 2] {
            assert!(truncated(&progressive[..len]), "cut to {len}");
        }
    }

    /// An EXIF thumbnail is a whole JPEG inside the APP1 segment, with its own scan and
    /// end-of-image marker: the image cut before its own scan is still cut short.
    #[test]
    fn the_markers_of_an_exif_thumbnail_do_not_count() {
        let jpeg = complete_jpeg();
        let exif = segment(0xE1, &[b"Exif\0\0".as_slice(), &jpeg].concat());
        let with_thumbnail = [&jpeg[..2], &exif, &jpeg[2..]].concat();
        assert!(!truncated(&with_thumbnail));
        let before_scan = last_scan(&with_thumbnail);
        assert!(before_scan > exif.len());
        assert!(truncated(&with_thumbnail[..before_scan]));
    }

    #[test]
    fn what_is_not_a_jpeg_is_left_to_the_decoder() {
        for bytes in [
            &b""[..],
            b"\xFF\xD8",
            b"\x89PNG\r\n\x1a\n",
            b"\xFF\xD8\x00 text",
        ] {
            assert!(!truncated(bytes), "{bytes:?}");
        }
    }
}
