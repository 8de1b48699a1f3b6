//! Image folders in torchvision's `ImageFolder` layout: `ROOT/train/<class>/…` and
//! `ROOT/test/<class>/…` holding PNG or JPEG files, decoded in parallel into `u8` splits
//! of one shape.
//!
//! What is read, and how:
//!
//! - **Classes** are the sub-folders of `train/`, sorted byte-wise by name (as Python's
//!   `sorted`, which torchvision uses); label `i` is the `i`-th. `test/` may lack a class
//!   but not add one. At most [`MAX_CLASSES`] classes. A class folder (of `train/` or
//!   `test/`) without images is an error, as in torchvision, and so is one left without
//!   images: all skipped as bad, or (without `test/`) all held out. A class folder whose
//!   name is not UTF-8 or holds a control character is an error (names are printed).
//! - **Files** are found in each class folder and its sub-folders (depth-first, each
//!   folder's entries sorted byte-wise), following symbolic links (a link loop is visited
//!   once). Names starting with `.` (hidden files and folders) are skipped, and so are
//!   files whose extension is not `.png`, `.jpg` or `.jpeg` (any case) and broken links:
//!   the plan counts each.
//! - **Without `test/`**, a seeded [`val_fraction`](FolderOptions::val_fraction) of the
//!   training files (shuffled by `seed`) is held out as the test split, before anything
//!   is decoded (so the memory stated is all there is).
//! - **Channels**: 1 (grey, ITU-R BT.709 luma as the `image` crate computes it) or 3 (RGB;
//!   alpha is dropped); by default 3 if any image is in colour, else 1.
//! - **Size**: every image is resized to [`image_size`](FolderOptions::image_size), by
//!   default the size of the first training image, with the `image` crate's `Triangle`
//!   filter (bilinear); images of that size are kept as they are. Only images that
//!   decode decide the channels and the size (a skipped bad file decides neither).
//! - **Memory**: the images are kept as `u8`, `N × C × H × W` bytes, stated by
//!   [`FolderPlan::memory_bytes`] before anything is decoded, and refused past
//!   [`max_memory`](FolderOptions::max_memory).
//! - **Bad files**: a file that cannot be decoded (a JPEG cut short included) is an error
//!   naming it, or, with [`skip_bad_images`](FolderOptions::skip_bad_images), skipped and
//!   counted: [`FolderLoad::describe`] says what was used and what was skipped.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, Limits};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::seq::SliceRandom;
use ndarray_rand::rand::SeedableRng;
use rayon::prelude::*;

use crate::error::DataError;
use crate::folder_classes::{check_classes_kept, class_name_text, ClassLoss};
use crate::folder_shape::shape_from_images;
use crate::image_file::decode_image_file;
use crate::kind::Normalization;
use crate::split::{ImageDataset, Split, MAX_CLASSES};

/// The most pixels along a side of an image in a folder; larger images are bad files.
pub const MAX_FOLDER_IMAGE_SIDE: u32 = 16_384;
/// The most memory, in bytes, decoding one image of a folder may allocate (1 GiB); a
/// header claiming more makes it a bad file, not an allocation.
pub const MAX_FOLDER_IMAGE_ALLOC: u64 = 1 << 30;
/// How deep sub-folders of a class folder are searched.
const MAX_DEPTH: usize = 16;
/// The extensions read (compared without case).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// How to read an image folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderOptions {
    /// 1 (grey) or 3 (RGB); `None`: 3 if any image is in colour, else 1.
    pub channels: Option<usize>,
    /// `[height, width]` every image is resized to; `None`: the first training image's.
    pub image_size: Option<[usize; 2]>,
    /// Fraction of the training images held out as the test split when there is no
    /// `test/` folder (default 0.1).
    pub val_fraction: f64,
    /// Seed of that hold-out's shuffle (default 0).
    pub seed: u64,
    /// Most bytes the decoded images may take (default 4 GiB).
    pub max_memory: u64,
    /// Skip (and count) files that cannot be decoded, instead of failing (default false).
    pub skip_bad_images: bool,
    /// Draw a progress bar on standard error while decoding (default true).
    pub show_progress: bool,
}

impl Default for FolderOptions {
    fn default() -> Self {
        FolderOptions {
            channels: None,
            image_size: None,
            val_fraction: 0.1,
            seed: 0,
            max_memory: 4 << 30,
            skip_bad_images: false,
            show_progress: true,
        }
    }
}

/// What [`plan_image_folder`] found, before any image is decoded: the classes, the files,
/// the shape every image will have and the memory they will take.
#[derive(Debug, Clone)]
pub struct FolderPlan {
    root: PathBuf,
    class_names: Vec<String>,
    train: Vec<(PathBuf, u8)>,
    test: Vec<(PathBuf, u8)>,
    /// Whether `test` was held out of `train/` (there is no `test/`).
    held_out: bool,
    shape: [usize; 3],
    skipped_files: ListingSkips,
    undecodable: Vec<(PathBuf, String)>,
    options: FolderOptions,
}

/// What listing a folder skipped (hidden entries aside), by why.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ListingSkips {
    /// Files whose extension is not `.png`, `.jpg` or `.jpeg`.
    not_images: usize,
    /// Links that lead nowhere (or to what cannot be read).
    broken_links: usize,
}

/// The result of [`FolderPlan::load`]: the dataset and the files skipped as undecodable.
#[derive(Debug, Clone)]
pub struct FolderLoad {
    /// The dataset: `train` and `test` (from `test/`, or held out), per-channel
    /// normalisation computed from the training split and used for both.
    pub dataset: ImageDataset,
    /// Files that could not be decoded, with why (only with `skip_bad_images`).
    pub skipped: Vec<(PathBuf, String)>,
}

impl FolderLoad {
    /// One line saying how many images are used, and how many were skipped as
    /// undecodable, with the first and why: `used 45 training and 5 test images; skipped 4
    /// that could not be decoded (the first: f/train/a/x.png: …)`.
    pub fn describe(&self) -> String {
        let used = format!(
            "used {} training and {} test images",
            self.dataset.train.len(),
            self.dataset.test.len()
        );
        match self.skipped.first() {
            None => used,
            Some((path, reason)) => format!(
                "{used}; skipped {} that could not be decoded (the first: {}: {reason})",
                self.skipped.len(),
                path.display()
            ),
        }
    }
}

impl FolderPlan {
    /// The class names, by label.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The shape `[C, H, W]` every image will have.
    pub fn sample_shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Images of the training and the test split, to be decoded ([`FolderLoad::describe`]
    /// says how many are used once decoded).
    pub fn counts(&self) -> (usize, usize) {
        (self.train.len(), self.test.len())
    }

    /// Whether the test split was held out of `train/` (there is no `test/` folder).
    pub fn held_out(&self) -> bool {
        self.held_out
    }

    /// Files skipped because they are not `.png`, `.jpg` or `.jpeg`.
    pub fn skipped_files(&self) -> usize {
        self.skipped_files.not_images
    }

    /// Links skipped because they lead nowhere (or to what cannot be read).
    pub fn broken_links(&self) -> usize {
        self.skipped_files.broken_links
    }

    /// Bytes the decoded images will take: `N × C × H × W`.
    pub fn memory_bytes(&self) -> u64 {
        let n = self.train.len() + self.test.len();
        n as u64 * self.shape.iter().product::<usize>() as u64
    }

    /// One line saying what will be loaded and the memory it takes, and the files skipped
    /// while listing: not `.png`/`.jpg`/`.jpeg`, broken links. (Images that turn out not to
    /// decode are counted here; [`FolderLoad::describe`] says what was used.)
    pub fn describe(&self) -> String {
        let [c, h, w] = self.shape;
        let (train, test) = self.counts();
        let test = if self.held_out {
            format!(
                "{test} test: no test/ folder, {:.0}% held out",
                100.0 * self.options.val_fraction
            )
        } else {
            format!("{test} test")
        };
        let skipped = match self.skipped_files.not_images {
            0 => String::new(),
            1 => "; 1 file that is not .png/.jpg/.jpeg skipped".to_owned(),
            n => format!("; {n} files that are not .png/.jpg/.jpeg skipped"),
        } + &match self.skipped_files.broken_links {
            0 => String::new(),
            1 => "; 1 broken link skipped".to_owned(),
            n => format!("; {n} broken links skipped"),
        };
        format!(
            "image folder {}: {} classes, {train} training images ({test}) as {c}×{h}×{w} u8, \
             {} in memory{skipped}",
            self.root.display(),
            self.class_names.len(),
            human_bytes(self.memory_bytes())
        )
    }

    /// Decodes every image in parallel (with a progress bar if asked), converts and resizes
    /// it, and returns the dataset.
    ///
    /// # Errors
    /// [`DataError::BadImage`] for the first file (in the folder's order) that cannot be
    /// decoded, unless `skip_bad_images`; [`DataError::Folder`] when skipping leaves a
    /// split empty.
    pub fn load(self) -> Result<FolderLoad, DataError> {
        let progress = progress_bar(
            self.options.show_progress,
            (self.train.len() + self.test.len()) as u64,
        );
        let mut skipped = self.undecodable.clone();
        let ((train_images, train_labels), mut bad) =
            decode_all(&self.train, self.shape, &progress);
        let ((test_images, test_labels), bad_test) = decode_all(&self.test, self.shape, &progress);
        progress.finish_and_clear();
        bad.extend(bad_test);
        if let Some((path, reason)) = bad.first().filter(|_| !self.options.skip_bad_images) {
            return Err(DataError::BadImage {
                path: path.clone(),
                reason: reason.clone(),
            });
        }
        skipped.extend(bad);
        let train = self.split(train_images, train_labels);
        let test = self.split(test_images, test_labels);
        for (split, name) in [(&train, "train"), (&test, "test")] {
            if split.is_empty() {
                return Err(self.folder_error(format!(
                    "none of the images of its {name} split could be decoded (all were \
                     skipped as bad images): replace them with images that decode"
                )));
            }
        }
        let planned_train = labels_of(&self.train);
        check_classes_kept(
            &self.root,
            "train",
            &self.class_names,
            &planned_train,
            train.labels(),
            ClassLoss::SkippedAsBad,
        )?;
        if !self.held_out {
            let planned_test = labels_of(&self.test);
            check_classes_kept(
                &self.root,
                "test",
                &self.class_names,
                &planned_test,
                test.labels(),
                ClassLoss::SkippedAsBad,
            )?;
        }
        let normalization = train.channel_statistics();
        Ok(FolderLoad {
            dataset: ImageDataset {
                name: format!("image folder {}", self.root.display()),
                train: train.with_channel_normalization(normalization.clone()),
                test: test.with_channel_normalization(normalization),
            },
            skipped,
        })
    }

    fn split(&self, images: Vec<u8>, labels: Vec<u8>) -> Split {
        Split::with_shape(
            images,
            labels,
            self.shape,
            self.class_names.clone(),
            vec![Normalization::UNIT; self.shape[0]],
        )
    }

    fn folder_error(&self, problem: String) -> DataError {
        DataError::Folder {
            path: self.root.clone(),
            problem,
        }
    }
}

/// Lists the image folder at `root` and reads each image's header (in parallel): the
/// classes, the files, the shape all images will have and the memory they will take —
/// without decoding any image. [`FolderPlan::load`] then decodes them.
///
/// # Errors
/// [`DataError::Folder`] for a root that is not a folder, no `train/` folder, no class,
/// more than [`MAX_CLASSES`] classes, a class folder whose name is not UTF-8 or holds a
/// control character, a class folder without images (in `train/` or `test/`, or left
/// without them by skipped bad images or the hold-out), a `test/` without class folders or with a class that `train/` lacks, options
/// out of range, or a memory need past `max_memory`; [`DataError::BadImage`] for
/// the first training image whose header cannot be read when the size or the channels come
/// from the images (unless `skip_bad_images`).
pub fn plan_image_folder(root: &Path, options: &FolderOptions) -> Result<FolderPlan, DataError> {
    let error = |problem: String| folder_error(root, problem);
    check_options(options).map_err(error)?;
    let classes = train_classes(root)?;
    let class_names = classes
        .iter()
        .map(|name| class_name_text(root, "train", name))
        .collect::<Result<Vec<String>, DataError>>()?;
    let mut skipped_files = ListingSkips::default();
    let mut train = Vec::new();
    for (label, name) in classes.iter().enumerate() {
        train.extend(class_images(
            root,
            "train",
            name,
            label,
            &mut skipped_files,
        )?);
    }
    let test = test_images(root, &classes, &mut skipped_files)?;
    let held_out = test.is_none();

    let mut undecodable = Vec::new();
    let (size, channels) = match (options.image_size, options.channels) {
        (Some(size), Some(channels)) => (size, channels),
        (size, channels) => {
            let all: Vec<&PathBuf> = train
                .iter()
                .chain(test.iter().flatten())
                .map(|(p, _)| p)
                .collect();
            let (first, colour) = shape_from_images(root, &all, options, &mut undecodable)?;
            (
                size.unwrap_or(first),
                channels.unwrap_or(if colour { 3 } else { 1 }),
            )
        }
    };
    let (train, test) = final_file_lists(root, &class_names, train, test, &undecodable, options)?;
    let plan = FolderPlan {
        root: root.to_path_buf(),
        class_names,
        train,
        test,
        held_out,
        shape: [channels, size[0], size[1]],
        skipped_files,
        undecodable,
        options: options.clone(),
    };
    if plan.memory_bytes() > options.max_memory {
        return Err(error(format!(
            "its {} images take {} as {}×{}×{} u8, more than --max-memory {}: choose a \
             smaller --image-size or --channels 1, or raise --max-memory",
            plan.train.len() + plan.test.len(),
            human_bytes(plan.memory_bytes()),
            channels,
            size[0],
            size[1],
            human_bytes(options.max_memory)
        )));
    }
    Ok(plan)
}

/// A [`DataError::Folder`] about the folder `root`.
pub(crate) fn folder_error(root: &Path, problem: String) -> DataError {
    DataError::Folder {
        path: root.to_path_buf(),
        problem,
    }
}

/// The problem with `options`, if any: channels other than 1 or 3, an image side of 0 or
/// over [`MAX_FOLDER_IMAGE_SIDE`], a validation fraction outside [0, 1).
fn check_options(options: &FolderOptions) -> Result<(), String> {
    if let Some(c) = options.channels.filter(|c| *c != 1 && *c != 3) {
        return Err(format!("{c} channels asked: use 1 (grey) or 3 (RGB)"));
    }
    if let Some(size) = options
        .image_size
        .filter(|s| s.contains(&0) || s.iter().any(|&d| d > MAX_FOLDER_IMAGE_SIDE as usize))
    {
        return Err(format!(
            "image size {}x{} asked: each side must be 1 to {MAX_FOLDER_IMAGE_SIDE}",
            size[0], size[1]
        ));
    }
    if !(0.0..1.0).contains(&options.val_fraction) {
        return Err(format!(
            "--val-fraction {} is not in [0, 1)",
            options.val_fraction
        ));
    }
    Ok(())
}

/// The class folders of `root/train`, sorted: an error if `root` or `train/` is not a
/// folder, or if there are none or more than [`MAX_CLASSES`].
fn train_classes(root: &Path) -> Result<Vec<OsString>, DataError> {
    let error = |problem: String| folder_error(root, problem);
    if !root.is_dir() {
        return Err(error(
            "it is not a folder: give --data-dir the folder that holds train/ (and test/)".into(),
        ));
    }
    let train_dir = root.join("train");
    if !train_dir.is_dir() {
        return Err(error(
            "it has no train folder: lay the images out as ROOT/train/<class>/*.png (or \
             .jpg), and optionally ROOT/test/<class>/*"
                .into(),
        ));
    }
    let classes = class_dirs(&train_dir).map_err(|e| error(format!("cannot list train/: {e}")))?;
    if classes.is_empty() {
        return Err(error(
            "train/ has no class folder: put each class's images in train/<class>/".into(),
        ));
    }
    if classes.len() > MAX_CLASSES {
        return Err(error(format!(
            "train/ has {} class folders, more than the {MAX_CLASSES} this loader handles",
            classes.len()
        )));
    }
    Ok(classes)
}

/// The images of the class folder `root/split/class`, each with `label`; other files are
/// counted in `skipped_files`. A class folder without images is an error (as in
/// torchvision's `ImageFolder`): otherwise it would become a class with nothing to learn
/// or test.
fn class_images(
    root: &Path,
    split: &str,
    class: &OsString,
    label: usize,
    skipped_files: &mut ListingSkips,
) -> Result<Vec<(PathBuf, u8)>, DataError> {
    let dir = root.join(split).join(class);
    let paths = image_files(&dir, skipped_files)
        .map_err(|e| folder_error(root, format!("cannot list {}: {e}", dir.display())))?;
    if paths.is_empty() {
        return Err(folder_error(
            root,
            format!(
                "{split}/{} holds no .png, .jpg or .jpeg file: add some or remove the folder",
                class.to_string_lossy()
            ),
        ));
    }
    Ok(paths.into_iter().map(|path| (path, label as u8)).collect())
}

/// The images of `root/test`, labelled by the training classes `classes`; `None` if
/// there is no test folder. A test folder without class folders, a test class without
/// training images, and an empty test class folder are errors.
fn test_images(
    root: &Path,
    classes: &[OsString],
    skipped_files: &mut ListingSkips,
) -> Result<Option<Vec<(PathBuf, u8)>>, DataError> {
    let test_dir = root.join("test");
    if !test_dir.is_dir() {
        return Ok(None);
    }
    let error = |problem: String| folder_error(root, problem);
    let names = class_dirs(&test_dir).map_err(|e| error(format!("cannot list test/: {e}")))?;
    if names.is_empty() {
        return Err(error(
            "test/ has no class folder: put each class's test images in test/<class>/, or \
             remove test/ to hold out --val-fraction of train/ instead"
                .into(),
        ));
    }
    let mut test = Vec::new();
    for name in names {
        class_name_text(root, "test", &name)?;
        let Some(label) = classes.iter().position(|c| *c == name) else {
            return Err(error(format!(
                "test/{} is not a class of train/: every test class needs training images",
                name.to_string_lossy()
            )));
        };
        test.extend(class_images(root, "test", &name, label, skipped_files)?);
    }
    Ok(Some(test))
}

/// Image files, each with its label.
type Files = Vec<(PathBuf, u8)>;

/// The training and test files once those found `undecodable` are dropped and, without
/// `test/` (`test` is `None`), the test files held out of `train`: an error naming a
/// class folder left without images either way.
fn final_file_lists(
    root: &Path,
    class_names: &[String],
    mut train: Files,
    test: Option<Files>,
    undecodable: &[(PathBuf, String)],
    options: &FolderOptions,
) -> Result<(Files, Files), DataError> {
    let bad: HashSet<&PathBuf> = undecodable.iter().map(|(p, _)| p).collect();
    let drop_bad = |split: &str, files: &mut Vec<(PathBuf, u8)>| {
        let planned = labels_of(files);
        files.retain(|(p, _)| !bad.contains(p));
        let kept = labels_of(files);
        check_classes_kept(
            root,
            split,
            class_names,
            &planned,
            &kept,
            ClassLoss::SkippedAsBad,
        )
    };
    drop_bad("train", &mut train)?;
    let test = match test {
        Some(mut test) => {
            drop_bad("test", &mut test)?;
            test
        }
        None => {
            let planned = labels_of(&train);
            let test = hold_out(root, &mut train, options)?;
            let kept = labels_of(&train);
            check_classes_kept(
                root,
                "train",
                class_names,
                &planned,
                &kept,
                ClassLoss::HeldOut,
            )?;
            test
        }
    };
    Ok((train, test))
}

fn labels_of(files: &[(PathBuf, u8)]) -> Vec<u8> {
    files.iter().map(|(_, label)| *label).collect()
}

/// How many of `n` training images a `fraction` holds out; an error unless that leaves
/// some for training and some for testing.
fn held_out_count(root: &Path, n: usize, fraction: f64) -> Result<usize, DataError> {
    let n_test = ((n as f64) * fraction).round() as usize;
    if n_test == 0 || n_test >= n {
        return Err(DataError::Folder {
            path: root.to_path_buf(),
            problem: format!(
                "it has no test folder, and --val-fraction {fraction} of its {n} training \
                 images leaves {n_test} for testing and {} for training; add a test/ folder \
                 or choose a fraction that leaves some of each",
                n - n_test.min(n)
            ),
        });
    }
    Ok(n_test)
}

/// Moves a seeded `val_fraction` of `train` (shuffled by `seed`) into the returned test
/// list; both keep the folder's order.
fn hold_out(
    root: &Path,
    train: &mut Vec<(PathBuf, u8)>,
    options: &FolderOptions,
) -> Result<Vec<(PathBuf, u8)>, DataError> {
    let n = train.len();
    let n_test = held_out_count(root, n, options.val_fraction)?;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(options.seed));
    let mut is_test = vec![false; n];
    for &i in &order[n - n_test..] {
        is_test[i] = true;
    }
    let (test, kept): (Vec<_>, Vec<_>) = std::mem::take(train)
        .into_iter()
        .zip(is_test)
        .partition(|(_, t)| *t);
    *train = kept.into_iter().map(|(file, _)| file).collect();
    Ok(test.into_iter().map(|(file, _)| file).collect())
}

/// [`plan_image_folder`] then [`FolderPlan::load`].
pub fn load_image_folder(root: &Path, options: &FolderOptions) -> Result<FolderLoad, DataError> {
    plan_image_folder(root, options)?.load()
}

/// The names of the non-hidden sub-folders of `dir` (links followed), sorted byte-wise.
fn class_dirs(dir: &Path) -> std::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        if fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            names.push(name);
        }
    }
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    Ok(names)
}

/// The image files under `dir`, depth-first, each folder's entries sorted byte-wise,
/// links followed (each real folder visited once), hidden entries skipped; counts the
/// files skipped for their extension, and the broken links, in `skipped`.
///
/// # Errors
/// The I/O error of listing a folder; [`std::io::ErrorKind::InvalidInput`] for a link to
/// `dir` itself or a folder above it (`train/cat/all -> ..` would label every class's
/// images `cat`).
fn image_files(dir: &Path, skipped: &mut ListingSkips) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    let top = fs::canonicalize(dir)?;
    walk(dir, &top, 0, &mut visited, &mut files, skipped)?;
    Ok(files)
}

fn walk(
    dir: &Path,
    top: &Path,
    depth: usize,
    visited: &mut HashSet<PathBuf>,
    files: &mut Vec<PathBuf>,
    skipped: &mut ListingSkips,
) -> std::io::Result<()> {
    let real = fs::canonicalize(dir)?;
    if depth > 0 && top.starts_with(&real) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} leads back to {}, which holds it: remove that link",
                dir.display(),
                real.display()
            ),
        ));
    }
    if depth > MAX_DEPTH || !visited.insert(real) {
        return Ok(());
    }
    let mut entries: Vec<(Vec<u8>, PathBuf)> = fs::read_dir(dir)?
        .map(|e| e.map(|e| (e.file_name().as_encoded_bytes().to_vec(), e.path())))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for (name, path) in entries {
        if name.starts_with(b".") {
            continue;
        }
        let Ok(metadata) = fs::metadata(&path) else {
            skipped.broken_links += 1; // a link to nothing
            continue;
        };
        if metadata.is_dir() {
            walk(&path, top, depth + 1, visited, files, skipped)?;
        } else if metadata.is_file() && has_image_extension(&path) {
            files.push(path);
        } else {
            skipped.not_images += 1;
        }
    }
    Ok(())
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

pub(crate) fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_FOLDER_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_FOLDER_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_FOLDER_IMAGE_ALLOC);
    limits
}

/// Decodes (refusing a JPEG cut short), converts and resizes one image into `out`
/// (`C × H × W` bytes, planar).
fn decode_into(path: &Path, shape: [usize; 3], out: &mut [u8]) -> Result<(), String> {
    let image = decode_image_file(path, limits())?;
    let [channels, height, width] = shape;
    let (h, w) = (height as u32, width as u32);
    let resize = |image: DynamicImage| {
        if image.width() == w && image.height() == h {
            image
        } else {
            image.resize_exact(w, h, FilterType::Triangle)
        }
    };
    if channels == 1 {
        let grey = resize(image).to_luma8();
        out.copy_from_slice(grey.as_raw());
    } else {
        let rgb = resize(image).to_rgb8();
        let plane = height * width;
        for (i, pixel) in rgb.as_raw().chunks_exact(3).enumerate() {
            out[i] = pixel[0];
            out[plane + i] = pixel[1];
            out[2 * plane + i] = pixel[2];
        }
    }
    Ok(())
}

type Decoded = ((Vec<u8>, Vec<u8>), Vec<(PathBuf, String)>);

/// Decodes `files` in parallel: `(images, labels)` of those that decoded, and the others
/// with why, in the files' order.
fn decode_all(files: &[(PathBuf, u8)], shape: [usize; 3], progress: &ProgressBar) -> Decoded {
    let len: usize = shape.iter().product();
    let mut images = vec![0u8; files.len() * len];
    let results: Vec<Result<(), String>> = images
        .par_chunks_mut(len)
        .zip(files.par_iter())
        .map(|(out, (path, _))| {
            let result = decode_into(path, shape, out);
            progress.inc(1);
            result
        })
        .collect();
    let mut bad = Vec::new();
    let mut labels = Vec::with_capacity(files.len());
    let mut kept = 0;
    for (i, ((path, label), result)) in files.iter().zip(results).enumerate() {
        match result {
            Ok(()) => {
                if kept != i {
                    images.copy_within(i * len..(i + 1) * len, kept * len);
                }
                labels.push(*label);
                kept += 1;
            }
            Err(reason) => bad.push((path.clone(), reason)),
        }
    }
    images.truncate(kept * len);
    ((images, labels), bad)
}

fn progress_bar(show: bool, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let style =
        ProgressStyle::with_template("decoding images [{bar:30}] {pos}/{len} {per_sec} {eta}")
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(style)
}

/// `bytes` as `1.5 GiB`, `12.0 MiB`, `800 B`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_said_in_binary_units() {
        assert_eq!(human_bytes(800), "800 B");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(human_bytes(4 << 30), "4.0 GiB");
    }

    #[test]
    fn only_png_and_jpeg_extensions_count_in_any_case() {
        for name in ["a.png", "b.JPG", "c.jpeg", "d.JpEg"] {
            assert!(has_image_extension(Path::new(name)), "{name}");
        }
        for name in ["a.gif", "b", "c.png.txt", "d.bmp"] {
            assert!(!has_image_extension(Path::new(name)), "{name}");
        }
    }
}
