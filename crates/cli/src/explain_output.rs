//! Where `predict --explain` writes its pictures, and the rule that keeps it from
//! overwriting a file it did not write ([`ExplainOutputs`], [`write_explain_png`]).
//!
//! **The rule**: each picture is written (atomically) to `NAME.explain.png` beside the
//! image `NAME.png` (or into `--explain-dir DIR`), and carries a PNG text chunk
//! `Software: scratchnet predict --explain`. An existing file there is replaced only if
//! it carries that mark — a picture an earlier `--explain` wrote for the same name;
//! any other file (a user's own, an unreadable one) is refused before anything is
//! classified, naming it and the fix.

use image::RgbImage;
use scratchnet_train::{check_writable, write_atomically, TrainError};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The PNG text chunk that marks a picture as `predict --explain`'s.
pub const EXPLAIN_MARK: (&str, &str) = ("Software", "scratchnet predict --explain");

/// The checked output path of each image, in the images' order.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainOutputs {
    /// `paths[i]` is where the picture of image `i` goes.
    pub paths: Vec<PathBuf>,
}

/// The picture's path for `image`: `NAME.explain.png` for `NAME.EXT` (or `NAME`), in
/// `dir` if given, else beside the image.
pub fn explain_path(image: &Path, dir: Option<&Path>) -> PathBuf {
    let stem = image.file_stem().unwrap_or(image.as_os_str());
    let mut name = stem.to_os_string();
    name.push(".explain.png");
    match dir {
        Some(dir) => dir.join(name),
        None => image.with_file_name(name),
    }
}

impl ExplainOutputs {
    /// The outputs of `images`, checked before any work: `dir` (if given) is a
    /// directory; no two images share an output (compared by where they are, whatever
    /// the spelling: `a/x.png` and `./a/x.jpg` share `a/x.explain.png`; the same file
    /// given twice is not two images, and its picture is written for each mention); no
    /// output is one of the images; each
    /// output can be written and is either absent or a picture `--explain` wrote (see
    /// the module's rule).
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the file at fault and what to do.
    pub fn check(images: &[PathBuf], dir: Option<&Path>) -> Result<Self, TrainError> {
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            let what = if dir.exists() {
                "not a directory: name a folder"
            } else {
                "no such directory: create it first"
            };
            return Err(TrainError::config(format!(
                "--explain-dir {}: {what}",
                dir.display()
            )));
        }
        let paths: Vec<PathBuf> = images.iter().map(|i| explain_path(i, dir)).collect();
        let canonical: Vec<Option<PathBuf>> =
            images.iter().map(|i| fs::canonicalize(i).ok()).collect();
        let inputs: HashSet<&PathBuf> = canonical.iter().flatten().collect();
        // Outputs and images compared by where they are, not how they are spelt.
        let mut first_image_of: HashMap<PathBuf, (&Path, PathBuf)> = HashMap::new();
        for ((image, path), canonical) in images.iter().zip(&paths).zip(&canonical) {
            let same_file = canonical.clone().unwrap_or_else(|| normalised(image));
            match first_image_of.entry(normalised(path)) {
                Entry::Occupied(first) if first.get().1 != same_file => {
                    return Err(TrainError::config(format!(
                        "{} and {} would both be explained in {}: rename one, or explain them in separate runs",
                        first.get().0.display(),
                        image.display(),
                        path.display()
                    )))
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(slot) => {
                    slot.insert((image, same_file));
                }
            }
            if fs::canonicalize(path).is_ok_and(|p| inputs.contains(&p)) {
                return Err(TrainError::config(format!(
                    "{} is both an image to classify and where the picture of {} would go: leave it out of the images",
                    path.display(),
                    image.display()
                )));
            }
            check_output(path)?;
        }
        Ok(Self { paths })
    }
}

/// `path` whatever its spelling: its directory's canonical path (the directory as
/// given if it cannot be resolved) joined with its file name, so that `a/x.png`,
/// `./a/x.png` and `a/../a/x.png` are one path.
fn normalised(path: &Path) -> PathBuf {
    let Some(name) = path.file_name() else {
        return path.to_path_buf();
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::canonicalize(parent)
        .unwrap_or_else(|_| parent.to_path_buf())
        .join(name)
}

/// `path` can be written and is absent or marked as `--explain`'s.
fn check_output(path: &Path) -> Result<(), TrainError> {
    if path.exists() && !written_by_explain(path) {
        return Err(TrainError::config(format!(
            "{} already exists and was not written by predict --explain: move it away, or give --explain-dir DIR",
            path.display()
        )));
    }
    check_writable(path)
        .map_err(|e| TrainError::config(format!("{} cannot be written: {e}", path.display())))
}

/// Whether the file at `path` is a PNG carrying [`EXPLAIN_MARK`].
pub fn written_by_explain(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(reader) = png::Decoder::new(BufReader::new(file)).read_info() else {
        return false;
    };
    let (keyword, text) = EXPLAIN_MARK;
    reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .any(|chunk| chunk.keyword == keyword && chunk.text == text)
}

/// `picture` as PNG bytes carrying [`EXPLAIN_MARK`].
pub fn explain_png(picture: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, picture.width(), picture.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let (keyword, text) = EXPLAIN_MARK;
    encoder
        .add_text_chunk(keyword.to_owned(), text.to_owned())
        .expect("a Latin-1 keyword of 8 letters");
    let mut writer = encoder
        .write_header()
        .expect("writing to memory cannot fail");
    writer
        .write_image_data(picture.as_raw())
        .expect("the buffer holds width × height RGB pixels");
    writer.finish().expect("writing to memory cannot fail");
    bytes
}

/// Writes `picture` to `path` atomically as a marked PNG ([`explain_png`]).
///
/// # Errors
/// [`TrainError::Write`] naming the file.
pub fn write_explain_png(path: &Path, picture: &RgbImage) -> Result<(), TrainError> {
    write_atomically(path, &explain_png(picture)).map_err(|source| TrainError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_goes_beside_the_image_or_into_the_directory() {
        assert_eq!(
            explain_path(Path::new("a/digit.png"), None),
            Path::new("a/digit.explain.png")
        );
        assert_eq!(
            explain_path(Path::new("digit"), None),
            Path::new("digit.explain.png")
        );
        assert_eq!(
            explain_path(Path::new("a/digit.jpg"), Some(Path::new("out"))),
            Path::new("out/digit.explain.png")
        );
    }

    #[test]
    fn only_marked_pictures_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("d.png");
        let output = dir.path().join("d.explain.png");
        let images = [image.clone()];
        assert!(ExplainOutputs::check(&images, None).is_ok());
        write_explain_png(&output, &RgbImage::new(3, 2)).unwrap();
        assert!(written_by_explain(&output));
        let back = image::open(&output).unwrap();
        assert_eq!((back.width(), back.height()), (3, 2));
        assert!(ExplainOutputs::check(&images, None).is_ok());
        // The same picture without the mark is a user's file.
        RgbImage::new(3, 2).save(&output).unwrap();
        let err = ExplainOutputs::check(&images, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("d.explain.png already exists") && err.contains("--explain-dir"),
            "{err}"
        );
        // Two images with one output, and an output among the images.
        let two = [dir.path().join("x.png"), dir.path().join("x.jpg")];
        let err = ExplainOutputs::check(&two, None).unwrap_err().to_string();
        assert!(err.contains("x.png and ") && err.contains("x.jpg"), "{err}");
        // QA: `a/x.png ./a/x.jpg` wrote both pictures to one file (the first lost), and
        // `--explain-dir out a/x.png ./a/x.png` was refused: compared as spelt.
        fs::create_dir(dir.path().join("a")).unwrap();
        let spelt = |path: &str| dir.path().join(path);
        fs::write(spelt("a/x.png"), b"").unwrap();
        fs::write(spelt("a/x.jpg"), b"").unwrap();
        let err = ExplainOutputs::check(&[spelt("a/x.png"), spelt("a/./x.jpg")], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a/x.png and ") && err.contains("a/./x.jpg would both be explained"),
            "{err}"
        );
        let same = [spelt("a/x.png"), spelt("a/../a/x.png")];
        assert!(ExplainOutputs::check(&same, None).is_ok());
        assert!(ExplainOutputs::check(&same, Some(dir.path())).is_ok());
        let err = ExplainOutputs::check(&[image, output], Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is both an image"), "{err}");
        let err = ExplainOutputs::check(&two, Some(&dir.path().join("none")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such directory"), "{err}");
        let err = ExplainOutputs::check(&two, Some(&dir.path().join("d.explain.png")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a directory"), "{err}");
    }
}
