//! Image folders made by the tests: torchvision's class order, hidden and non-image files
//! skipped, links followed, grey/colour, resizing, the held-out test split, undecodable
//! files (JPEGs cut short among them), class folders without images and the memory bound.

use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage};
use scratchnet_data::{
    load_image_folder, plan_image_folder, DataError, FolderOptions, TRUNCATED_JPEG,
};

fn quiet() -> FolderOptions {
    FolderOptions {
        show_progress: false,
        ..FolderOptions::default()
    }
}

/// A `w`×`h` grey PNG, every pixel `value`.
fn grey(path: &Path, w: u32, h: u32, value: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    GrayImage::from_pixel(w, h, Luma([value]))
        .save(path)
        .unwrap();
}

/// The layout of the first test: classes `b`, `a`, `B` (byte order `B`, `a`, `b`).
fn layout(root: &Path) {
    grey(&root.join("train/b/1.png"), 4, 3, 10);
    grey(&root.join("train/b/2.PNG"), 4, 3, 20);
    grey(&root.join("train/a/x.png"), 4, 3, 30);
    grey(&root.join("train/a/deeper/y.png"), 8, 6, 40); // resized to 4×3
    grey(&root.join("train/B/z.png"), 4, 3, 50);
    grey(&root.join("train/B/.hidden.png"), 4, 3, 60);
    grey(&root.join("train/.cache/w.png"), 4, 3, 70);
    std::fs::write(root.join("train/a/notes.txt"), "not an image").unwrap();
    grey(&root.join("elsewhere/linked.png"), 4, 3, 80);
    std::os::unix::fs::symlink(
        root.join("elsewhere/linked.png"),
        root.join("train/b/3.png"),
    )
    .unwrap();
    grey(&root.join("test/a/t.png"), 4, 3, 90);
}

#[test]
fn classes_sort_byte_wise_and_hidden_and_other_files_are_skipped() {
    let root = tempfile::tempdir().unwrap();
    layout(root.path());

    let plan = plan_image_folder(root.path(), &quiet()).unwrap();
    assert_eq!(plan.class_names(), ["B", "a", "b"]);
    assert_eq!(plan.counts(), (6, 1));
    assert!(!plan.held_out());
    assert_eq!(plan.skipped_files(), 1); // notes.txt
    assert_eq!(plan.sample_shape(), [1, 3, 4]); // the first image's: train/B/z.png
    assert_eq!(plan.memory_bytes(), 7 * 12);
    let line = plan.describe();
    assert!(
        line.contains("3 classes, 6 training images (1 test) as 1×3×4 u8"),
        "{line}"
    );

    let data = plan.load().unwrap().dataset;
    // B/z, a/deeper/y (resized), a/x, b/1, b/2.PNG, b/3 (the link): folders depth-first,
    // entries byte-wise ("deeper" < "x.png").
    assert_eq!(data.train.labels(), &[0, 1, 1, 2, 2, 2]);
    let first_pixels: Vec<u8> = (0..6).map(|i| data.train.image(i)[0]).collect();
    assert_eq!(first_pixels, [50, 40, 30, 10, 20, 80]);
    assert_eq!(data.test.labels(), &[1]);
    assert_eq!(data.test.image(0), &[90; 12]);
    // Normalisation from the training pixels, shared by the test split.
    let n = data.train.channel_normalization()[0];
    assert!((n.mean - (230.0 / 6.0 / 255.0)).abs() < 1e-6, "{n:?}");
    assert_eq!(
        data.test.channel_normalization(),
        data.train.channel_normalization()
    );
}

#[test]
fn one_colour_image_makes_all_rgb_and_planes_are_channel_first() {
    let root = tempfile::tempdir().unwrap();
    grey(&root.path().join("train/g/1.png"), 2, 2, 100);
    let red = root.path().join("train/r/1.png");
    std::fs::create_dir_all(red.parent().unwrap()).unwrap();
    RgbImage::from_pixel(2, 2, Rgb([255, 0, 7]))
        .save(&red)
        .unwrap();
    grey(&root.path().join("test/g/1.png"), 2, 2, 50);
    let options = quiet();
    let plan = plan_image_folder(root.path(), &options).unwrap();
    assert_eq!(plan.sample_shape(), [3, 2, 2]);
    let data = plan.load().unwrap().dataset;
    assert_eq!(data.train.labels(), [0, 1]);
    assert_eq!(data.train.image(0), [100; 12]);
    assert_eq!(
        data.train.image(1),
        [255, 255, 255, 255, 0, 0, 0, 0, 7, 7, 7, 7]
    );

    // --channels 1 makes the red image grey; --image-size resizes everything.
    let options = FolderOptions {
        channels: Some(1),
        image_size: Some([3, 5]),
        ..options
    };
    let data = load_image_folder(root.path(), &options).unwrap().dataset;
    assert_eq!(data.train.sample_shape(), [1, 3, 5]);
}

#[test]
fn without_test_a_seeded_fraction_is_held_out() {
    let root = tempfile::tempdir().unwrap();
    for i in 0..20u8 {
        grey(
            &root.path().join(format!("train/c{}/{i:02}.png", i % 2)),
            2,
            2,
            i,
        );
    }
    let options = |seed| FolderOptions {
        val_fraction: 0.25,
        seed,
        ..quiet()
    };
    let held = |seed| {
        let data = load_image_folder(root.path(), &options(seed))
            .unwrap()
            .dataset;
        assert_eq!((data.train.len(), data.test.len()), (15, 5));
        let mut pixels: Vec<u8> = (0..5).map(|i| data.test.image(i)[0]).collect();
        pixels.sort_unstable();
        pixels
    };
    assert_eq!(held(1), held(1));
    assert_ne!(held(1), held(2));
    let line = plan_image_folder(root.path(), &options(1))
        .unwrap()
        .describe();
    assert!(
        line.contains("15 training images (5 test: no test/ folder, 25% held out)"),
        "{line}"
    );
}

#[test]
fn an_undecodable_file_is_named_or_skipped_and_counted() {
    let root = tempfile::tempdir().unwrap();
    layout(root.path());
    let bad = root.path().join("train/a/broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\n then nothing").unwrap();

    let error = load_image_folder(root.path(), &quiet()).unwrap_err();
    assert!(
        matches!(&error, DataError::BadImage { path, .. } if *path == bad),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("broken.png") && message.contains("--skip-bad-images"),
        "{message}"
    );

    let options = FolderOptions {
        skip_bad_images: true,
        ..quiet()
    };
    let loaded = load_image_folder(root.path(), &options).unwrap();
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].0, bad);
    assert_eq!(loaded.dataset.train.len(), 6);

    // Decoded only at load time (size and channels given: no header is read first).
    let given = FolderOptions {
        channels: Some(1),
        image_size: Some([3, 4]),
        ..quiet()
    };
    let error = load_image_folder(root.path(), &given).unwrap_err();
    assert!(
        matches!(&error, DataError::BadImage { path, .. } if *path == bad),
        "{error:?}"
    );
    let loaded = load_image_folder(
        root.path(),
        &FolderOptions {
            skip_bad_images: true,
            ..given
        },
    )
    .unwrap();
    assert_eq!((loaded.skipped.len(), loaded.dataset.train.len()), (1, 6));
}

#[test]
fn memory_past_the_limit_is_refused_before_decoding() {
    let root = tempfile::tempdir().unwrap();
    layout(root.path());
    let options = FolderOptions {
        max_memory: 80,
        ..quiet()
    };
    let message = plan_image_folder(root.path(), &options)
        .unwrap_err()
        .to_string();
    for part in ["7 images take 84 B", "--max-memory 80 B", "--image-size"] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    // The stated figure for a large folder: 50,000 colour 224×224 images is 7.0 GiB.
    let big = FolderOptions {
        image_size: Some([224, 224]),
        channels: Some(3),
        ..quiet()
    };
    let plan = plan_image_folder(root.path(), &big).unwrap();
    assert_eq!(plan.memory_bytes(), 7 * 3 * 224 * 224);
}

#[test]
fn layout_problems_are_one_error_saying_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let message = |root: &Path| plan_image_folder(root, &quiet()).unwrap_err().to_string();
    assert!(message(&root.path().join("absent")).contains("is not a folder"));
    assert!(message(root.path())
        .contains("no train folder: lay the images out as ROOT/train/<class>/*.png"));
    std::fs::create_dir_all(root.path().join("train")).unwrap();
    assert!(message(root.path()).contains("train/ has no class folder"));
    std::fs::create_dir_all(root.path().join("train/cat")).unwrap();
    assert!(message(root.path())
        .contains("train/cat holds no .png, .jpg or .jpeg file: add some or remove the folder"));
    grey(&root.path().join("train/cat/1.png"), 2, 2, 0);
    grey(&root.path().join("test/dog/1.png"), 2, 2, 0);
    assert!(message(root.path()).contains("test/dog is not a class of train/"));
    std::fs::remove_dir_all(root.path().join("test")).unwrap();
    // One image cannot be split into training and test.
    assert!(message(root.path()).contains("--val-fraction"));
    let three = FolderOptions {
        channels: Some(2),
        ..quiet()
    };
    let error = plan_image_folder(root.path(), &three)
        .unwrap_err()
        .to_string();
    assert!(error.contains("use 1 (grey) or 3 (RGB)"), "{error}");
}

/// A link from a class folder back up to `train/` (or to the class itself) labelled every
/// class's images with that class, silently (100 images instead of 60).
#[test]
fn a_link_back_up_the_tree_is_refused_naming_it() {
    for target in ["../..", ".."] {
        let root = tempfile::tempdir().unwrap();
        grey(&root.path().join("train/a/1.png"), 2, 2, 10);
        grey(&root.path().join("train/b/1.png"), 2, 2, 20);
        grey(&root.path().join("train/b/2.png"), 2, 2, 30);
        let link = root.path().join("train/a/sub/loop");
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, &link).unwrap();
        let message = plan_image_folder(root.path(), &quiet())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("loop leads back to") && message.contains("remove that link"),
            "{target}: {message}"
        );
    }
}

/// A JPEG cut short decoded without error, its missing part grey (the `image` crate's
/// decoder fills a truncated scan): it trained as if it were a picture. It is a bad
/// image, named, or skipped and counted with `skip_bad_images`, while complete JPEGs load.
#[test]
fn a_jpeg_cut_short_is_a_bad_image_named_or_skipped() {
    let root = tempfile::tempdir().unwrap();
    for (class, value) in [("a", 30), ("b", 200)] {
        for i in 0..3 {
            let path = root.path().join(format!("train/{class}/{i}.jpg"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            GrayImage::from_fn(64, 64, |x, y| Luma([value + ((x * 7 + y * y) % 50) as u8]))
                .save(&path)
                .unwrap();
        }
    }
    // Cut in the middle of its image data, after the last start-of-scan marker.
    let whole = std::fs::read(root.path().join("train/b/0.jpg")).unwrap();
    let scan = whole.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    let cut = root.path().join("train/b/cut.jpg");
    std::fs::write(&cut, &whole[..(scan + whole.len()) / 2]).unwrap();
    let options = FolderOptions {
        val_fraction: 0.25,
        ..quiet()
    };

    let error = load_image_folder(root.path(), &options).unwrap_err();
    assert!(
        matches!(&error, DataError::BadImage { path, reason } if *path == cut && reason == TRUNCATED_JPEG),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("cut.jpg: the JPEG ends before its end-of-image marker")
            && message.contains("--skip-bad-images"),
        "{message}"
    );

    let skipping = FolderOptions {
        skip_bad_images: true,
        ..options
    };
    let loaded = load_image_folder(root.path(), &skipping).unwrap();
    assert_eq!(loaded.skipped, [(cut, TRUNCATED_JPEG.to_owned())]);
    let data = loaded.dataset;
    assert_eq!(data.train.len() + data.test.len(), 6);
}

/// `train/b` empty beside `train/a` made a class of nothing: a run trained "2 classes" to
/// 100% (getting round the single-class refusal). An empty class folder of `test/`, and a
/// `test/` without class folders, ended in "no image of its test split could be decoded",
/// though nothing had failed to decode. Each is refused, naming the folder.
#[test]
fn a_class_folder_without_images_is_refused_naming_it() {
    let message = |root: &Path| plan_image_folder(root, &quiet()).unwrap_err().to_string();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    for i in 0..10 {
        grey(&root.join(format!("train/a/{i}.png")), 2, 2, 10);
    }
    std::fs::create_dir_all(root.join("train/b")).unwrap();
    let error = message(root);
    assert!(
        error.ends_with(
            ": train/b holds no .png, .jpg or .jpeg file: add some or remove the folder"
        ),
        "{error}"
    );
    // Only files that are not images (skipped) is no better.
    std::fs::write(root.join("train/b/notes.txt"), "not an image").unwrap();
    assert_eq!(message(root), error);

    grey(&root.join("train/b/1.png"), 2, 2, 200);
    std::fs::create_dir_all(root.join("test")).unwrap();
    let error = message(root);
    assert!(
        error.contains("test/ has no class folder") && error.contains("remove test/"),
        "{error}"
    );
    grey(&root.join("test/b/1.png"), 2, 2, 200);
    std::fs::create_dir_all(root.join("test/a")).unwrap();
    std::fs::write(root.join("test/a/notes.txt"), "not an image").unwrap();
    let error = message(root);
    assert!(
        error
            .ends_with(": test/a holds no .png, .jpg or .jpeg file: add some or remove the folder"),
        "{error}"
    );
    // A test split may lack a class.
    std::fs::remove_dir_all(root.join("test/a")).unwrap();
    assert_eq!(plan_image_folder(root, &quiet()).unwrap().counts(), (11, 1));
}

/// A colour JPEG of `w`×`h` at `path`, cut in the middle of its image data (its header
/// intact: only decoding finds it bad).
fn cut_colour_jpeg(path: &Path, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let whole_path = path.with_extension("whole.jpg");
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 3) as u8, (y * 5) as u8, 90]))
        .save(&whole_path)
        .unwrap();
    let whole = std::fs::read(&whole_path).unwrap();
    std::fs::remove_file(&whole_path).unwrap();
    let scan = whole.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    std::fs::write(path, &whole[..(scan + whole.len()) / 2]).unwrap();
}

/// QA: a grey 28×28 folder plus one RGB 280×280 JPEG cut short, named first, trained as
/// 3×280×280 with --skip-bad-images (its header decided the size and the colour, though
/// it was then skipped). Only images that decode decide them.
#[test]
fn a_skipped_image_decides_neither_the_size_nor_the_channels() {
    for bad_name in ["0.jpg", "z.jpg"] {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        for class in ["a", "b"] {
            for i in 1..=4 {
                grey(&root.join(format!("train/{class}/{i}.png")), 4, 3, 10 * i);
            }
        }
        let bad = root.join("train/a").join(bad_name);
        cut_colour_jpeg(&bad, 40, 30);
        let options = FolderOptions {
            skip_bad_images: true,
            val_fraction: 0.25,
            ..quiet()
        };
        let plan = plan_image_folder(root, &options).unwrap();
        assert_eq!(plan.sample_shape(), [1, 3, 4], "{bad_name}");
        assert_eq!(plan.counts(), (6, 2), "{bad_name}");
        let loaded = plan.load().unwrap();
        assert_eq!(loaded.skipped, [(bad.clone(), TRUNCATED_JPEG.to_owned())]);
        assert_eq!(loaded.dataset.train.sample_shape(), [1, 3, 4]);

        // Without the flag, the file stops the run, named.
        let error = plan_image_folder(
            root,
            &FolderOptions {
                skip_bad_images: false,
                ..options
            },
        )
        .unwrap_err();
        assert!(
            matches!(&error, DataError::BadImage { path, .. } if *path == bad),
            "{error:?}"
        );
    }
}

/// QA: with --skip-bad-images, a class whose every file was bad (unreadable, or cut short
/// and found only when decoded) was kept as a class of no images (a 3-output model, class
/// `c` never seen). It is refused naming its folder, as an empty class folder is, in
/// `train/` and in `test/`.
#[test]
fn a_class_whose_images_are_all_skipped_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    for class in ["a", "b"] {
        for i in 1..=4 {
            grey(&root.join(format!("train/{class}/{i}.png")), 4, 3, 10 * i);
        }
    }
    std::fs::create_dir_all(root.join("train/c")).unwrap();
    std::fs::write(root.join("train/c/x.png"), b"").unwrap();
    std::fs::write(root.join("train/c/y.png"), b"").unwrap();
    grey(&root.join("test/a/1.png"), 4, 3, 10);
    grey(&root.join("test/b/1.png"), 4, 3, 20);
    let skipping = FolderOptions {
        skip_bad_images: true,
        ..quiet()
    };
    let refusal = ": train/c has no image that can be decoded (its 2 images were skipped as bad): \
                   replace them with images that decode, or remove the folder";
    // Headers read when planning (the size and channels come from the images) ...
    let error = plan_image_folder(root, &skipping).unwrap_err().to_string();
    assert!(error.ends_with(refusal), "{error}");
    // ... or only decoded when loading (both given): the same refusal.
    let given = FolderOptions {
        channels: Some(1),
        image_size: Some([3, 4]),
        ..skipping.clone()
    };
    let error = load_image_folder(root, &given).unwrap_err().to_string();
    assert!(error.ends_with(refusal), "{error}");
    // Files cut short, found bad only when decoded.
    std::fs::remove_dir_all(root.join("train/c")).unwrap();
    cut_colour_jpeg(&root.join("train/c/x.jpg"), 40, 30);
    cut_colour_jpeg(&root.join("train/c/y.jpg"), 40, 30);
    for options in [&skipping, &given] {
        let error = load_image_folder(root, options).unwrap_err().to_string();
        assert!(error.ends_with(refusal), "{error}");
    }

    // A test/ class folder likewise.
    std::fs::remove_dir_all(root.join("train/c")).unwrap();
    std::fs::remove_file(root.join("test/b/1.png")).unwrap();
    std::fs::write(root.join("test/b/x.png"), b"").unwrap();
    for options in [&skipping, &given] {
        let error = load_image_folder(root, options).unwrap_err().to_string();
        assert!(
            error.ends_with(": test/b has no image that can be decoded (its only image was skipped as bad): replace them with images that decode, or remove the folder"),
            "{error}"
        );
    }
    std::fs::remove_dir_all(root.join("test/b")).unwrap();
    assert_eq!(
        load_image_folder(root, &given).unwrap().dataset.test.len(),
        1
    );
}

/// Without test/, the hold-out is drawn from all training images: a class of one image
/// could have it held out, leaving a class with nothing to learn. Refused, naming it.
#[test]
fn a_class_whose_images_are_all_held_out_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    for i in 0..9 {
        grey(&root.join(format!("train/a/{i}.png")), 2, 2, 10);
    }
    grey(&root.join("train/b/only.png"), 2, 2, 200);
    let mut refused = 0;
    for seed in 0..40 {
        let options = FolderOptions { seed, ..quiet() };
        match plan_image_folder(root, &options) {
            Ok(plan) => assert_eq!(plan.counts(), (9, 1)),
            Err(error) => {
                let error = error.to_string();
                assert!(
                    error.contains(": train/b has no image left to train on: there is no test/ folder and its only image was held out for testing;")
                        && error.contains("--val-fraction or --seed"),
                    "{error}"
                );
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "no seed held out train/b's only image");
}

/// QA: the plan counted a broken `.png` link among the "files that are not
/// .png/.jpg/.jpeg", and nothing said how many images were used once some failed only when
/// decoded (47 stated, 45 trained on). The listing's skips are told apart, and the load
/// says what was used and what was skipped, and why.
#[test]
fn the_counts_say_what_was_used_and_what_was_skipped_and_why() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    for class in ["a", "b"] {
        for i in 1..=4 {
            grey(&root.join(format!("train/{class}/{i}.png")), 4, 3, 10 * i);
        }
        grey(&root.join(format!("test/{class}/1.png")), 4, 3, 10);
    }
    std::fs::write(root.join("train/a/notes.txt"), "not an image").unwrap();
    std::os::unix::fs::symlink(root.join("gone.png"), root.join("train/a/link.png")).unwrap();
    cut_colour_jpeg(&root.join("train/b/cut.jpg"), 40, 30);
    let options = FolderOptions {
        channels: Some(1),
        skip_bad_images: true,
        ..quiet()
    };

    let plan = plan_image_folder(root, &options).unwrap();
    assert_eq!((plan.skipped_files(), plan.broken_links()), (1, 1));
    let line = plan.describe();
    assert!(
        line.contains("2 classes, 9 training images (2 test) as 1×3×4 u8")
            && line
                .ends_with("; 1 file that is not .png/.jpg/.jpeg skipped; 1 broken link skipped"),
        "{line}"
    );
    let loaded = plan.load().unwrap();
    let cut = root.join("train/b/cut.jpg");
    assert_eq!(
        loaded.describe(),
        format!(
            "used 8 training and 2 test images; skipped 1 that could not be decoded (the \
             first: {}: {TRUNCATED_JPEG})",
            cut.display()
        )
    );
    std::fs::remove_file(cut).unwrap();
    assert_eq!(
        load_image_folder(root, &options).unwrap().describe(),
        "used 8 training and 2 test images"
    );
}

/// QA: class folder names were printed lossily (`c\xff` and `c\xfe` both as `c\u{fffd}`,
/// one prediction's two classes told apart by nothing) and as-is (a newline split a
/// prediction's line). A name that is not UTF-8 or holds a control character is refused,
/// naming the folder with its bytes escaped; other text (accents, spaces) is kept.
#[test]
fn a_class_folder_name_that_cannot_be_printed_on_one_line_is_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let refusal = "has a name that is not UTF-8 text or holds a control character: rename it";
    for (split, name, shown) in [
        ("train", &b"c\xff"[..], "train/c\\xff"),
        ("train", b"line1\nline2", "train/line1\\nline2"),
        ("train", b"tab\there", "train/tab\\there"),
        ("test", b"c\xfe", "test/c\\xfe"),
    ] {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        for class in ["a", "été chat"] {
            grey(&root.join("train").join(class).join("1.png"), 2, 2, 10);
            grey(&root.join("test").join(class).join("1.png"), 2, 2, 10);
        }
        let plan = plan_image_folder(root, &quiet()).unwrap();
        assert_eq!(plan.class_names(), ["a", "été chat"]);
        grey(
            &root.join(split).join(OsStr::from_bytes(name)).join("1.png"),
            2,
            2,
            10,
        );
        let error = plan_image_folder(root, &quiet()).unwrap_err().to_string();
        assert!(
            error.contains(&format!(": the class folder {shown} {refusal}"))
                && !error.contains('\n'),
            "{error}"
        );
    }
}
