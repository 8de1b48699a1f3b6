//! Every class of an image folder keeps images: a class folder whose images were all
//! skipped as bad (`skip_bad_images`), or, without `test/`, all held out for testing, is
//! refused naming it, as a class folder without images is (it would be a class with
//! nothing to learn or to test). A class folder's name must be UTF-8 text without
//! control characters.

use std::ffi::OsStr;
use std::path::Path;

use crate::error::DataError;
use crate::folder::folder_error;

/// How a class lost its images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ClassLoss {
    /// Every one was skipped as a bad image.
    SkippedAsBad,
    /// Every one was held out for testing (there is no `test/` folder).
    HeldOut,
}

/// An error naming the first class folder `split/<class>` that has images among
/// `planned` (labels) but none among `kept`, saying why (`loss`) and what to do.
pub(crate) fn check_classes_kept(
    root: &Path,
    split: &str,
    class_names: &[String],
    planned: &[u8],
    kept: &[u8],
    loss: ClassLoss,
) -> Result<(), DataError> {
    let mut planned_count = [0usize; 256];
    let mut kept_count = [0usize; 256];
    planned.iter().for_each(|&l| planned_count[l as usize] += 1);
    kept.iter().for_each(|&l| kept_count[l as usize] += 1);
    let Some(label) = (0..256).find(|&l| planned_count[l] > 0 && kept_count[l] == 0) else {
        return Ok(());
    };
    let its = match planned_count[label] {
        1 => "its only image was".to_owned(),
        n => format!("its {n} images were"),
    };
    let class = class_names.get(label).map_or("?", String::as_str);
    let problem = match loss {
        ClassLoss::SkippedAsBad => format!(
            "{split}/{class} has no image that can be decoded ({its} skipped as \
             bad): replace them with images that decode, or remove the folder"
        ),
        ClassLoss::HeldOut => format!(
            "{split}/{class} has no image left to train on: there is no test/ folder and \
             {its} held out for testing; add images to it, add a test/ folder, or \
             choose another --val-fraction or --seed"
        ),
    };
    Err(folder_error(root, problem))
}

/// The name of the class folder `split/name` as text: an error naming the folder (its
/// bytes escaped) if it is not UTF-8 or holds a control character. A name is printed in
/// every message and prediction and saved in the checkpoint: two names that are not UTF-8
/// could print alike (`c\u{fffd}`), and a newline would split a prediction's line.
pub(crate) fn class_name_text(root: &Path, split: &str, name: &OsStr) -> Result<String, DataError> {
    match name.to_str() {
        Some(text) if !text.chars().any(char::is_control) => Ok(text.to_owned()),
        _ => Err(folder_error(
            root,
            format!(
                "the class folder {split}/{} has a name that is not UTF-8 text or holds a \
                 control character: rename it (a class's name is printed with each \
                 prediction and saved in the checkpoint)",
                name.as_encoded_bytes().escape_ascii()
            ),
        )),
    }
}
