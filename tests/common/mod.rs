//! What the root tests that run the examples as processes share.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory holding the example binaries of this build (`target/<profile>/examples`),
/// after making sure they are up to date: `cargo test` has built them already (then this
/// is a quick no-op), `cargo test --test mnist_lenet_cli` has not.
///
/// The no-op relies on the workspace's `default-members` (every package): this `cargo
/// build --examples` resolves features as `cargo test --workspace` does, so it finds the
/// test command's artifacts instead of building the dependency tree again.
pub fn examples_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            // The profile `cargo test` builds examples with: `test`, or `release` with --release.
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("release") => "release",
                _ => "test",
            };
            let mut build = Command::new(cargo);
            build
                .args(["build", "--examples", "--quiet", "--profile", profile])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            // Without the variables cargo set for this test process: some build scripts
            // (ring's) rerun when CARGO_MANIFEST_DIR changes, which would rebuild half
            // the dependency tree here.
            for (key, _) in std::env::vars_os() {
                let key = key.to_string_lossy();
                if is_per_crate_variable(&key) {
                    build.env_remove(key.as_ref());
                }
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "building the examples failed");
            profile_dir.join("examples")
        })
        .clone()
}

/// Whether `key` is one of the variables cargo sets for one crate's build or test.
fn is_per_crate_variable(key: &str) -> bool {
    [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
    ]
    .contains(&key)
        || [
            "CARGO_PKG_",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}
