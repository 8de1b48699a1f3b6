//! The shape of an image folder's images when `--image-size` or `--channels` is not given:
//! the size of the first training image and whether any image is in colour, counting only
//! images that decode. A header is read for every file (in parallel); a file whose header
//! would decide the size or the colour is decoded first, so that a file cut short (its
//! header fine) or otherwise undecodable, skipped with `skip_bad_images`, decides nothing.

use std::path::{Path, PathBuf};

use image::ImageDecoder;
use rayon::prelude::*;

use crate::error::DataError;
use crate::folder::{folder_error, limits};
use crate::image_file::{decode_image_file, open_image_file};
use crate::FolderOptions;

/// `([height, width], is_colour)` of one image.
type Header = ([usize; 2], bool);

/// The size of the first of `paths` that decodes, and whether any that decodes is in
/// colour. A file whose header cannot be read, or that does not decode when it would
/// decide either, is an error, or with `skip_bad_images`, noted in `undecodable`.
pub(crate) fn shape_from_images(
    root: &Path,
    paths: &[&PathBuf],
    options: &FolderOptions,
    undecodable: &mut Vec<(PathBuf, String)>,
) -> Result<([usize; 2], bool), DataError> {
    let headers: Vec<Result<Header, String>> = paths.par_iter().map(|p| read_header(p)).collect();
    let mut first = None;
    let mut colour = false;
    for (path, header) in paths.iter().zip(headers) {
        let checked = header.and_then(|(size, is_colour)| {
            let decides_size = options.image_size.is_none() && first.is_none();
            let decides_colour = options.channels.is_none() && is_colour && !colour;
            if decides_size || decides_colour {
                decoded_header(path)
            } else {
                Ok((size, is_colour))
            }
        });
        match checked {
            Ok((size, is_colour)) => {
                first.get_or_insert(size);
                colour |= is_colour;
            }
            Err(reason) if options.skip_bad_images => undecodable.push(((*path).clone(), reason)),
            Err(reason) => {
                return Err(DataError::BadImage {
                    path: (*path).clone(),
                    reason,
                })
            }
        }
    }
    first
        .map(|first| (first, colour))
        .ok_or_else(|| folder_error(root, "none of its images can be decoded".into()))
}

/// The size and colour from the file's header. (Only the header is read: a JPEG cut
/// short is found when it is decoded.)
fn read_header(path: &Path) -> Result<Header, String> {
    let decoder = open_image_file(path, limits())?
        .into_decoder()
        .map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions();
    let colour = decoder.color_type().has_color();
    Ok(([height as usize, width as usize], colour))
}

/// The size and colour of the decoded image (refusing a JPEG cut short).
fn decoded_header(path: &Path) -> Result<Header, String> {
    let image = decode_image_file(path, limits())?;
    let size = [image.height() as usize, image.width() as usize];
    Ok((size, image.color().has_color()))
}
