//! Replaying a fuzz target's inputs under `cargo test`: shared by the test files that
//! replay `checkpoint_loader` (crates/train) and `image_loader` (crates/cli), which
//! include this file with `#[path]`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Runs `check` on every input file in `dir` (not `*.md`, not hidden); returns how many.
pub fn replay_dir(dir: &Path, check: impl Fn(&[u8])) -> usize {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            path.is_file() && !name.starts_with('.') && !name.ends_with(".md")
        })
        .collect();
    paths.sort();
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| check(&data)))
                .err()
                .map(|panic| {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    format!("{}: {why}", path.display())
                })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    paths.len()
}
