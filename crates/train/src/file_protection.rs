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
    #[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
    pub(crate) fn of(path: &Path) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let mut buffer = std::mem::MaybeUninit::<libc::statx>::zeroed();
        // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and
        // `buffer` is writable memory of the size of the `statx` it is given.
        let status = unsafe {
            libc::statx(
                libc::AT_FDCWD,
                c_path.as_ptr(),
                libc::AT_STATX_SYNC_AS_STAT,
                libc::STATX_BASIC_STATS,
                buffer.as_mut_ptr(),
            )
        };
        if status != 0 {
            return None;
        }
        // SAFETY: all zeros is a valid `statx` (plain integers), filled in by the call.
        let stat = unsafe { buffer.assume_init() };
        let has = |attribute: libc::c_int| {
            let bit = attribute as u64;
            stat.stx_attributes_mask & bit != 0 && stat.stx_attributes & bit != 0
        };
        if has(libc::STATX_ATTR_IMMUTABLE) {
            Some(Self::Immutable)
        } else if has(libc::STATX_ATTR_APPEND) {
            Some(Self::AppendOnly)
        } else {
            None
        }
    }

    /// Elsewhere these attributes are not known: `None`.
    #[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
    pub(crate) fn of(_path: &Path) -> Option<Self> {
        None
    }
}
