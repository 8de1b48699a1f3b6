//! `bench/layer_times.patch`, the diagnosis tool behind the per-layer tables of
//! docs/performance-log.md, is kept as a patch and never merged, so nothing but this
//! test notices when a change to `Sequential` or the examples stops it from applying
//! (it did, once, unnoticed for a day). It must apply to the code as it is.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_layer_times_patch_applies_to_the_current_code() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !repo.join(".git").exists() {
        eprintln!("skipped: not a git checkout, so `git apply --check` has nothing to check");
        return;
    }
    let check = Command::new("git")
        .args(["apply", "--check", "bench/layer_times.patch"])
        .current_dir(&repo)
        .output();
    let Ok(check) = check else {
        eprintln!("skipped: git is not installed");
        return;
    };
    assert!(
        check.status.success(),
        "bench/layer_times.patch no longer applies (or is applied already): regenerate it \
         against the current code (apply the old hunks by hand, then `git diff > \
         bench/layer_times.patch`):\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
