//! Reading one file of a dataset into memory: raw, or decompressing `.gz` with `flate2`,
//! and refusing — without reading it all — a file larger than any file of its role can
//! plausibly be. Both loading and downloading read files this way.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::idx::{self, FormatDefect};
use crate::kind::FileRole;

/// Why [`read_bytes`] failed.
pub(crate) enum ReadFailure {
    /// Opening or reading failed.
    Io(io::Error),
    /// The gzip stream is corrupt or truncated.
    Gzip(io::Error),
    /// Empty, or too large to be a file of this role.
    Defect(FormatDefect),
    /// A buffer of this many bytes for its contents could not be allocated.
    OutOfMemory(u64),
}

/// The decompressed bytes of the file at `path`, refusing (without reading it all) a file
/// larger than any file of `role` can plausibly be.
pub(crate) fn read_bytes(path: &Path, gzip: bool, role: FileRole) -> Result<Vec<u8>, ReadFailure> {
    let limit = idx::max_plausible_len(role);
    // Before opening: opening a FIFO would wait for a writer, for ever.
    if !std::fs::metadata(path).map_err(ReadFailure::Io)?.is_file() {
        return Err(ReadFailure::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let file = File::open(path).map_err(ReadFailure::Io)?;
    let file_len = file.metadata().map_err(ReadFailure::Io)?.len();
    if file_len == 0 {
        return Err(ReadFailure::Defect(FormatDefect::Empty));
    }
    if file_len > limit {
        return Err(ReadFailure::Defect(FormatDefect::TooLarge { limit }));
    }
    let out_of_memory = |e: io::Error, bytes: u64| match e.kind() {
        io::ErrorKind::OutOfMemory => ReadFailure::OutOfMemory(bytes),
        _ => ReadFailure::Io(e),
    };
    // A complete file's worth (the .gz's contents) or the file's length, allocated
    // fallibly: under a tight `ulimit -v` an error, not an abort.
    let capacity = if gzip { role.complete_len() } else { file_len };
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(capacity as usize)
        .map_err(|_| ReadFailure::OutOfMemory(capacity))?;
    if gzip {
        MultiGzDecoder::new(file)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| match e.kind() {
                io::ErrorKind::InvalidInput
                | io::ErrorKind::InvalidData
                | io::ErrorKind::UnexpectedEof => ReadFailure::Gzip(e),
                _ => out_of_memory(e, limit),
            })?;
        if bytes.len() as u64 > limit {
            return Err(ReadFailure::Defect(FormatDefect::TooLarge { limit }));
        }
    } else {
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| out_of_memory(e, limit))?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// A FIFO with a data file's name would block the open for ever.
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("t10k-labels-idx1-ubyte.gz");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        match read_bytes(&fifo, true, FileRole::TestLabels) {
            Err(ReadFailure::Io(e)) => assert_eq!(e.to_string(), "not a regular file"),
            _ => panic!("a FIFO was read"),
        }
    }

    #[test]
    fn a_gzip_bomb_is_refused_without_decompressing_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.gz");
        std::fs::write(&path, gzip(&vec![0u8; 200_000])).unwrap();
        assert!(matches!(
            read_bytes(&path, true, FileRole::TestLabels),
            Err(ReadFailure::Defect(FormatDefect::TooLarge {
                limit: 20_016
            }))
        ));
    }
}
