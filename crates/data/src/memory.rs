//! Allocating a dataset's large buffers fallibly: a file's bytes, its pixels, the room
//! the `mnist` crate's parser needs. Under a tight memory limit (`ulimit -v`) an
//! infallible allocation aborts the process with "memory allocation of N bytes failed"
//! and a backtrace; these return [`DataError::OutOfMemory`] naming the file instead.

use std::path::Path;

use crate::error::DataError;

/// An empty buffer with room for `bytes` bytes of the file at `path`.
///
/// # Errors
/// [`DataError::OutOfMemory`] naming `path` if that much cannot be allocated.
pub(crate) fn buffer_for(path: &Path, bytes: u64) -> Result<Vec<u8>, DataError> {
    let mut buffer = Vec::new();
    reserve_for(&mut buffer, path, bytes)?;
    Ok(buffer)
}

/// Makes room in `buffer` for `additional` more bytes read from the file at `path`.
///
/// # Errors
/// [`DataError::OutOfMemory`] naming `path` if that much cannot be allocated.
pub(crate) fn reserve_for(
    buffer: &mut Vec<u8>,
    path: &Path,
    additional: u64,
) -> Result<(), DataError> {
    usize::try_from(additional)
        .ok()
        .and_then(|n| buffer.try_reserve_exact(n).ok())
        .ok_or_else(|| out_of_memory(path, additional))
}

/// Checks that `bytes` can be allocated now, by allocating and freeing them: for memory
/// that code this crate does not own (the `mnist` crate's parser) allocates infallibly,
/// needed for the file at `path`.
///
/// # Errors
/// [`DataError::OutOfMemory`] naming `path` if that much cannot be allocated.
pub(crate) fn check_room_for(path: &Path, bytes: u64) -> Result<(), DataError> {
    buffer_for(path, bytes).map(drop)
}

/// [`DataError::OutOfMemory`] for `bytes` needed for the file at `path`, with this
/// process's address-space limit if one is set.
pub(crate) fn out_of_memory(path: &Path, bytes: u64) -> DataError {
    DataError::OutOfMemory {
        path: path.to_path_buf(),
        bytes,
        address_space_limit: address_space_limit(),
    }
}

/// The soft address-space limit (`ulimit -v`) of this process in bytes, from
/// `/proc/self/limits`; `None` when unlimited or unknown (systems other than Linux).
fn address_space_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max address space"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok() // "unlimited" does not parse
}

/// `bytes` in MiB with one decimal, for a message: `"44.9 MiB"`.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_buffer_is_an_error_naming_the_file_and_the_fix() {
        let path = Path::new("/data/mnist/train-images-idx3-ubyte.gz");
        let bytes = (usize::MAX / 2) as u64;
        let mut error = buffer_for(path, bytes).unwrap_err();
        assert!(
            matches!(&error, DataError::OutOfMemory { path: p, bytes: b, .. } if p == path && *b == bytes),
            "{error:?}"
        );
        // The machine's limit, if any, is not the test's.
        if let DataError::OutOfMemory {
            address_space_limit,
            ..
        } = &mut error
        {
            *address_space_limit = None;
        }
        let message = error.to_string();
        for part in [
            "not enough memory to load /data/mnist/train-images-idx3-ubyte.gz: it needs ",
            "free some memory",
            "ulimit -v",
            "--limit-train does not lower this",
        ] {
            assert!(message.contains(part), "{part:?} not in {message}");
        }
        assert!(!message.contains('\n'), "{message}");

        let mut buffer = vec![1u8];
        assert!(reserve_for(&mut buffer, path, bytes).is_err());
        assert_eq!(
            buffer,
            [1],
            "a failed reservation leaves the buffer as it was"
        );
        assert!(check_room_for(path, bytes).is_err());
        assert!(check_room_for(path, 1 << 20).is_ok());
    }

    #[test]
    fn a_set_address_space_limit_is_named() {
        let message = DataError::OutOfMemory {
            path: "/d/data_batch_1.bin".into(),
            bytes: 150 << 20,
            address_space_limit: Some(300 << 20),
        }
        .to_string();
        assert!(
            message.contains(
                "it needs 150.0 MiB more, which this process cannot allocate \
                 (its address-space limit, ulimit -v, is 300.0 MiB): raise that limit, or \
                 free some memory (--limit-train does not lower this"
            ),
            "{message}"
        );
    }
}
