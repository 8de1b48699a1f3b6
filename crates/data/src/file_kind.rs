//! What a path that is not a regular file is, in words for an error message.

use std::fs::FileType;

/// What a file that is not a regular file is, with its article: `"a directory"`,
/// `"a FIFO (named pipe)"`, `"a device"`, `"a socket"`, else `"a special file"`; for
/// messages such as "it is a FIFO (named pipe), not a regular file" (opening a FIFO waits
/// for a writer, for ever, so every reader of a user's file asks first).
///
/// ```
/// let kind = std::fs::metadata(std::env::temp_dir()).unwrap().file_type();
/// assert_eq!(scratchnet_data::describe_file_kind(&kind), "a directory");
/// ```
pub fn describe_file_kind(kind: &FileType) -> &'static str {
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}
