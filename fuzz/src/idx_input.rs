//! How an `idx_loader` fuzz input becomes a data directory for `scratchnet_data::load`.
//!
//! Shared, unchanged, by the fuzz target (`fuzz_targets/idx_loader.rs`) and by the
//! regression test that replays saved inputs with a plain `cargo test`
//! (`crates/data/tests/fuzz_regressions.rs`, which includes this file with `#[path]`), so
//! that a crash input is replayed exactly as the fuzzer ran it. It uses only `std` and
//! `flate2`, which both crates have.
//!
//! # Input format
//!
//! ```text
//! [placements: 1 byte] [train images] --8<-- [train labels] --8<-- [test images] --8<-- [test labels]
//! ```
//!
//! The byte strings between the separators are the contents of the four files, in
//! `DatasetKind::files()` order. A missing one is an empty file; the fourth takes everything
//! after the third separator. Bits `2i..2i+2` of the first byte say how file `i` is placed
//! in the directory ([`Placement`]): raw, gzip-compressed by the harness (so the fuzzer
//! explores IDX contents behind a valid gzip stream), written as `name.gz` as given (so it
//! explores the gzip decoder), or raw next to a decoy `name.gz` (the raw file must win).
//! An empty input is four empty raw files.

use std::io::{self, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

/// What separates the files of one input.
pub const SEPARATOR: &[u8] = b"--8<--";

/// The four file names of a dataset, in `DatasetKind::files()` order (the same for MNIST
/// and Fashion-MNIST).
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// What the decoy `.gz` next to a raw file holds: not gzip, so reading it would fail.
pub const DECOY_GZ: &[u8] = b"decoy: the raw file next to me must be read instead";

/// How one file is put in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// `name`, the bytes as given.
    Raw,
    /// `name.gz`, the bytes gzip-compressed by the harness.
    Gzipped,
    /// `name.gz`, the bytes as given (normally not valid gzip).
    GzAsGiven,
    /// `name` with the bytes as given, and a [`DECOY_GZ`] `name.gz` next to it.
    RawAndDecoyGz,
}

impl Placement {
    /// The placement of file `index` (0..4) that `flags` encodes.
    pub fn of(flags: u8, index: usize) -> Placement {
        match (flags >> (2 * index)) & 0b11 {
            0 => Placement::Raw,
            1 => Placement::Gzipped,
            2 => Placement::GzAsGiven,
            _ => Placement::RawAndDecoyGz,
        }
    }

    /// The two bits of this placement, for building inputs.
    pub fn bits(self) -> u8 {
        match self {
            Placement::Raw => 0,
            Placement::Gzipped => 1,
            Placement::GzAsGiven => 2,
            Placement::RawAndDecoyGz => 3,
        }
    }
}

/// An input split into its four files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxInput<'a> {
    /// Each file's placement and bytes, in `FILE_NAMES` order.
    pub files: [(Placement, &'a [u8]); 4],
}

impl<'a> IdxInput<'a> {
    /// Splits `data` as the module documentation describes. Every input is valid.
    pub fn decode(data: &'a [u8]) -> IdxInput<'a> {
        let (flags, mut rest) = match data.split_first() {
            Some((&flags, rest)) => (flags, rest),
            None => (0, data),
        };
        let mut chunks: [&[u8]; 4] = [&[]; 4];
        for (index, chunk) in chunks.iter_mut().enumerate() {
            let at = if index == 3 {
                None
            } else {
                find(rest, SEPARATOR)
            };
            match at {
                Some(at) => {
                    *chunk = &rest[..at];
                    rest = &rest[at + SEPARATOR.len()..];
                }
                None => {
                    *chunk = rest;
                    rest = &[];
                }
            }
        }
        IdxInput {
            files: std::array::from_fn(|i| (Placement::of(flags, i), chunks[i])),
        }
    }

    /// Writes the four files into `dir` (which should be empty).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        for (name, &(placement, bytes)) in FILE_NAMES.iter().zip(&self.files) {
            let raw = dir.join(name);
            let gz = dir.join(format!("{name}.gz"));
            match placement {
                Placement::Raw => std::fs::write(raw, bytes)?,
                Placement::Gzipped => std::fs::write(gz, gzip(bytes)?)?,
                Placement::GzAsGiven => std::fs::write(gz, bytes)?,
                Placement::RawAndDecoyGz => {
                    std::fs::write(raw, bytes)?;
                    std::fs::write(gz, DECOY_GZ)?;
                }
            }
        }
        Ok(())
    }
}

/// Builds an input from four placed files: the inverse of [`IdxInput::decode`] as long as
/// no file but the last contains [`SEPARATOR`].
pub fn encode(files: &[(Placement, &[u8]); 4]) -> Vec<u8> {
    let flags = files
        .iter()
        .enumerate()
        .fold(0u8, |flags, (i, (placement, _))| {
            flags | placement.bits() << (2 * i)
        });
    let mut data = vec![flags];
    for (i, (_, bytes)) in files.iter().enumerate() {
        if i > 0 {
            data.extend_from_slice(SEPARATOR);
        }
        data.extend_from_slice(bytes);
    }
    data
}

/// `bytes` gzip-compressed, fast.
pub fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Where `needle` first occurs in `haystack`. A byte loop rather than `windows(..) ==`,
/// which would call `bcmp` at every position, each call intercepted by libFuzzer.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let last_start = haystack.len().checked_sub(needle.len())?;
    (0..=last_start).find(|&at| {
        haystack[at] == needle[0]
            && haystack[at..at + needle.len()]
                .iter()
                .zip(needle)
                .all(|(a, b)| a == b)
    })
}
