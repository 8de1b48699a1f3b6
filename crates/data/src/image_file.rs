//! Opening and decoding one PNG or JPEG file, the format recognised from its content:
//! refusing, before opening it, what is not a regular file (opening a FIFO waits for a
//! writer, for ever), and refusing a JPEG that ends before its end-of-image marker (the
//! `image` crate would decode it, the missing part grey). The image folders and the
//! command line's `predict` read images this way.

use std::fs::{self, File};
use std::io::{BufReader, Seek};
use std::path::Path;

use image::{DynamicImage, ImageReader, Limits};

use crate::jpeg_end::is_truncated_jpeg;

/// What [`decode_image_file`] says of a JPEG that ends before its end-of-image marker.
pub const TRUNCATED_JPEG: &str =
    "the JPEG ends before its end-of-image marker: the file is cut short";

/// Opens the image file at `path` for reading its header or decoding it, with `limits`.
///
/// # Errors
/// Why, for a path that is not a regular file (`"it is a FIFO (named pipe), not a regular
/// file"`) or that cannot be opened or read.
pub(crate) fn open_image_file(
    path: &Path,
    limits: Limits,
) -> Result<ImageReader<BufReader<File>>, String> {
    image_reader(open_regular_file(path)?, limits)
}

/// The file at `path`, opened for reading once it is known to be a regular file.
fn open_regular_file(path: &Path) -> Result<File, String> {
    let kind = fs::metadata(path).map_err(|e| e.to_string())?.file_type();
    if !kind.is_file() {
        return Err(format!(
            "it is {}, not a regular file",
            crate::describe_file_kind(&kind)
        ));
    }
    File::open(path).map_err(|e| e.to_string())
}

/// A reader of the image in `file` (read from its start), its format guessed from its
/// content, within `limits`.
fn image_reader(file: File, limits: Limits) -> Result<ImageReader<BufReader<File>>, String> {
    let mut reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    reader.limits(limits);
    Ok(reader)
}

/// Decodes the PNG or JPEG file at `path` (the format recognised from its content) within
/// `limits`, after checking that a JPEG is complete.
///
/// ```
/// let path = std::env::temp_dir().join(format!("decode-doc-{}.png", std::process::id()));
/// image::GrayImage::new(3, 2).save(&path).unwrap();
/// let picture = scratchnet_data::decode_image_file(&path, image::Limits::default()).unwrap();
/// assert_eq!((picture.width(), picture.height()), (3, 2));
/// # std::fs::remove_file(&path).unwrap();
/// ```
///
/// # Errors
/// Why, in words for a message naming the file: not a regular file (a FIFO, a directory,
/// a device), unreadable, [`TRUNCATED_JPEG`], or what the decoder reported (a format other
/// than PNG or JPEG, a damaged or truncated PNG, a size past `limits`).
pub fn decode_image_file(path: &Path, limits: Limits) -> Result<DynamicImage, String> {
    let mut file = open_regular_file(path)?;
    if is_truncated_jpeg(BufReader::new(&file)).map_err(|e| e.to_string())? {
        return Err(TRUNCATED_JPEG.into());
    }
    file.rewind().map_err(|e| e.to_string())?;
    image_reader(file, limits)?
        .decode()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opening a FIFO for reading waits for a writer: `predict` hung on one. (Decoded on
    /// another thread, so that a regression fails the test instead of hanging it.)
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("digit.png");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let (sender, receiver) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || sender.send(decode_image_file(&path, Limits::default())));
        let result = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("decoding a FIFO waited for a writer");
        assert_eq!(
            result.unwrap_err(),
            "it is a FIFO (named pipe), not a regular file"
        );
        let reason = decode_image_file(dir.path(), Limits::default()).unwrap_err();
        assert_eq!(reason, "it is a directory, not a regular file");
    }
}
