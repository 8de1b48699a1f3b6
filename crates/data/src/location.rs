//! Where a dataset's files are: an explicit directory, else the `MNIST_DIR` /
//! `FASHION_MNIST_DIR` environment variable, else `data/<dataset>` under the workspace root
//! (or, for Fashion-MNIST, Debian's `/usr/share/datasets/fashion-mnist` if that has the
//! files and the workspace directory does not).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::kind::DatasetKind;

/// The root of the scratchnet workspace, the same whatever the current directory.
///
/// It is this crate's manifest directory (`crates/data`, fixed at compile time by
/// `env!("CARGO_MANIFEST_DIR")`) two levels up. For a build from a crates.io download it
/// would be a folder in Cargo's registry, so binaries meant to be installed should pass
/// the data directory explicitly or through the environment.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// `<workspace root>/data/mnist` or `<workspace root>/data/fashion-mnist`: where data is
/// downloaded to when nothing else is set. (`/data/*` is in the repository's `.gitignore`.)
pub fn default_dir(kind: DatasetKind) -> PathBuf {
    workspace_root().join("data").join(kind.default_dir_name())
}

/// The directory named by `MNIST_DIR` (for Fashion-MNIST `FASHION_MNIST_DIR`), or `None`
/// if the variable is unset or empty.
///
/// A relative value is tried as given (relative to the current directory), then relative
/// to the [`workspace_root`]: CI sets `MNIST_DIR=../shared/data/mnist` relative to the
/// workspace root, while `cargo test` runs each crate's tests in that crate's directory.
/// If neither exists, the value is returned as given, so that loading fails with a message
/// naming it.
pub fn dir_from_env(kind: DatasetKind) -> Option<PathBuf> {
    let value = std::env::var_os(kind.dir_env_var())?;
    if value.is_empty() {
        return None;
    }
    Some(resolve_relative(&value, &workspace_root()))
}

/// [`dir_from_env`] for MNIST: the directory `MNIST_DIR` names, resolved as that function
/// explains, or `None` if it is unset.
///
/// Tests that need the real MNIST use it like this, so that they skip only when the
/// variable is unset and fail loudly when it is set but wrong:
///
/// ```no_run
/// use scratchnet_data::{load, mnist_dir_from_env, DatasetKind};
///
/// let Some(dir) = mnist_dir_from_env() else {
///     eprintln!("skipped: MNIST_DIR is not set");
///     return;
/// };
/// let mnist = load(DatasetKind::Mnist, &dir).unwrap_or_else(|e| panic!("{e}"));
/// assert_eq!(mnist.train.len(), 60_000);
/// ```
pub fn mnist_dir_from_env() -> Option<PathBuf> {
    dir_from_env(DatasetKind::Mnist)
}

/// Where the data of `kind` is, or is to be downloaded to. The first that applies:
///
/// 1. `explicit`, as given (a relative path is relative to the current directory);
/// 2. the environment variable ([`dir_from_env`]), which
///    [`load_or_download`](crate::load_or_download) only reads, never downloads into;
/// 3. [`default_dir`] (`<workspace root>/data/mnist`) if it holds all four files;
/// 4. the system directory of [`DatasetKind::system_dir`] (Fashion-MNIST: Debian's
///    `/usr/share/datasets/fashion-mnist`) if it holds all four files;
/// 5. [`default_dir`], where [`load_or_download`](crate::load_or_download) will put them.
///
/// ```
/// use std::path::Path;
/// use scratchnet_data::{resolve_dir, DatasetKind};
///
/// let dir = resolve_dir(DatasetKind::Mnist, Some(Path::new("/srv/mnist")));
/// assert_eq!(dir, Path::new("/srv/mnist"));
/// ```
pub fn resolve_dir(kind: DatasetKind, explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = dir_from_env(kind) {
        return dir;
    }
    let default = default_dir(kind);
    if all_files_present(kind, &default) {
        return default;
    }
    match kind.system_dir().map(PathBuf::from) {
        Some(system) if all_files_present(kind, &system) => system,
        _ => default,
    }
}

/// Whether each of the four files of `kind` is in `dir`, raw or as `.gz` (present, not
/// necessarily intact).
pub fn all_files_present(kind: DatasetKind, dir: &Path) -> bool {
    kind.files()
        .iter()
        .all(|file| locate_file(dir, file.name).is_some())
}

/// A file found on disk, and whether it is gzip-compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocatedFile {
    pub(crate) path: PathBuf,
    pub(crate) gzip: bool,
}

/// Finds `name` in `dir`, raw first, then `name.gz`. The raw file wins when both exist:
/// it is faster to read, and it is what a user who decompressed by hand means.
pub(crate) fn locate_file(dir: &Path, name: &str) -> Option<LocatedFile> {
    let raw = dir.join(name);
    if raw.exists() {
        return Some(LocatedFile {
            path: raw,
            gzip: false,
        });
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.exists().then_some(LocatedFile {
        path: gz,
        gzip: true,
    })
}

/// `name` or `name.gz` in `dir` when it is a symbolic link that leads nowhere (its target
/// is missing, or links loop), with the error of following it: such a file is not
/// missing, and saying so would send the user looking in the wrong place.
pub(crate) fn broken_link(dir: &Path, name: &str) -> Option<(PathBuf, std::io::Error)> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .filter(|path| path.is_symlink())
        .find_map(|path| std::fs::metadata(&path).err().map(|error| (path, error)))
}

/// `value` if it is absolute or exists, else `root/value` if that exists, else `value`.
pub(crate) fn resolve_relative(value: &OsStr, root: &Path) -> PathBuf {
    let as_given = PathBuf::from(value);
    if as_given.is_absolute() || as_given.exists() {
        return as_given;
    }
    let under_root = root.join(&as_given);
    if under_root.exists() {
        under_root
    } else {
        as_given
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
        assert!(default_dir(DatasetKind::FashionMnist).ends_with("data/fashion-mnist"));
    }

    #[test]
    fn relative_values_fall_back_to_the_workspace_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("shared/mnist")).unwrap();
        // Not under the current directory (the crate), but under the root.
        assert_eq!(
            resolve_relative(OsStr::new("shared/mnist"), root.path()),
            root.path().join("shared/mnist")
        );
        // Under neither: returned as given, so the error names what the user wrote.
        assert_eq!(
            resolve_relative(OsStr::new("no/such/dir"), root.path()),
            PathBuf::from("no/such/dir")
        );
        // Exists relative to the current directory (the crate's): wins as given.
        assert_eq!(
            resolve_relative(OsStr::new("src"), root.path()),
            PathBuf::from("src")
        );
        // Absolute: as given, even if missing.
        let absolute = root.path().join("absent");
        assert_eq!(
            resolve_relative(absolute.as_os_str(), Path::new("/elsewhere")),
            absolute
        );
    }

    #[test]
    fn raw_files_win_over_gz_and_gz_is_found_alone() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(locate_file(dir.path(), "a"), None);
        std::fs::write(dir.path().join("a.gz"), b"x").unwrap();
        assert_eq!(
            locate_file(dir.path(), "a"),
            Some(LocatedFile {
                path: dir.path().join("a.gz"),
                gzip: true
            })
        );
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        assert!(!locate_file(dir.path(), "a").unwrap().gzip);
        assert!(!all_files_present(DatasetKind::Mnist, dir.path()));
    }

    #[test]
    fn dangling_and_looping_links_are_found_as_broken() {
        let dir = tempfile::tempdir().unwrap();
        assert!(broken_link(dir.path(), "a").is_none());
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("a")).unwrap();
        let (path, _) = broken_link(dir.path(), "a").unwrap();
        assert_eq!(path, dir.path().join("a"));
        std::os::unix::fs::symlink("b.gz", dir.path().join("b.gz")).unwrap();
        let (path, error) = broken_link(dir.path(), "b").unwrap();
        assert_eq!(path, dir.path().join("b.gz"));
        assert!(error.to_string().contains("symbolic links"), "{error}");
    }

    #[test]
    fn explicit_directory_wins() {
        let explicit = Path::new("relative/explicit");
        assert_eq!(
            resolve_dir(DatasetKind::FashionMnist, Some(explicit)),
            explicit
        );
    }
}
