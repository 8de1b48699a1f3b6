//! Fetching over HTTP(S), only with the `download` feature: one dataset file from one
//! mirror, or one archive from its URL.
//!
//! Each download has connect and read time-outs and a size limit, streams into a hidden
//! temporary file in the target directory (`.<name>.XXXXXX.part`) under an `indicatif`
//! byte progress bar, is checked (IDX structure and SHA-256 of the decompressed bytes for
//! a dataset file; length and SHA-256 for an archive), and only then gets its final name.
//! Anything that fails deletes the temporary file; one a killed process left is removed
//! by the next download into that folder (`leftovers.rs`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::published::{hex, sha256_hex};

use crate::downloader::DownloadOptions;
use crate::error::{DataError, MirrorFailure};
use crate::idx;
use crate::kind::{DataFile, DatasetKind};
use crate::leftovers::RANDOM_CHARS;
use crate::read::{read_bytes, ReadFailure};

/// Why one attempt failed.
enum Failure {
    /// The mirror's fault (HTTP error, time-out, bad data): try the next one.
    Mirror(String),
    /// Ours (cannot write the directory): no other mirror will help.
    Local { path: PathBuf, source: io::Error },
}

/// Creates `dir` (and its missing parents) for a download, runs `download`, and if that
/// fails removes again the directories it created that are still empty, so that a failed
/// download leaves no empty dataset folder behind (which would then look like a dataset
/// with missing files). `cannot_create` makes the error of a directory that cannot be
/// created.
pub(crate) fn in_created_dir<T>(
    dir: &Path,
    cannot_create: impl FnOnce(io::Error) -> DataError,
    download: impl FnOnce() -> Result<T, DataError>,
) -> Result<T, DataError> {
    // The outermost directory this call creates, to remove again if it fails.
    let outermost_created = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .last()
        .map(Path::to_path_buf);
    std::fs::create_dir_all(dir).map_err(cannot_create)?;
    let result = download();
    if let (Err(_), Some(outermost)) = (&result, outermost_created) {
        // remove_dir only removes empty directories: anything kept stays, with its parents.
        for created in dir.ancestors() {
            if std::fs::remove_dir(created).is_err() || created == outermost {
                break;
            }
        }
    }
    result
}

/// One file from the first of `mirrors` that serves it intact.
pub(crate) fn fetch_file(
    agent: &ureq::Agent,
    kind: DatasetKind,
    file: &DataFile<'_>,
    dir: &Path,
    mirrors: &[&str],
    options: &DownloadOptions,
) -> Result<(), DataError> {
    let mut attempts = Vec::new();
    for mirror in mirrors {
        let url = mirror_url(mirror, &file.gz_name());
        match fetch_from(agent, file, dir, &url, options) {
            Ok(()) => return Ok(()),
            Err(Failure::Mirror(reason)) => attempts.push(MirrorFailure { url, reason }),
            Err(Failure::Local { path, source }) => {
                return Err(DataError::Write { kind, path, source })
            }
        }
    }
    Err(DataError::Download {
        kind,
        dir: dir.to_path_buf(),
        file: file.gz_name(),
        attempts,
        missing: vec![file.gz_name()],
    })
}

/// One file from one mirror: download to a temporary file, check, rename.
fn fetch_from(
    agent: &ureq::Agent,
    file: &DataFile<'_>,
    dir: &Path,
    url: &str,
    options: &DownloadOptions,
) -> Result<(), Failure> {
    let limit = idx::max_plausible_len(file.role);
    say_downloading(options, url);
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| Failure::Mirror(describe_http_error(&e, options)))?;
    if is_html(&response) {
        return Err(Failure::Mirror(HTML_PAGE.to_owned()));
    }
    let announced = response.body().content_length();
    if let Some(len) = announced.filter(|&len| len > limit) {
        return Err(Failure::Mirror(format!(
            "it announces {len} bytes, more than the {limit} this file can have"
        )));
    }
    let local = |source| Failure::Local {
        path: dir.to_path_buf(),
        source,
    };
    let mut part = tempfile::Builder::new()
        .prefix(&format!(".{}.", file.gz_name()))
        .suffix(".part")
        .rand_bytes(RANDOM_CHARS)
        .tempfile_in(dir)
        .map_err(local)?;
    // Held while downloading: the leftover cleaning of another process skips it.
    let _ = fs4::FileExt::try_lock(part.as_file());

    let part_path = part.path().to_path_buf();
    let progress = progress_bar(options.show_progress, announced, &file.gz_name());
    let body = response.body_mut().with_config().limit(limit).reader();
    let copied = copy_body(body, part.as_file_mut(), &part_path, &progress, options);
    progress.finish_and_clear();
    let received = copied?;
    if let Some(len) = announced.filter(|&len| len != received) {
        return Err(Failure::Mirror(format!(
            "the body ended after {received} of the {len} bytes announced"
        )));
    }

    let gzip = check_part(part.path(), file, dir)?;

    part.as_file().sync_all().map_err(local)?;
    let final_path = dir.join(if gzip {
        file.gz_name()
    } else {
        file.name.to_owned()
    });
    part.persist(&final_path).map_err(|e| Failure::Local {
        path: final_path,
        source: e.error,
    })?;
    Ok(())
}

/// Checks the downloaded `part` of `file` in `dir`: gzip or raw (an HTML page is
/// refused), the IDX structure and the published SHA-256 of its decompressed bytes;
/// returns whether it is gzip.
fn check_part(part: &Path, file: &DataFile<'_>, dir: &Path) -> Result<bool, Failure> {
    let local = |source| Failure::Local {
        path: dir.to_path_buf(),
        source,
    };
    let gzip = starts_with_gzip_magic(part).map_err(local)?;
    if !gzip && starts_like_html(part).map_err(local)? {
        return Err(Failure::Mirror(HTML_PAGE.to_owned()));
    }
    let bytes = read_bytes(part, gzip, file.role).map_err(|failure| match failure {
        ReadFailure::Io(source) => local(source),
        ReadFailure::Gzip(e) => Failure::Mirror(format!("the body is not valid gzip ({e})")),
        ReadFailure::Defect(defect) => Failure::Mirror(format!("the file is damaged: {defect}")),
        ReadFailure::OutOfMemory(bytes) => local(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "not enough memory to check it ({} needed)",
                crate::memory::mib(bytes)
            ),
        )),
    })?;
    idx::check(file.role, &bytes)
        .map_err(|defect| Failure::Mirror(format!("the file is damaged: {defect}")))?;
    let actual = sha256_hex(&bytes);
    if actual != file.sha256 {
        return Err(Failure::Mirror(format!(
            "the decompressed file's SHA-256 is {actual}, not the expected {}",
            file.sha256
        )));
    }
    Ok(gzip)
}

/// Downloads `url` into `dir/name` for a dataset that comes as one archive: streamed into
/// a hidden temporary file in `dir` (never more than `len` bytes), checked to have exactly
/// `len` bytes and the SHA-256 `sha256`, and only then renamed to `name`. A failure leaves
/// nothing behind. `env_var` names the variable that picks another folder, for messages.
pub(crate) fn fetch_archive(
    url: &str,
    dir: &Path,
    name: &str,
    len: u64,
    sha256: &str,
    options: &DownloadOptions,
    env_var: &'static str,
) -> Result<PathBuf, DataError> {
    let failed = |reason: String| DataError::ArchiveDownload {
        dir: dir.to_path_buf(),
        url: url.to_owned(),
        attempts: vec![MirrorFailure {
            url: url.to_owned(),
            reason,
        }],
    };
    let local = |path: &Path, source| DataError::CannotWrite {
        path: path.to_path_buf(),
        env_var,
        source,
    };
    let agent = http_agent(options);
    say_downloading(options, url);
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| failed(describe_http_error(&e, options)))?;
    if is_html(&response) {
        return Err(failed(HTML_PAGE.to_owned()));
    }
    let announced = response.body().content_length();
    if let Some(wrong) = announced.filter(|&n| n != len) {
        return Err(failed(format!(
            "it announces {wrong} bytes, not the {len} of the published archive"
        )));
    }
    let mut part = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .rand_bytes(RANDOM_CHARS)
        .tempfile_in(dir)
        .map_err(|e| local(dir, e))?;
    let _ = fs4::FileExt::try_lock(part.as_file());
    let part_path = part.path().to_path_buf();
    let progress = progress_bar(options.show_progress, Some(len), name);
    let body = response.body_mut().with_config().limit(len + 1).reader();
    let copied = copy_body(body, part.as_file_mut(), &part_path, &progress, options);
    progress.finish_and_clear();
    let received = match copied {
        Ok(received) => received,
        Err(Failure::Mirror(reason)) => return Err(failed(reason)),
        Err(Failure::Local { path, source }) => return Err(local(&path, source)),
    };
    if received != len {
        return Err(failed(format!(
            "the body has {received} bytes, not the {len} of the published archive"
        )));
    }
    let actual = sha256_file(part.path()).map_err(|e| local(&part_path, e))?;
    if actual != sha256 {
        return Err(failed(format!(
            "its SHA-256 is {actual}, not the published {sha256}"
        )));
    }
    part.as_file()
        .sync_all()
        .map_err(|e| local(&part_path, e))?;
    let final_path = dir.join(name);
    part.persist(&final_path)
        .map_err(|e| local(&final_path, e.error))?;
    Ok(final_path)
}

/// SHA-256 of the file at `path` as 64 lower-case hex digits, read in pieces.
pub(crate) fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex(&hasher.finalize()))
}

/// Copies the body into the file; read errors are the mirror's, write errors ours.
fn copy_body(
    mut body: impl Read,
    file: &mut File,
    path: &Path,
    progress: &ProgressBar,
    options: &DownloadOptions,
) -> Result<u64, Failure> {
    let local = |source| Failure::Local {
        path: path.to_path_buf(),
        source,
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_global_timeout(&e) => {
                return Err(Failure::Mirror(took_too_long(options, Some(received))))
            }
            Err(e) => {
                return Err(Failure::Mirror(format!(
                    "reading the body failed after {received} bytes ({e})"
                )))
            }
        };
        out.write_all(&buffer[..n]).map_err(local)?;
        received += n as u64;
        progress.inc(n as u64);
    }
    out.flush().map_err(local)?;
    Ok(received)
}

pub(crate) fn http_agent(options: &DownloadOptions) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_resolve(Some(options.connect_timeout))
        .timeout_connect(Some(options.connect_timeout))
        .timeout_send_request(Some(options.read_timeout))
        .timeout_recv_response(Some(options.read_timeout))
        .timeout_per_read(Some(options.read_timeout))
        .timeout_global(options.total_timeout)
        .user_agent(concat!("scratchnet-data/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The line `downloading <url>`, printed before connecting (so that a server slow to
/// answer is not silence); a progress bar follows once the body arrives.
fn say_downloading(options: &DownloadOptions, url: &str) {
    if options.show_progress {
        eprintln!("downloading {url}");
    }
}

/// Whether a read error is ureq's whole-file time limit ([`DownloadOptions::total_timeout`]).
fn is_global_timeout(error: &io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|e| matches!(e, ureq::Error::Timeout(ureq::Timeout::Global)))
}

/// The reason of a download stopped by the whole-file time limit, and what to do.
fn took_too_long(options: &DownloadOptions, received: Option<u64>) -> String {
    let limit = match options.total_timeout.map(|t| t.as_secs()) {
        Some(secs) if secs >= 60 && secs % 60 == 0 => {
            format!("{} minute{}", secs / 60, if secs == 60 { "" } else { "s" })
        }
        Some(secs) => format!("{secs} s"),
        None => "the time".to_owned(),
    };
    let arrived = received.map_or(String::new(), |n| format!(", {n} bytes had arrived"));
    format!(
        "it took longer than the limit of {limit} per file{arrived} (a slow connection or \
         server): download the file by hand into that folder, as the README says for offline \
         use"
    )
}

fn describe_http_error(error: &ureq::Error, options: &DownloadOptions) -> String {
    match error {
        ureq::Error::StatusCode(code) => format!("HTTP {code}"),
        ureq::Error::Timeout(ureq::Timeout::Global) => took_too_long(options, None),
        ureq::Error::Timeout(which) => format!("no answer in time ({which} time-out)"),
        ureq::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// `mirror` + `name`, with exactly one `/` between them.
fn mirror_url(mirror: &str, name: &str) -> String {
    format!("{}/{name}", mirror.trim_end_matches('/'))
}

fn progress_bar(show: bool, len: Option<u64>, name: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let template = if len.is_some() {
        "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{msg:28} {spinner} {bytes} {bytes_per_sec}"
    };
    let style = ProgressStyle::with_template(template)
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr()).with_style(style);
    bar.set_message(name.to_owned());
    bar
}

/// The reason of a mirror that answered with a web page (an error or login page).
const HTML_PAGE: &str = "the server sent an HTML page, not the file (an error or login page?)";

/// Whether the response says it is an HTML page (`Content-Type: text/html`).
fn is_html(response: &ureq::http::Response<ureq::Body>) -> bool {
    response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("text/html")
        })
}

/// Whether the file starts, after white space, with `<` (`<!DOCTYPE html>`, `<html>`): a
/// web page, which no IDX or gzip file does (their first byte is 0 or 0x1f).
fn starts_like_html(path: &Path) -> io::Result<bool> {
    let mut start = Vec::with_capacity(64);
    File::open(path)?.take(64).read_to_end(&mut start)?;
    Ok(start
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'<'))
}

fn starts_with_gzip_magic(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let mut file = File::open(path)?;
    match file.read_exact(&mut magic) {
        Ok(()) => Ok(magic == [0x1f, 0x8b]),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls_have_one_slash() {
        assert_eq!(mirror_url("http://h/a/", "f.gz"), "http://h/a/f.gz");
        assert_eq!(mirror_url("http://h/a", "f.gz"), "http://h/a/f.gz");
    }
}
