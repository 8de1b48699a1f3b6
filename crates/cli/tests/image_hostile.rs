//! Hostile image headers for `predict`'s image loader (issue 7): a header claiming a
//! huge picture (a decompression bomb) is an error, not an allocation. `load_digit`
//! sets the decoder's limits: at most `MAX_IMAGE_SIDE` pixels a side and
//! `MAX_IMAGE_ALLOC` bytes, checked against the header before the pixels are allocated.

use std::time::{Duration, Instant};

use scratchnet_cli::{load_digit, load_image, MAX_IMAGE_ALLOC, MAX_IMAGE_SIDE};
use scratchnet_data::{MAX_FOLDER_IMAGE_ALLOC, MAX_FOLDER_IMAGE_SIDE};

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A PNG whose header says `width`×`height` RGB, with a few bytes of stored zlib data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    // zlib, one stored block of 4 zero bytes.
    png.extend(chunk(
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0, 0x04, 0, 0x01,
        ],
    ));
    png.extend(chunk(b"IEND", b""));
    png
}

/// A baseline JPEG header (quantisation table, frame, no Huffman tables, no scan) that
/// says `width`×`height` grey.
fn jpeg_header(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00];
    jpeg.extend_from_slice(&[1; 64]);
    jpeg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8]);
    jpeg.extend_from_slice(&height.to_be_bytes());
    jpeg.extend_from_slice(&width.to_be_bytes());
    jpeg.extend_from_slice(&[1, 1, 0x11, 0, 0xFF, 0xD9]);
    jpeg
}

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn load(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digit");
    std::fs::write(&path, bytes).unwrap();
    load_digit(&path).map_err(|e| e.to_string())
}

/// `bytes` must be rejected at once, without growing the peak RSS by more than 64 MB.
fn assert_rejected_cheaply(bytes: &[u8]) -> String {
    let before = peak_rss_kb();
    let start = Instant::now();
    let message = load(bytes).expect_err("a huge image must be rejected");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    if let (Some(before), Some(after)) = (before, peak_rss_kb()) {
        assert!(
            after < before + 64 * 1024,
            "peak RSS grew from {before} kB to {after} kB"
        );
    }
    message
}

#[test]
fn a_png_claiming_100000_by_100000_pixels_is_an_error_not_an_allocation() {
    let message = assert_rejected_cheaply(&png_header(100_000, 100_000));
    assert!(
        message.ends_with(
            "it is 100000×100000 pixels, and predict reads images of at most 16384 pixels a \
             side (as the training run's image folders): use a smaller picture"
        ),
        "{message}"
    );
}

/// QA: predict refused a 10000×10000 picture the training run had read ("Image size
/// exceeds limit": 8192 a side, 256 MiB, against the folder loader's 16384 and 1 GiB),
/// and the message named neither the limit nor the image's size.
#[test]
fn predict_reads_what_an_image_folder_reads_and_names_the_limit_past_it() {
    assert_eq!(MAX_IMAGE_SIDE, MAX_FOLDER_IMAGE_SIDE);
    assert_eq!(MAX_IMAGE_ALLOC, MAX_FOLDER_IMAGE_ALLOC);
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide.png");
    image::GrayImage::from_pixel(10_000, 2, image::Luma([9]))
        .save(&wide)
        .unwrap();
    assert_eq!(load_digit(&wide).unwrap().len(), 784);
    assert_eq!(load_image(&wide, [3, 4, 5]).unwrap(), vec![9; 60]);
    // One pixel wider than a folder reads: 17 kB of pixels, but refused, saying why.
    let message = assert_rejected_cheaply(&png_header(MAX_IMAGE_SIDE + 1, 1));
    assert!(
        message.ends_with(
            "it is 16385×1 pixels, and predict reads images of at most 16384 pixels a side \
             (as the training run's image folders): use a smaller picture"
        ),
        "{message}"
    );
}

#[test]
fn a_png_within_the_sides_but_over_the_byte_limit_is_an_error() {
    // 16384×16384 RGB = 768 MiB is allowed by the sides and the byte limit; as 16-bit
    // RGB it needs 1.5 GiB.
    assert_eq!(MAX_IMAGE_ALLOC, 1 << 30);
    let mut png = png_header(MAX_IMAGE_SIDE, MAX_IMAGE_SIDE);
    png[24] = 16; // bit depth: 16384×16384×6 bytes
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let message = assert_rejected_cheaply(&png);
    assert!(
        message.ends_with(
            "its 16384×16384 pixels take 1536 MiB decoded, and predict decodes at most 1024 \
             MiB an image (as the training run's image folders): use a smaller picture"
        ),
        "{message}"
    );
}

#[test]
fn a_jpeg_claiming_65535_by_65535_pixels_is_an_error_not_an_allocation() {
    assert_rejected_cheaply(&jpeg_header(65_535, 65_535));
}

#[test]
fn a_small_png_still_loads() {
    // 2×2 grey, stored (uncompressed) zlib.
    let mut ihdr = 2u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&2u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let raw = [0u8, 0, 255, 0, 255, 0];
    let mut zlib = vec![0x78, 0x01, 0x01, 6, 0, !6, 0xff];
    zlib.extend_from_slice(&raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &zlib));
    png.extend(chunk(b"IEND", b""));
    assert_eq!(load(&png).unwrap().len(), 784);
}
