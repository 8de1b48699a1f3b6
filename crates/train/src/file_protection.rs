//! [`Protection`]: Linux's immutable and append-only attributes (`chattr +i`,
//! `chattr +a`), which forbid replacing a file whatever its permissions — even for
//! root — and, on a folder, replacing or removing any file in it. Read with `statx`,
//! without opening or changing anything.

use std::path::Path;

/// An attribute that forbids replacing a file (or the files of a folder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protection {
    /// `chattr +i`: nothing may change it (in a folder: no file created, removed or
    /// renamed).
    Immutable,
    /// `chattr +a`: only appending (in a folder: files may be created, but none
    /// removed, renamed or replaced).
    AppendOnly,
}

impl Protection {
    /// The attribute as `chattr` names it: `"immutable (chattr +i)"`.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Immutable => "immutable (chattr +i)",
            Self::AppendOnly => "append-only (chattr +a)",
        }
    }

    /// The `chattr` argument that clears it: `-i`, `-a`.
    pub(crate) fn clear_flag(self) -> &'static str {
        match self {
            Self::Immutable => "-i",
            Self::AppendOnly => "-a",
        }
    }

    /// The protection of the file or folder at `path` (symbolic links followed), or
    /// `None` when it has none, does not exist, or the system does not say (not
    /// Linux, a kernel before 4.11, a file system without these attributes).
    #[cfg(target_os = "linux")]
    pub(crate) fn of(path: &Path) -> Option<Self> {
        use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
        let stat = statx(
            CWD,
            path,
            AtFlags::STATX_SYNC_AS_STAT,
            StatxFlags::BASIC_STATS,
        )
        .ok()?;
        let has = |attribute: StatxAttributes| {
            stat.stx_attributes_mask.contains(attribute) && stat.stx_attributes.contains(attribute)
        };
        if has(StatxAttributes::IMMUTABLE) {
            Some(Self::Immutable)
        } else if has(StatxAttributes::APPEND) {
            Some(Self::AppendOnly)
        } else {
            None
        }
    }

    /// Elsewhere these attributes are not known: `None`.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn of(_path: &Path) -> Option<Self> {
        None
    }
}
