//! [`SavedData`]: what a checkpoint of a run records about its data — the input shape,
//! the class names and the per-channel normalisation — and reading a picture the same way
//! ([`load_image`], [`normalized_chw_batch`]).

use crate::image_input::decode_for_predict;
use image::imageops::FilterType;
use ndarray::Array4;
use scratchnet_data::Normalization;
use scratchnet_train::{CheckpointError, TrainError};
use std::collections::BTreeMap;
use std::path::Path;

/// The data facts a checkpoint of [`run`](crate::run) carries in its metadata:
/// `input_shape` (`3,32,32`), `classes` (JSON array of names, by label) and
/// `normalization` (JSON array of `[mean, std]` per channel).
#[derive(Clone, Debug, PartialEq)]
pub struct SavedData {
    /// Per-sample input shape `[C, H, W]`.
    pub sample_shape: [usize; 3],
    /// Class names, by label.
    pub class_names: Vec<String>,
    /// Normalisation of each channel.
    pub normalization: Vec<Normalization>,
}

impl SavedData {
    /// The facts in `metadata`; `None` if any of the three keys is missing (a
    /// checkpoint written before they were recorded, or by PyTorch).
    ///
    /// # Errors
    /// [`CheckpointError::Metadata`] naming the first key whose value is malformed or
    /// impossible — an input shape that is not `C,H,W` (C 1 or 3, sides 1 to 16384),
    /// classes that are not a non-empty JSON array of names, a normalisation that is not
    /// one `[mean, std]` per channel with a finite mean and a finite std > 0 — even when
    /// another key is missing: a file with such an entry was damaged or edited, and
    /// classifying by it would print wrong names or garbage. The path reads `(in
    /// memory)`: [`CheckpointError::at`] puts in the file's.
    pub fn from_metadata(
        metadata: &BTreeMap<String, String>,
    ) -> Result<Option<Self>, CheckpointError> {
        let invalid = |key: &str, reason: String| CheckpointError::Metadata {
            path: Path::new("(in memory)").to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let parsed = |key: &'static str, parse: fn(&str) -> Result<Entry, String>| {
            metadata
                .get(key)
                .map(|value| parse(value).map_err(|reason| invalid(key, reason)))
                .transpose()
        };
        let shape = parsed(KEY_INPUT_SHAPE, parse_input_shape)?;
        let classes = parsed(KEY_CLASSES, parse_classes)?;
        let normalization = parsed(KEY_NORMALIZATION, parse_normalization)?;
        let (
            Some(Entry::Shape(sample_shape)),
            Some(Entry::Classes(class_names)),
            Some(Entry::Normalization(normalization)),
        ) = (shape, classes, normalization)
        else {
            return Ok(None);
        };
        if normalization.len() != sample_shape[0] {
            return Err(invalid(
                KEY_NORMALIZATION,
                format!(
                    "{} channel(s), but the input shape has {}",
                    normalization.len(),
                    sample_shape[0]
                ),
            ));
        }
        Ok(Some(SavedData {
            sample_shape,
            class_names,
            normalization,
        }))
    }
}

const KEY_INPUT_SHAPE: &str = "input_shape";
const KEY_CLASSES: &str = "classes";
const KEY_NORMALIZATION: &str = "normalization";

/// One parsed entry of [`SavedData`]'s metadata.
enum Entry {
    Shape([usize; 3]),
    Classes(Vec<String>),
    Normalization(Vec<Normalization>),
}

fn parse_input_shape(value: &str) -> Result<Entry, String> {
    let shape: Option<Vec<usize>> = value.split(',').map(|d| d.trim().parse().ok()).collect();
    match shape.and_then(|s| <[usize; 3]>::try_from(s).ok()) {
        Some(shape)
            if shape.iter().all(|&d| (1..=16_384).contains(&d)) && matches!(shape[0], 1 | 3) =>
        {
            Ok(Entry::Shape(shape))
        }
        _ => Err(format!(
            "{value:?} is not an input shape C,H,W (C 1 or 3, H and W 1 to 16384)"
        )),
    }
}

fn parse_classes(value: &str) -> Result<Entry, String> {
    let names: Vec<String> =
        serde_json::from_str(value).map_err(|e| format!("not a JSON array of class names: {e}"))?;
    if names.is_empty() {
        return Err("no class names".into());
    }
    Ok(Entry::Classes(names))
}

fn parse_normalization(value: &str) -> Result<Entry, String> {
    let pairs: Vec<[f32; 2]> = serde_json::from_str(value)
        .map_err(|e| format!("not a JSON array of [mean, std] per channel: {e}"))?;
    for (channel, &[mean, std]) in pairs.iter().enumerate() {
        if !(mean.is_finite() && std.is_finite() && std > 0.0) {
            return Err(format!(
                "channel {channel}: mean {mean} and std {std} (a finite mean and a finite std > 0 expected)"
            ));
        }
    }
    Ok(Entry::Normalization(
        pairs
            .iter()
            .map(|&[mean, std]| Normalization { mean, std })
            .collect(),
    ))
}

/// Reads a PNG or JPEG file as an image folder's loader does: converted to `C` channels
/// (grey or RGB), resized to `H × W` with the `Triangle` filter, returned channel-first
/// (`C × H × W` bytes).
///
/// # Errors
/// [`TrainError::Image`] naming the file if it is not a regular file (a FIFO is refused
/// before it is opened), cannot be opened or decoded (a JPEG that ends before its
/// end-of-image marker included), or is larger than
/// [`MAX_IMAGE_SIDE`](crate::MAX_IMAGE_SIDE) a side or
/// [`MAX_IMAGE_ALLOC`](crate::MAX_IMAGE_ALLOC) bytes (the training run's image folders'
/// limits; the message says the image's size and the limit).
pub fn load_image(path: &Path, sample_shape: [usize; 3]) -> Result<Vec<u8>, TrainError> {
    let image = decode_for_predict(path)?;
    let [channels, height, width] = sample_shape;
    let image = image.resize_exact(width as u32, height as u32, FilterType::Triangle);
    if channels == 1 {
        return Ok(image.to_luma8().into_raw());
    }
    let rgb = image.to_rgb8();
    let plane = height * width;
    let mut out = vec![0u8; 3 * plane];
    for (i, pixel) in rgb.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = pixel[c];
        }
    }
    Ok(out)
}

/// Normalises images of `sample_shape` (one after the other, channel-first) into a batch
/// `[N, C, H, W]`, channel `c` with `normalization[c]`.
///
/// **Panics** if `pixels.len()` is not a multiple of `C × H × W` or `normalization` does
/// not have `C` entries.
#[track_caller]
pub fn normalized_chw_batch(
    pixels: &[u8],
    sample_shape: [usize; 3],
    normalization: &[Normalization],
) -> Array4<f32> {
    let [channels, height, width] = sample_shape;
    let len = channels * height * width;
    assert_eq!(pixels.len() % len, 0, "images of {len} pixels expected");
    assert_eq!(
        normalization.len(),
        channels,
        "one normalisation per channel"
    );
    let plane = height * width;
    let values = pixels
        .iter()
        .enumerate()
        .map(|(i, &p)| normalization[(i % len) / plane].apply(p))
        .collect();
    Array4::from_shape_vec((pixels.len() / len, channels, height, width), values)
        .expect("the length was checked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_a_missing_entry_gives_none() {
        let mut m = BTreeMap::from([
            ("input_shape".to_owned(), "3,2,2".to_owned()),
            ("classes".to_owned(), r#"["cat","dog"]"#.to_owned()),
            (
                "normalization".to_owned(),
                "[[0.5,0.25],[0.4,0.2],[0.3,0.1]]".to_owned(),
            ),
        ]);
        let saved = SavedData::from_metadata(&m).unwrap().unwrap();
        assert_eq!(saved.sample_shape, [3, 2, 2]);
        assert_eq!(saved.class_names, ["cat", "dog"]);
        assert_eq!(
            saved.normalization[2],
            Normalization {
                mean: 0.3,
                std: 0.1
            }
        );
        let batch = normalized_chw_batch(&[255; 12], saved.sample_shape, &saved.normalization);
        assert_eq!(batch.shape(), &[1, 3, 2, 2]);
        assert_eq!(batch[[0, 1, 1, 1]], (1.0 - 0.4) / 0.2);
        let error = |m: &BTreeMap<String, String>| {
            SavedData::from_metadata(m)
                .unwrap_err()
                .at(Path::new("c.st"))
                .to_string()
        };
        m.insert("normalization".into(), "[[0.5,0.25]]".into());
        assert_eq!(
            error(&m),
            "checkpoint c.st: metadata \"normalization\" is invalid: 1 channel(s), but the input shape has 3"
        );
        m.remove("classes");
        assert_eq!(
            SavedData::from_metadata(&m).unwrap(),
            None,
            "an older checkpoint"
        );
    }

    /// QA: `predict` read a checkpoint whose `classes` was "not json", or whose
    /// normalisation had a std of 0, as one without them, silently.
    #[test]
    fn a_malformed_entry_is_an_error_naming_its_key() {
        let good = BTreeMap::from([
            ("input_shape".to_owned(), "1,28,28".to_owned()),
            ("classes".to_owned(), r#"["a","b"]"#.to_owned()),
            ("normalization".to_owned(), "[[0.1,0.3]]".to_owned()),
        ]);
        for (key, value, reason) in [
            ("classes", "not json", "not a JSON array of class names"),
            ("classes", "[]", "no class names"),
            (
                "normalization",
                "[[0.1,0]]",
                "channel 0: mean 0.1 and std 0",
            ),
            ("normalization", "[0.1]", "not a JSON array of [mean, std]"),
            (
                "input_shape",
                "2,28,28",
                "\"2,28,28\" is not an input shape",
            ),
            ("input_shape", "28x28", "\"28x28\" is not an input shape"),
        ] {
            let mut m = good.clone();
            m.insert(key.into(), value.into());
            let message = SavedData::from_metadata(&m).unwrap_err().to_string();
            assert!(
                message.contains(&format!("metadata {key:?} is invalid: {reason}")),
                "{message}"
            );
            // Also when another entry is missing.
            let other = if key == "classes" {
                "input_shape"
            } else {
                "classes"
            };
            m.remove(other);
            assert!(SavedData::from_metadata(&m).is_err(), "{key} {value}");
        }
    }
}
