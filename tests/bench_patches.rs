//! `bench/layer_times.patch`, the diagnosis tool behind the per-layer tables of
//! docs/performance-log.md, is kept as a patch and never merged, so nothing but this
//! test notices when a change to `Sequential` or the examples stops it from applying
//! (it did, once, unnoticed for a day). It must apply to the code as it is, and so
//! must the two timings of the convolution's plans (`odd_sides_timing.patch`,
//! `interleaved_timing.patch`) that the log's tables of 2026-12-07 come from, and
//! `step_idle.patch`, which times where a 2-thread step's threads sleep (it went
//! stale for two days when `conv.rs` became `conv/`).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_diagnosis_patches_apply_to_the_current_code() {
    for patch in [
        "bench/layer_times.patch",
        "bench/odd_sides_timing.patch",
        "bench/interleaved_timing.patch",
        "bench/step_idle.patch",
    ] {
        check_applies(patch);
    }
}

fn check_applies(patch: &str) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !repo.join(".git").exists() {
        eprintln!("skipped: not a git checkout, so `git apply --check` has nothing to check");
        return;
    }
    let check = Command::new("git")
        .args(["apply", "--check", patch])
        .current_dir(&repo)
        .output();
    let Ok(check) = check else {
        eprintln!("skipped: git is not installed");
        return;
    };
    assert!(
        check.status.success(),
        "{patch} no longer applies (or is applied already): regenerate it against the \
         current code (apply the old hunks by hand, then `git diff > {patch}`):\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
