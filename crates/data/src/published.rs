//! Whether a local MNIST / Fashion-MNIST file is the published one, by the SHA-256 of its
//! decompressed bytes (the sums [`DatasetKind::files`] holds are of the decompressed files,
//! so a `.gz` and a raw copy check the same): the expected file, the same-named file of the
//! other dataset (refused: digits would be trained as clothes), or neither (loaded, with a
//! warning: KMNIST and the like come under the same names).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::DataError;
use crate::kind::{DataFile, DatasetKind};

/// SHA-256 of `bytes` as 64 lower-case hex digits.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `digest` as lower-case hex digits.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a file's sum says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Published {
    /// The published file of the dataset being loaded.
    Expected,
    /// The published file of this other dataset.
    Other(DatasetKind),
    /// Neither.
    Unknown,
}

/// Which published file, if any, has the SHA-256 `sum`, for `file` of `kind`.
pub(crate) fn identify(kind: DatasetKind, file: &DataFile<'_>, sum: &str) -> Published {
    if sum == file.sha256 {
        return Published::Expected;
    }
    DatasetKind::ALL
        .into_iter()
        .filter(|&other| other != kind)
        .find(|other| other.files().iter().any(|f| f.sha256 == sum))
        .map_or(Published::Unknown, Published::Other)
}

/// Checks the decompressed `bytes` of `file` (at `path`) against the published sums:
/// [`DataError::OtherDataset`] for another dataset's file; for one that is neither, `path`
/// is added to `unknown` (for one warning line after loading).
pub(crate) fn check_published(
    kind: DatasetKind,
    file: &DataFile<'_>,
    path: &Path,
    bytes: &[u8],
    unknown: &mut Vec<PathBuf>,
) -> Result<(), DataError> {
    match identify(kind, file, &sha256_hex(bytes)) {
        Published::Expected => Ok(()),
        Published::Other(other) => Err(DataError::OtherDataset {
            kind,
            other,
            path: path.to_path_buf(),
        }),
        Published::Unknown => {
            unknown.push(path.to_path_buf());
            Ok(())
        }
    }
}

/// The warning line for files that are not the published ones (loaded anyway).
pub(crate) fn unknown_files_warning(kind: DatasetKind, unknown: &[PathBuf]) -> Option<String> {
    let first = unknown.first()?.display();
    Some(match unknown.len() {
        1 => format!(
            "warning: {kind} file {first} is not the published file (its SHA-256 differs); \
             loaded anyway"
        ),
        n => format!(
            "warning: {kind} files {first} and {} other{} are not the published files (their \
             SHA-256 sums differ); loaded anyway",
            n - 1,
            if n == 2 { "" } else { "s" }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_is_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_sum_is_the_expected_file_the_other_datasets_or_neither() {
        let fashion = DatasetKind::FashionMnist.files();
        let mnist = DatasetKind::Mnist.files();
        let kind = DatasetKind::FashionMnist;
        assert_eq!(
            identify(kind, &fashion[0], fashion[0].sha256),
            Published::Expected
        );
        assert_eq!(
            identify(kind, &fashion[0], mnist[0].sha256),
            Published::Other(DatasetKind::Mnist)
        );
        assert_eq!(
            identify(kind, &fashion[0], &sha256_hex(b"kmnist")),
            Published::Unknown
        );
        let warning = unknown_files_warning(
            DatasetKind::Mnist,
            &[PathBuf::from("d/a"), PathBuf::from("d/b")],
        )
        .unwrap();
        assert_eq!(
            warning,
            "warning: MNIST files d/a and 1 other are not the published files (their SHA-256 \
             sums differ); loaded anyway"
        );
        assert_eq!(unknown_files_warning(DatasetKind::Mnist, &[]), None);
    }
}
