//! CIFAR-10 from generated batch files and archives of the real layout (a few records per
//! file): loading, the damaged files' messages, and the archive's download (from a server on
//! 127.0.0.1) and extraction, including archives that try to leave their folder.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{gzip, sha256_hex, Reply, TestServer};
use scratchnet_data::{
    load_cifar10, load_or_download_cifar10_from, Cifar10Source, DataError, DownloadOptions,
    CIFAR10_FILES, CIFAR10_RECORD_LEN,
};

fn quick() -> DownloadOptions {
    DownloadOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        total_timeout: Some(Duration::from_secs(20)),
        show_progress: false,
    }
}

/// `n` records of batch `batch`: label `(batch + i) % 10`; pixel `p` of plane `c` is
/// `(batch * 7 + i + c * 50 + p) % 256`.
fn batch_file(batch: usize, n: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(n * CIFAR10_RECORD_LEN);
    for i in 0..n {
        bytes.push(((batch + i) % 10) as u8);
        for c in 0..3 {
            bytes.extend((0..1024).map(|p| ((batch * 7 + i + c * 50 + p) % 256) as u8));
        }
    }
    bytes
}

/// The six files, `n` records each.
fn batch_files(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    CIFAR10_FILES
        .iter()
        .enumerate()
        .map(|(b, &name)| (name, batch_file(b, n)))
        .collect()
}

fn write_batches(dir: &Path, files: &[(&str, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// A member of a hand-made archive.
enum Member<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// A `.tar.gz` of `members`, their names written raw into the headers (so a test can
/// write `../x`, which `tar::Builder` would refuse).
fn archive(members: &[Member<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = tar::Header::new_gnu();
        let (name, data, kind, link): (&str, &[u8], _, Option<&str>) = match member {
            Member::File(name, data) => (name, data, tar::EntryType::Regular, None),
            Member::Symlink(name, to) => (name, &[], tar::EntryType::Symlink, Some(to)),
            Member::HardLink(name, to) => (name, &[], tar::EntryType::Link, Some(to)),
        };
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(to) = link {
            header.as_old_mut().linkname[..to.len()].copy_from_slice(to.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    gzip(&builder.into_inner().unwrap())
}

/// The archive of the real layout for `files`, plus the extra members.
fn real_layout(files: &[(&str, Vec<u8>)], extra: Vec<Member<'_>>) -> Vec<u8> {
    let names: Vec<String> = files
        .iter()
        .map(|(name, _)| format!("cifar-10-batches-bin/{name}"))
        .collect();
    let mut members: Vec<Member<'_>> = names
        .iter()
        .zip(files)
        .map(|(name, (_, bytes))| Member::File(name, bytes))
        .collect();
    members.push(Member::File(
        "cifar-10-batches-bin/batches.meta.txt",
        b"airplane\nautomobile\n",
    ));
    members.push(Member::File("cifar-10-batches-bin/readme.html", b"<p>"));
    members.extend(extra);
    archive(&members)
}

/// Serves `bytes` as the archive; returns the server and the source describing it.
fn serve(bytes: &[u8]) -> (TestServer, Cifar10Source) {
    let server = TestServer::start(vec![(
        "/c/cifar-10-binary.tar.gz".into(),
        Reply::Body(bytes.to_vec()),
    )]);
    let source = Cifar10Source {
        url: server.url("c/cifar-10-binary.tar.gz"),
        len: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    };
    (server, source)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn batch_files_load_as_chw_rgb_images_with_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let files = batch_files(3);
    write_batches(dir.path(), &files);

    let data = load_cifar10(dir.path()).unwrap();

    assert_eq!((data.train.len(), data.test.len()), (15, 3));
    assert_eq!(data.train.sample_shape(), [3, 32, 32]);
    assert_eq!(data.train.class_names()[3], "cat");
    assert_eq!(data.test.num_classes(), 10);
    // Training sample 4 is record 1 of data_batch_2 (batch index 1).
    assert_eq!(data.train.labels()[4], 2);
    assert_eq!(
        data.train.image(4),
        &files[1].1[CIFAR10_RECORD_LEN + 1..2 * CIFAR10_RECORD_LEN]
    );
    // Green plane, pixel (y 1, x 2) of test record 2 (batch index 5).
    let image = data.test.image(2);
    assert_eq!(usize::from(image[1024 + 32 + 2]), 5 * 7 + 2 + 50 + 34);
    let red_mean = data.train.channel_normalization()[0].mean;
    assert!((red_mean - 0.4914).abs() < 1e-6);
}

#[test]
fn the_extracted_folder_inside_the_data_dir_is_found() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(&dir.path().join("cifar-10-batches-bin"), &batch_files(1));
    assert_eq!(load_cifar10(dir.path()).unwrap().train.len(), 5);
}

#[test]
fn a_missing_batch_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = batch_files(1);
    files.remove(3);
    write_batches(dir.path(), &files);
    let message = load_cifar10(dir.path()).unwrap_err().to_string();
    for part in [
        "data_batch_4.bin",
        "missing",
        "CIFAR10_DIR",
        "cifar-10-binary.tar.gz",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

#[test]
fn a_truncated_batch_file_is_refused_naming_it_and_the_record_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = batch_files(2);
    files[2].1.truncate(CIFAR10_RECORD_LEN + 100);
    write_batches(dir.path(), &files);
    let error = load_cifar10(dir.path()).unwrap_err();
    assert!(
        matches!(error, DataError::Cifar10Damaged { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    for part in [
        "data_batch_3.bin",
        "truncated",
        "1 whole 3073-byte records and 100 bytes over",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

#[test]
fn a_label_above_9_is_refused_naming_the_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = batch_files(3);
    files[5].1[2 * CIFAR10_RECORD_LEN] = 10;
    write_batches(dir.path(), &files);
    let message = load_cifar10(dir.path()).unwrap_err().to_string();
    for part in ["test_batch.bin", "record 2", "label 10", "0..=9"] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

#[test]
fn an_empty_or_oversized_batch_file_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &batch_files(1));
    std::fs::write(dir.path().join("data_batch_1.bin"), b"").unwrap();
    let message = load_cifar10(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("data_batch_1.bin is damaged: the file is empty"),
        "{message}"
    );
    // A sparse file of 10,001 records: refused from its length, not read.
    write_batches(dir.path(), &batch_files(1));
    let big = std::fs::File::create(dir.path().join("data_batch_2.bin")).unwrap();
    big.set_len(10_001 * CIFAR10_RECORD_LEN as u64).unwrap();
    let message = load_cifar10(dir.path()).unwrap_err().to_string();
    assert!(message.contains("more than the 30730000"), "{message}");
}

#[test]
fn the_archive_is_downloaded_checked_extracted_and_deleted() {
    let files = batch_files(2);
    let bytes = real_layout(
        &files,
        vec![Member::File("cifar-10-batches-bin/run.sh", b"rm")],
    );
    let (server, source) = serve(&bytes);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data/cifar-10");

    let data = load_or_download_cifar10_from(&dir, &source, &quick()).unwrap();

    assert_eq!((data.train.len(), data.test.len()), (10, 2));
    assert_eq!(names_in(&dir), ["cifar-10-batches-bin"]);
    let mut expected: Vec<&str> = CIFAR10_FILES.to_vec();
    expected.push("batches.meta.txt");
    expected.sort();
    // Only the expected members: not readme.html, not run.sh.
    assert_eq!(names_in(&dir.join("cifar-10-batches-bin")), expected);
    // A second call finds the batches and asks nothing.
    let asked = server.requests().len();
    load_or_download_cifar10_from(&dir, &source, &quick()).unwrap();
    assert_eq!(server.requests().len(), asked);
}

/// Downloads `bytes` as the archive and returns the error, after checking that nothing
/// but the (checked, published) archive is left in the data folder and nothing at all
/// beside it.
fn refused(bytes: &[u8]) -> String {
    let (_server, source) = serve(bytes);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("cifar-10");
    let error = load_or_download_cifar10_from(&dir, &source, &quick()).unwrap_err();
    assert!(matches!(error, DataError::Archive { .. }), "{error:?}");
    assert_eq!(names_in(&dir), ["cifar-10-binary.tar.gz"]);
    assert_eq!(names_in(parent.path()), ["cifar-10"]);
    error.to_string()
}

#[test]
fn a_member_that_leaves_the_folder_is_refused_and_nothing_is_written() {
    let files = batch_files(1);
    let message = refused(&real_layout(
        &files,
        vec![Member::File("../escaped.bin", b"x")],
    ));
    for part in ["\"../escaped.bin\"", "leaves the folder", "delete it"] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    let message = refused(&real_layout(
        &files,
        vec![Member::File("/tmp/abs.bin", b"x")],
    ));
    assert!(message.contains("leaves the folder"), "{message}");
}

#[test]
fn link_members_are_refused() {
    let files = batch_files(1);
    let message = refused(&real_layout(
        &files,
        vec![Member::Symlink("cifar-10-batches-bin/x", "/etc/passwd")],
    ));
    assert!(message.contains("is a link"), "{message}");
    let message = refused(&real_layout(
        &files,
        vec![Member::HardLink("cifar-10-batches-bin/y", "/etc/passwd")],
    ));
    assert!(message.contains("is a link"), "{message}");
}

#[test]
fn a_truncated_archive_is_refused() {
    let bytes = real_layout(&batch_files(2), vec![]);
    let message = refused(&bytes[..bytes.len() / 2]);
    assert!(message.contains("corrupt or truncated"), "{message}");
}

#[test]
fn an_archive_with_a_mislabelled_batch_is_refused_before_extraction() {
    let mut files = batch_files(2);
    files[0].1[0] = 200;
    let message = refused(&real_layout(&files, vec![]));
    for part in ["data_batch_1.bin", "label 200"] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

#[test]
fn an_archive_without_a_batch_is_refused() {
    let mut files = batch_files(1);
    files.pop();
    let message = refused(&real_layout(&files, vec![]));
    assert!(
        message.contains("no member cifar-10-batches-bin/test_batch.bin"),
        "{message}"
    );
}

#[test]
fn a_download_with_the_wrong_checksum_leaves_nothing() {
    let bytes = real_layout(&batch_files(1), vec![]);
    let (_server, mut source) = serve(&bytes);
    source.sha256 = "0".repeat(64);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("cifar-10");
    let error = load_or_download_cifar10_from(&dir, &source, &quick()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, DataError::ArchiveDownload { .. }),
        "{error:?}"
    );
    assert!(message.contains("SHA-256"), "{message}");
    assert!(message.contains("by hand"), "{message}");
    // Not even the folder it created: an empty data/cifar-10 was left behind.
    assert_eq!(names_in(parent.path()), Vec::<String>::new());
}

#[test]
fn a_gzip_member_is_decompressed_even_when_written_in_pieces() {
    // Two gzip members concatenated (what `cat a.gz b.gz` makes) read as one stream.
    let tar_bytes = {
        let files = batch_files(1);
        let plain = real_layout(&files, vec![]);
        common::gunzip(&plain)
    };
    let (first, second) = tar_bytes.split_at(tar_bytes.len() / 3);
    let mut bytes = gzip(first);
    bytes.write_all(&gzip(second)).unwrap();
    let (_server, source) = serve(&bytes);
    let parent = tempfile::tempdir().unwrap();
    let data = load_or_download_cifar10_from(parent.path(), &source, &quick()).unwrap();
    assert_eq!(data.test.len(), 1);
}

#[test]
fn a_fifo_in_place_of_a_batch_file_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &batch_files(1));
    let fifo = dir.path().join("test_batch.bin");
    std::fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    let message = load_cifar10(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("test_batch.bin: it is not a regular file"),
        "{message}"
    );
}

#[test]
fn an_archive_already_in_the_folder_is_checked_then_extracted() {
    let bytes = real_layout(&batch_files(1), vec![]);
    let (server, source) = serve(&bytes);
    let parent = tempfile::tempdir().unwrap();
    std::fs::write(parent.path().join("cifar-10-binary.tar.gz"), &bytes).unwrap();
    let data = load_or_download_cifar10_from(parent.path(), &source, &quick()).unwrap();
    assert_eq!(data.train.len(), 5);
    assert!(server.requests().is_empty());
    assert_eq!(names_in(parent.path()), ["cifar-10-batches-bin"]);

    // One that is not the published archive is refused, named, and left alone.
    let other = tempfile::tempdir().unwrap();
    let archive = other.path().join("cifar-10-binary.tar.gz");
    std::fs::write(&archive, b"something else").unwrap();
    let message = load_or_download_cifar10_from(other.path(), &source, &quick())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("SHA-256") && message.contains("cifar-10-binary.tar.gz"),
        "{message}"
    );
    assert!(archive.exists());
}

#[test]
fn an_incomplete_batches_folder_or_a_file_in_its_place_is_refused_before_downloading() {
    let bytes = real_layout(&batch_files(1), vec![]);
    let (server, source) = serve(&bytes);

    let parent = tempfile::tempdir().unwrap();
    let batches = parent.path().join("cifar-10-batches-bin");
    write_batches(&batches, &batch_files(1)[..3]);
    let message = load_or_download_cifar10_from(parent.path(), &source, &quick())
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!(
            "the folder at {} is incomplete (it lacks data_batch_4.bin): remove it and run \
             again to download and extract a fresh copy",
            batches.display()
        )
    );
    assert_eq!(names_in(parent.path()), ["cifar-10-batches-bin"]);

    // A file of that name; the archive already beside it is kept and said to be.
    let other = tempfile::tempdir().unwrap();
    let in_the_way = other.path().join("cifar-10-batches-bin");
    std::fs::write(&in_the_way, b"not a folder").unwrap();
    let archive = other.path().join("cifar-10-binary.tar.gz");
    std::fs::write(&archive, &bytes).unwrap();
    let message = load_or_download_cifar10_from(other.path(), &source, &quick())
        .unwrap_err()
        .to_string();
    for part in [
        format!("the file at {} is in the way", in_the_way.display()),
        "remove it".to_owned(),
        format!("the archive {} beside it is kept", archive.display()),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message}");
    }
    assert!(archive.exists());
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn leftovers_of_an_interrupted_download_or_extraction_are_removed_first() {
    let bytes = real_layout(&batch_files(1), vec![]);
    let (_server, source) = serve(&bytes);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let age = |path: &Path| {
        std::fs::File::open(path)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap()
    };
    let part = dir.join(".cifar-10-binary.tar.gz.Ab12Cd.part");
    std::fs::write(&part, &bytes[..100]).unwrap();
    age(&part);
    let extracting = dir.join(".cifar-10-extracting.Ab12Cd");
    write_batches(&extracting, &batch_files(1)[..2]);
    age(&extracting);
    // Something that is not only extracted members: kept.
    let foreign = dir.join(".cifar-10-extracting.Zz99Zz");
    write_batches(&foreign, &[("notes.txt", b"mine".to_vec())]);
    age(&foreign);

    load_or_download_cifar10_from(dir, &source, &quick()).unwrap();

    assert_eq!(
        names_in(dir),
        [".cifar-10-extracting.Zz99Zz", "cifar-10-batches-bin"]
    );
}
