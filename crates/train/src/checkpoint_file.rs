//! Reading a checkpoint file within stated bounds: [`CheckpointFile`] opens only a
//! regular file, reads the 8-byte header length and the header (at most
//! [`MAX_HEADER_BYTES`]), and checks that the file's size is exactly what the header
//! describes before a byte of tensor data is read.

use crate::checkpoint_error::CheckpointError;
use safetensors::tensor::Metadata;
use scratchnet_data::describe_file_kind;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The longest header a checkpoint may have: 100 MB, safetensors' own limit.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The bytes before the header: its length, a little-endian u64.
const LENGTH_BYTES: u64 = 8;

/// An open checkpoint file whose header is read and checked; the tensor data is not
/// read yet.
pub(crate) struct CheckpointFile {
    path: PathBuf,
    file: File,
    /// The file's size when it was opened.
    size: u64,
    /// The header length and the header, as read (the first bytes of the file).
    bytes: Vec<u8>,
    /// The parsed header.
    header: Metadata,
}

impl CheckpointFile {
    /// Opens `path` and reads its header, in this order: the path must name a regular
    /// file (not a FIFO, device or directory); its size must not exceed `max_size`
    /// (if given); the header length must be at most [`MAX_HEADER_BYTES`] and fit the
    /// file; the header must parse; and the file must end exactly where the header's
    /// last tensor does.
    ///
    /// # Errors
    /// [`CheckpointError::Read`] if it cannot be opened or read;
    /// [`CheckpointError::NotAFile`]; [`CheckpointError::TooLarge`];
    /// [`CheckpointError::Format`] for a bad header length, header or size.
    pub(crate) fn open(path: &Path, max_size: Option<u64>) -> Result<Self, CheckpointError> {
        let read_error = |source| CheckpointError::Read {
            path: path.to_path_buf(),
            source,
        };
        // Checked before opening: opening a FIFO for reading waits for a writer.
        let kind = std::fs::metadata(path).map_err(read_error)?.file_type();
        check_regular(path, kind)?;
        let mut file = File::open(path).map_err(read_error)?;
        let metadata = file.metadata().map_err(read_error)?;
        // Again on what was opened, in case the path changed in between.
        check_regular(path, metadata.file_type())?;
        let size = metadata.len();
        if let Some(limit) = max_size.filter(|&limit| size > limit) {
            return Err(CheckpointError::TooLarge {
                path: path.to_path_buf(),
                size,
                limit,
            });
        }
        let format_error = |reason: String| CheckpointError::Format {
            path: path.to_path_buf(),
            reason,
        };
        if size < LENGTH_BYTES {
            return Err(format_error(format!(
                "the file has {size} bytes, fewer than the 8 of the header length"
            )));
        }
        let mut length = [0; LENGTH_BYTES as usize];
        file.read_exact(&mut length).map_err(read_error)?;
        let header_length = u64::from_le_bytes(length);
        if header_length > MAX_HEADER_BYTES {
            if let Some(what) = pytorch_format(&length) {
                return Err(format_error(format!("{what}{PYTORCH_FIX}")));
            }
            return Err(format_error(format!(
                "the header length is {header_length} bytes, over the limit of {MAX_HEADER_BYTES}"
            )));
        }
        if header_length > size - LENGTH_BYTES {
            return Err(format_error(format!(
                "the header length is {header_length} bytes, but the file has only {} after it",
                size - LENGTH_BYTES
            )));
        }
        let mut bytes = Vec::with_capacity((LENGTH_BYTES + header_length) as usize);
        bytes.extend_from_slice(&length);
        (&mut file)
            .take(header_length)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 != LENGTH_BYTES + header_length {
            return Err(format_error("the file ends inside its header".into()));
        }
        let header: Metadata = serde_json::from_slice(&bytes[LENGTH_BYTES as usize..])
            .map_err(|e| format_error(format!("invalid header: {e}")))?;
        let data_end = LENGTH_BYTES + header_length + header.data_len() as u64;
        if data_end != size {
            return Err(format_error(format!(
                "the header describes a file of {data_end} bytes, but it has {size}"
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            bytes,
            header,
        })
    }

    /// The parsed header: the tensors' names, types, shapes and offsets, and the
    /// `__metadata__`.
    pub(crate) fn header(&self) -> &Metadata {
        &self.header
    }

    /// The whole file: the header already read and the tensor data, whose length the
    /// header gave (a file that has changed since is a format error).
    ///
    /// # Errors
    /// [`CheckpointError::Read`]; [`CheckpointError::Format`] if the file is now shorter.
    pub(crate) fn read_all(self) -> Result<Vec<u8>, CheckpointError> {
        let Self {
            path,
            file,
            size,
            mut bytes,
            ..
        } = self;
        let data_length = size - bytes.len() as u64;
        bytes.reserve_exact(data_length as usize);
        file.take(data_length)
            .read_to_end(&mut bytes)
            .map_err(|source| CheckpointError::Read {
                path: path.clone(),
                source,
            })?;
        if bytes.len() as u64 != size {
            return Err(CheckpointError::Format {
                path,
                reason: "the file became shorter while it was read".into(),
            });
        }
        Ok(bytes)
    }
}

/// How to turn a PyTorch checkpoint into one this crate reads.
const PYTORCH_FIX: &str = ": save its state_dict as safetensors, e.g. \
    `safetensors.torch.save_file(model.state_dict(), \"x.safetensors\")`, and give that file";

/// What a file whose first bytes are `start` is, if it is one of PyTorch's
/// `torch.save` formats rather than safetensors: a zip archive (`PK\x03\x04`, the format
/// since PyTorch 1.6) or a bare pickle (`\x80` and a protocol number, the legacy one).
/// Only asked of a file whose header length is over the limit (as it is for both, their
/// next bytes being non-zero), as a safetensors header length can begin with those bytes.
fn pytorch_format(start: &[u8; LENGTH_BYTES as usize]) -> Option<&'static str> {
    match start {
        [b'P', b'K', 3, 4, ..] => Some("it is a PyTorch checkpoint (torch.save's zip format)"),
        [0x80, 2..=5, ..] => Some("it is a PyTorch checkpoint (torch.save's legacy pickle format)"),
        _ => None,
    }
}

/// [`CheckpointError::NotAFile`] unless `kind` is a regular file.
fn check_regular(path: &Path, kind: std::fs::FileType) -> Result<(), CheckpointError> {
    if kind.is_file() {
        return Ok(());
    }
    Err(CheckpointError::NotAFile {
        path: path.to_path_buf(),
        what: describe_file_kind(&kind),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QA: `predict --model pt_lenet.pth` said "the header length is
    /// 578712552184433488 bytes, over the limit of 100000000", with no fix.
    #[test]
    fn a_pytorch_file_is_named_so_with_the_way_to_save_it_as_safetensors() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("lenet.pth");
        std::fs::write(&zip, b"PK\x03\x04\x00\x00\x08\x08archive/data.pkl....").unwrap();
        let pickle = dir.path().join("old.pt");
        std::fs::write(&pickle, b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.").unwrap();
        for (path, format) in [(&zip, "zip format"), (&pickle, "legacy pickle format")] {
            let Err(error) = CheckpointFile::open(path, None) else {
                panic!("{} was read", path.display());
            };
            let message = error.to_string();
            assert!(
                message.contains(&format!("it is a PyTorch checkpoint (torch.save's {format}): save its state_dict as safetensors, e.g. `safetensors.torch.save_file(model.state_dict(), \"x.safetensors\")`")),
                "{message}"
            );
            assert!(!message.contains("header length"), "{message}");
        }
        // A safetensors header length whose first bytes are those of a pickle is read
        // as one: 640 bytes, more than this file has.
        let short = dir.path().join("short.safetensors");
        std::fs::write(&short, b"\x80\x02\x00\x00\x00\x00\x00\x00{}").unwrap();
        let Err(error) = CheckpointFile::open(&short, None) else {
            panic!("a truncated file was read");
        };
        assert!(
            error.to_string().contains("the header length is 640 bytes"),
            "{error}"
        );
    }
}
