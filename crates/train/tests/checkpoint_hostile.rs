//! Hostile checkpoint headers: a header may claim any tensor size, and loading must
//! compare it with the file's real size before allocating anything (issue 7). A header
//! claiming a 100 GB tensor is an error, returned at once, with no big allocation.
//!
//! `Checkpoint::load` reads the file (its real size) and `from_bytes` hands it to
//! safetensors, whose `read_metadata` rejects a header length beyond the buffer (or over
//! 100 MB) and checks every tensor's `shape × dtype size` (overflow-checked) against its
//! `data_offsets`, and the offsets against the buffer length, before any tensor is
//! converted; the f32 values are then built from the validated bytes only.

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
