//! [`SavedData`]: what a checkpoint of a run records about its data — the input shape,
//! the class names and the per-channel normalisation — and reading a picture the same way
//! ([`load_image`], [`normalized_chw_batch`]).

use crate::image_input::image_limits;
use image::imageops::FilterType;
use ndarray::Array4;
use scratchnet_data::{decode_image_file, Normalization};
use scratchnet_train::TrainError;
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
    /// The facts in `metadata`, or `None` if any is missing or malformed (a checkpoint
    /// written before they were recorded, or by PyTorch).
    pub fn from_metadata(metadata: &BTreeMap<String, String>) -> Option<Self> {
        let shape: Vec<usize> = metadata
            .get("input_shape")?
            .split(',')
            .map(|d| d.trim().parse().ok())
            .collect::<Option<_>>()?;
        let sample_shape: [usize; 3] = shape.try_into().ok()?;
        let class_names: Vec<String> = serde_json::from_str(metadata.get("classes")?).ok()?;
        let pairs: Vec<[f32; 2]> = serde_json::from_str(metadata.get("normalization")?).ok()?;
        let normalization: Vec<Normalization> = pairs
            .iter()
            .map(|&[mean, std]| Normalization { mean, std })
            .collect();
        let valid = sample_shape.iter().all(|&d| (1..=16_384).contains(&d))
            && matches!(sample_shape[0], 1 | 3)
            && !class_names.is_empty()
            && normalization.len() == sample_shape[0]
            && normalization
                .iter()
                .all(|n| n.mean.is_finite() && n.std.is_finite() && n.std > 0.0);
        valid.then_some(SavedData {
            sample_shape,
            class_names,
            normalization,
        })
    }
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
/// [`MAX_IMAGE_ALLOC`](crate::MAX_IMAGE_ALLOC) bytes.
pub fn load_image(path: &Path, sample_shape: [usize; 3]) -> Result<Vec<u8>, TrainError> {
    let image = decode_image_file(path, image_limits()).map_err(|reason| TrainError::Image {
        path: path.to_path_buf(),
        reason,
    })?;
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
    fn metadata_round_trips_and_bad_entries_give_none() {
        let mut m = BTreeMap::from([
            ("input_shape".to_owned(), "3,2,2".to_owned()),
            ("classes".to_owned(), r#"["cat","dog"]"#.to_owned()),
            (
                "normalization".to_owned(),
                "[[0.5,0.25],[0.4,0.2],[0.3,0.1]]".to_owned(),
            ),
        ]);
        let saved = SavedData::from_metadata(&m).unwrap();
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
        m.insert("normalization".into(), "[[0.5,0.25]]".into());
        assert_eq!(SavedData::from_metadata(&m), None);
        m.remove("classes");
        assert_eq!(SavedData::from_metadata(&m), None);
    }
}
