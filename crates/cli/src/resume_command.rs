//! [`resume_command`]: the command line that resumes an interrupted run.

use std::ffi::OsStr;
use std::fmt::Write;
use std::path::Path;

/// The command line that resumes an interrupted run: `args` (the program and its
/// arguments, as `std::env::args_os()` gives them) without any `--resume` or
/// `--init-weights` (the checkpoint holds the weights it started from), then
/// `--resume <checkpoint>`, quoted for a POSIX shell where needed. An argument that is
/// not valid UTF-8 is written `$'…'` with its other bytes in octal (POSIX.1-2024, bash,
/// zsh, ksh), so the command still names the same files.
///
/// ```
/// use std::path::Path;
/// use scratchnet_cli::resume_command;
/// let args = ["mnist_lenet", "--epochs", "5", "--resume", "old.st", "--save", "my run.st"];
/// assert_eq!(
///     resume_command(&args, Path::new("my run.st")),
///     "mnist_lenet --epochs 5 --save 'my run.st' --resume 'my run.st'"
/// );
/// ```
pub fn resume_command<S: AsRef<OsStr>>(args: &[S], checkpoint: &Path) -> String {
    let mut kept: Vec<&OsStr> = Vec::new();
    let mut skip_value = false;
    for arg in args {
        let arg = arg.as_ref();
        if skip_value {
            skip_value = false;
        } else if arg == "--resume" || arg == "--init-weights" {
            skip_value = true;
        } else if !["--resume=", "--init-weights="]
            .iter()
            .any(|flag| arg.as_encoded_bytes().starts_with(flag.as_bytes()))
        {
            kept.push(arg);
        }
    }
    kept.push(OsStr::new("--resume"));
    kept.push(checkpoint.as_os_str());
    kept.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `arg` as one word of a POSIX shell: as it is if it is plain, else single-quoted, or
/// `$'…'`-quoted when it is not valid UTF-8.
fn shell_quote(arg: &OsStr) -> String {
    let Some(arg) = arg.to_str() else {
        return dollar_quote(arg.as_encoded_bytes());
    };
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// `bytes` as a `$'…'` word: valid UTF-8 as it is (with `\` and `'` escaped), every
/// other byte as a three-digit octal escape (`\377`), which no following digit extends.
fn dollar_quote(bytes: &[u8]) -> String {
    let mut word = String::from("$'");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' | '\'' => {
                    word.push('\\');
                    word.push(c);
                }
                _ => word.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(word, "\\{byte:03o}");
        }
    }
    word.push('\'');
    word
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    /// A run started with `--init-weights` resumes from its checkpoint alone: the two
    /// flags exclude each other.
    #[test]
    fn init_weights_is_left_out() {
        let args = [
            "mnist_lenet",
            "--init-weights",
            "pt.safetensors",
            "--init-weights=pt2.st",
            "--save",
            "r.st",
        ];
        assert_eq!(
            resume_command(&args, Path::new("r.st")),
            "mnist_lenet --save r.st --resume r.st"
        );
    }

    /// Issue 16: an argument that is not UTF-8 (a `--save` path) is quoted byte for
    /// byte instead of panicking in `std::env::args()`.
    #[test]
    fn arguments_that_are_not_utf8_are_quoted_byte_for_byte() {
        let save = OsString::from_vec(b"r\xffun's\\1.st".to_vec());
        let args = [OsString::from("mnist_lenet"), "--save".into(), save.clone()];
        assert_eq!(
            resume_command(&args, Path::new(&save)),
            r"mnist_lenet --save $'r\377un\'s\\1.st' --resume $'r\377un\'s\\1.st'"
        );
    }
}
