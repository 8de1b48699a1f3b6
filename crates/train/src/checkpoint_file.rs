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
