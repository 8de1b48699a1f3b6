//! Preparing arbitrary images for the model, and reading its outputs.

use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};
use ndarray::array;
use scratchnet_cli::{digit_pixels, load_digit, load_image, normalized_batch, top_k};
use scratchnet_data::{DatasetKind, Normalization, TRUNCATED_JPEG};
use scratchnet_train::TrainError;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_dark_background_is_kept_and_a_light_one_inverted() {
    // White digit on black, already MNIST-like: unchanged apart from resizing.
    let dark = GrayImage::from_fn(56, 56, |x, y| {
        Luma([if (20..36).contains(&x) && y > 8 {
            255
        } else {
            0
        }])
    });
    let pixels = digit_pixels(&DynamicImage::ImageLuma8(dark));
    assert_eq!(pixels[0], 0);
    assert_eq!(pixels[14 * 28 + 14], 255);

    // The same in black on white (and in colour): inverted back.
    let light = RgbImage::from_fn(56, 56, |x, y| {
        if (20..36).contains(&x) && y > 8 {
            Rgb([0, 0, 0])
        } else {
            Rgb([250, 250, 250])
        }
    });
    let inverted = digit_pixels(&DynamicImage::ImageRgb8(light));
    assert_eq!(inverted[0], 5);
    assert_eq!(inverted[14 * 28 + 14], 255);
}

#[test]
fn any_size_and_aspect_becomes_28_by_28() {
    for (w, h) in [(1, 1), (28, 28), (1000, 10), (7, 300)] {
        let image = DynamicImage::ImageLuma8(GrayImage::from_pixel(w, h, Luma([200])));
        let pixels = digit_pixels(&image);
        assert_eq!(pixels.len(), 784, "{w}×{h}");
        // Uniformly light: the border mean is 200 > 127, so everything is inverted to 55.
        assert!(pixels.iter().all(|&p| p == 55), "{w}×{h}");
    }
}

#[test]
fn the_border_threshold_is_127() {
    let at = |v| {
        digit_pixels(&DynamicImage::ImageLuma8(GrayImage::from_pixel(
            28,
            28,
            Luma([v]),
        )))[0]
    };
    assert_eq!(at(127), 127); // mean 127 is not above 127: kept
    assert_eq!(at(128), 127); // 255 − 128
}

#[test]
fn only_the_border_decides_which_is_the_background() {
    // A frame one pixel wide around a square of the other shade, at 28×28: the interior
    // outweighs the frame, so only a mean taken over the border alone reads it right.
    let framed = |frame: u8, inside: u8| {
        let image = GrayImage::from_fn(28, 28, |x, y| {
            let on_border = x == 0 || y == 0 || x == 27 || y == 27;
            Luma([if on_border { frame } else { inside }])
        });
        digit_pixels(&DynamicImage::ImageLuma8(image))
    };
    // (corner, centre) of the result: a dark background, a light digit, either way.
    let corner_and_centre = |pixels: Vec<u8>| (pixels[0], pixels[14 * 28 + 14]);
    let (corner, centre) = corner_and_centre(framed(255, 0)); // light border: inverted
    assert!(corner < 10 && centre > 245, "{corner}, {centre}");
    let (corner, centre) = corner_and_centre(framed(0, 255)); // dark border: kept
    assert!(corner < 10 && centre > 245, "{corner}, {centre}");
}

#[test]
fn batches_are_normalised_like_training() {
    let batch = normalized_batch(&[0u8; 2 * 784], Normalization::MNIST);
    assert_eq!(batch.shape(), &[2, 1, 28, 28]);
    assert!((batch[[1, 0, 27, 27]] - (-0.1307 / 0.3081)).abs() < 1e-6);
    assert_eq!(batch[[0, 0, 0, 0]], Normalization::MNIST.apply(0));
}

#[test]
fn unreadable_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.png", None),
        ("text.png", Some(&b"just some text"[..])),
        ("truncated.png", Some(&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..])),
        ("image.gif", Some(&b"GIF89a\x01\0\x01\0\0\0\0;"[..])),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        if let Some(bytes) = content {
            std::fs::write(&path, bytes).unwrap();
        }
        let err = load_digit(&path).unwrap_err();
        assert!(matches!(err, TrainError::Image { .. }), "{name}: {err}");
        let message = err.to_string();
        assert!(
            message.starts_with("cannot read the image ") && message.contains(name),
            "{message}"
        );
    }
}

/// Both readers of `predict` (digits, and images as a checkpoint's run read them) on
/// `path`, each on its own thread so that one that never returns fails the test instead
/// of hanging it.
fn both_readers(path: &Path) -> [Result<usize, TrainError>; 2] {
    let read = |load: fn(PathBuf) -> Result<usize, TrainError>| {
        let (sender, receiver) = mpsc::channel();
        let owned = path.to_path_buf();
        std::thread::spawn(move || sender.send(load(owned)));
        receiver
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("reading {} never ended", path.display()))
    };
    [
        read(|path| load_digit(&path).map(|pixels| pixels.len())),
        read(|path| load_image(&path, [3, 8, 8]).map(|pixels| pixels.len())),
    ]
}

/// A JPEG cut short was classified (its missing part decoded as grey, exit 0), and a FIFO
/// given as an image hung `predict` for ever (opening it waits for a writer). Both are
/// errors naming the file; the complete JPEG still reads.
#[test]
fn a_jpeg_cut_short_and_a_fifo_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.jpg");
    RgbImage::from_fn(64, 48, |x, y| {
        Rgb([(x * 4) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
    })
    .save(&whole)
    .unwrap();
    let [digit, image] = both_readers(&whole);
    assert_eq!((digit.unwrap(), image.unwrap()), (784, 3 * 8 * 8));

    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let fifo = dir.path().join("fifo.png");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    for (path, reason) in [
        (&cut, TRUNCATED_JPEG),
        (&fifo, "it is a FIFO (named pipe), not a regular file"),
    ] {
        for result in both_readers(path) {
            let message = result.unwrap_err().to_string();
            assert_eq!(
                message,
                format!("cannot read the image {}: {reason}", path.display())
            );
        }
    }
}

#[test]
fn a_saved_png_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seven.png");
    GrayImage::from_fn(40, 40, |x, _| Luma([if x < 20 { 255 } else { 0 }]))
        .save(&path)
        .unwrap();
    assert_eq!(load_digit(&path).unwrap().len(), 784);
}

#[test]
fn top_three_probabilities_are_sorted_and_named() {
    let top = top_k(&array![[1.0f32, 3.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]], 3);
    assert_eq!(top[0].iter().map(|t| t.0).collect::<Vec<_>>(), [1, 2, 0]);
    assert!(top[0][0].1 > top[0][1].1 && top[0][1].1 > top[0][2].1);
    // Ties keep the lower class first.
    assert_eq!(top[1].iter().map(|t| t.0).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(top[1][0].1, 0.25);
    assert_eq!(DatasetKind::Mnist.class_names()[7], "7");
    assert_eq!(DatasetKind::FashionMnist.class_names()[9], "Ankle boot");
}
