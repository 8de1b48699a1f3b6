//! [`resume_command`]: the command line that resumes an interrupted run.

use std::path::Path;

/// The command line that resumes an interrupted run: `args` (the program and its
/// arguments, as `std::env::args()` gives them) without any `--resume`, then
/// `--resume <checkpoint>`, quoted for a POSIX shell where needed.
///
/// ```
/// use std::path::Path;
/// use scratchnet_cli::resume_command;
/// let args = ["mnist_lenet", "--epochs", "5", "--resume", "old.st", "--save", "my run.st"].map(String::from);
/// assert_eq!(
///     resume_command(&args, Path::new("my run.st")),
///     "mnist_lenet --epochs 5 --save 'my run.st' --resume 'my run.st'"
/// );
/// ```
pub fn resume_command(args: &[String], checkpoint: &Path) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
        } else if arg == "--resume" {
            skip_value = true;
        } else if !arg.starts_with("--resume=") {
            kept.push(arg.clone());
        }
    }
    kept.push("--resume".into());
    kept.push(checkpoint.display().to_string());
    kept.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `arg` as one word of a POSIX shell: as it is if it is plain, else single-quoted.
fn shell_quote(arg: &str) -> String {
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
