//! Hostile checkpoint files: a header may claim any tensor size, and loading must
//! compare it with the file's real size before allocating anything (issue 7). A header
//! claiming a 100 GB tensor is an error, returned at once, with no big allocation.
//!
//! `Checkpoint::load` refuses what is not a regular file (a FIFO, `/dev/zero`) before
//! opening it, reads the 8-byte header length (at most 100 MB) and the header, and
//! checks that the file ends where the header's last tensor does before reading any
//! tensor data (issue 16, item 11). `load_model` first refuses a file larger than a
//! checkpoint of the model can be, and a header that does not match the model.
//! `from_bytes` hands the bytes to safetensors, whose `read_metadata` checks every
//! tensor's `shape × dtype size` (overflow-checked) against its `data_offsets`, and the
//! offsets against the buffer length, before any tensor is converted.

use std::time::{Duration, Instant};

use scratchnet_train::{Checkpoint, CheckpointError};

/// A safetensors file whose header is `json`, followed by `data`.
fn file(json: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Peak resident memory of this process so far (`VmHWM`), in kB; `None` off Linux.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Parses `bytes` and from a file, expecting a format error, quickly and without
/// growing the peak RSS by more than 64 MB.
fn assert_rejected_cheaply(bytes: &[u8]) -> String {
    let before = peak_rss_kb();
    let start = Instant::now();
    let error = Checkpoint::from_bytes(bytes).expect_err("a hostile header must be rejected");
    assert!(
        matches!(error, CheckpointError::Format { .. }),
        "not a format error: {error:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let from_file = Checkpoint::load(&path).expect_err("a hostile file must be rejected");
    assert!(
        from_file.to_string().contains("hostile.safetensors"),
        "{from_file}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    if let (Some(before), Some(after)) = (before, peak_rss_kb()) {
        assert!(
            after < before + 64 * 1024,
            "peak RSS grew from {before} kB to {after} kB"
        );
    }
    error.to_string()
}

#[test]
fn a_header_claiming_a_100_gb_tensor_is_an_error_not_an_allocation() {
    // 25e9 f32 = 100 GB, with offsets that agree with the shape; 8 real bytes.
    let header =
        r#"{"fc.weight":{"dtype":"F32","shape":[25000000000],"data_offsets":[0,100000000000]}}"#;
    let message = assert_rejected_cheaply(&file(header, &[0; 8]));
    assert!(message.contains("(in memory)"), "{message}");
}

#[test]
fn a_100_gb_tensor_whose_offsets_fit_the_file_is_an_error() {
    // The offsets fit the 8 bytes; the shape claims 100 GB.
    let header = r#"{"fc.weight":{"dtype":"F32","shape":[25000000000],"data_offsets":[0,8]}}"#;
    assert_rejected_cheaply(&file(header, &[0; 8]));
}

#[test]
fn a_shape_whose_size_overflows_is_an_error() {
    let header = r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#;
    assert_rejected_cheaply(&file(header, &[0; 8]));
}

#[test]
fn a_huge_header_length_is_an_error() {
    for length in [u64::MAX, 1 << 40, 100_000_001, 1_000] {
        let mut bytes = length.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert_rejected_cheaply(&bytes);
    }
}

#[test]
fn many_tensors_claiming_100_gb_together_are_an_error() {
    let entries: Vec<String> = (0..100u64)
        .map(|i| {
            let start = i * 1_000_000_000;
            format!(
                r#""t{i}":{{"dtype":"F32","shape":[250000000],"data_offsets":[{start},{}]}}"#,
                start + 1_000_000_000
            )
        })
        .collect();
    assert_rejected_cheaply(&file(&format!("{{{}}}", entries.join(",")), &[0; 64]));
}

// ---- Files that are not checkpoints of the model: refused before they are read ----

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_train::{load_model, models::lenet5, MAX_HEADER_BYTES};
use std::path::Path;

/// Makes a FIFO at `path` and runs `load` on it while another thread opens it for
/// writing (and closes it at once). A loader that opened the FIFO would read nothing,
/// not hang; the one we want never opens it. Either way this returns: the last open
/// (read and write, which never blocks on Linux) lets a writer still waiting go on.
fn with_fifo<T>(path: &Path, load: impl FnOnce(&Path) -> T) -> T {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo failed");
    let writer_path = path.to_path_buf();
    let writer = std::thread::spawn(move || {
        let _ = std::fs::OpenOptions::new().write(true).open(writer_path);
    });
    let result = load(path);
    let _unblock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    writer.join().unwrap();
    result
}

fn assert_not_a_file(error: CheckpointError, path: &Path, what: &str) {
    let message = error.to_string();
    assert!(
        matches!(error, CheckpointError::NotAFile { .. }),
        "not NotAFile: {error:?}"
    );
    assert!(
        message.contains(&path.display().to_string())
            && message.contains(what)
            && message.contains("not a regular file")
            && !message.contains('\n'),
        "{message}"
    );
}

#[test]
fn a_fifo_is_refused_without_being_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipe.safetensors");
    let error = with_fifo(&path, |p| Checkpoint::load(p).unwrap_err());
    assert_not_a_file(error, &path, "FIFO");
    let path = dir.path().join("pipe2.safetensors");
    let error = with_fifo(&path, |p| {
        load_model(p, &mut lenet5(&mut StdRng::seed_from_u64(0))).unwrap_err()
    });
    assert_not_a_file(error, &path, "FIFO");
}

#[test]
fn dev_zero_and_a_directory_are_refused_without_being_read() {
    let dev_zero = Path::new("/dev/zero");
    if dev_zero.exists() {
        assert_not_a_file(Checkpoint::load(dev_zero).unwrap_err(), dev_zero, "device");
        let error = load_model(dev_zero, &mut lenet5(&mut StdRng::seed_from_u64(0)));
        assert_not_a_file(error.unwrap_err(), dev_zero, "device");
    }
    let dir = tempfile::tempdir().unwrap();
    assert_not_a_file(
        Checkpoint::load(dir.path()).unwrap_err(),
        dir.path(),
        "directory",
    );
}

/// A sparse file of `size` bytes (no disk used) starting with a safetensors header
/// `json` whose offsets claim the rest of the file.
fn sparse_file(path: &Path, json: &str, size: u64) {
    let mut head = (json.len() as u64).to_le_bytes().to_vec();
    head.extend_from_slice(json.as_bytes());
    std::fs::write(path, &head).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(size)
        .unwrap();
}

#[test]
fn a_3_gb_file_claiming_a_3_gb_weight_is_refused_by_its_size_before_any_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.safetensors");
    // 750 M f32 = 3 GB in conv1.weight, the header consistent with the file's size.
    let data: u64 = 3_000_000_000;
    let mut json = format!(
        r#"{{"conv1.weight":{{"dtype":"F32","shape":[750000000],"data_offsets":[0,{data}]}}}}"#
    );
    while (json.len() % 8) != 0 {
        json.push(' ');
    }
    let size = 8 + json.len() as u64 + data;
    sparse_file(&path, &json, size);
    let before = peak_rss_kb();
    let error = load_model(&path, &mut lenet5(&mut StdRng::seed_from_u64(0))).unwrap_err();
    let CheckpointError::TooLarge {
        size: found, limit, ..
    } = error
    else {
        panic!("not refused by its size: {error:?}");
    };
    assert_eq!(found, size);
    // LeNet-5: 61,706 parameters, three copies as f32, and a header of at most 100 MB.
    assert_eq!(limit, 8 + MAX_HEADER_BYTES + 3 * 4 * 61_706);
    let message = error_text(&path);
    assert!(
        message.contains("huge.safetensors") && message.contains("not a checkpoint of this model"),
        "{message}"
    );
    if let (Some(before), Some(after)) = (before, peak_rss_kb()) {
        assert!(
            after < before + 64 * 1024,
            "peak RSS grew from {before} kB to {after} kB"
        );
    }
    std::fs::remove_file(&path).unwrap();
}

fn error_text(path: &Path) -> String {
    load_model(path, &mut lenet5(&mut StdRng::seed_from_u64(0)))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_sparse_file_longer_than_its_header_says_is_refused_before_its_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("padded.safetensors");
    // A header describing 8 bytes of data, in a 3 GB file.
    let json = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}     "#;
    sparse_file(&path, json, 3_000_000_000);
    let before = peak_rss_kb();
    let error = Checkpoint::load(&path).unwrap_err();
    assert!(matches!(error, CheckpointError::Format { .. }), "{error:?}");
    assert!(
        error.to_string().contains("but it has 3000000000"),
        "{error}"
    );
    if let (Some(before), Some(after)) = (before, peak_rss_kb()) {
        assert!(
            after < before + 64 * 1024,
            "peak RSS grew from {before} kB to {after} kB"
        );
    }
}

#[test]
fn a_wrong_header_is_reported_from_the_header_alone() {
    // The header says conv1.weight is [6, 1, 5, 4]: a mismatch found before reading,
    // named as apply_to would name it.
    let model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut checkpoint = Checkpoint::from_model(&model);
    checkpoint.tensors.insert(
        "conv1.weight".into(),
        ndarray::ArrayD::zeros(ndarray::IxDyn(&[6, 1, 5, 4])),
    );
    checkpoint
        .tensors
        .insert("extra".into(), ndarray::ArrayD::zeros(ndarray::IxDyn(&[3])));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong.safetensors");
    checkpoint.save(&path).unwrap();
    let message = error_text(&path);
    assert_eq!(
        message,
        format!(
            "checkpoint {} does not match the model: tensor conv1.weight has shape [6, 1, 5, 4], but the model expects [6, 1, 5, 5]; unexpected tensor extra of shape [3] (the model has no such tensor)",
            path.display()
        )
    );
}
