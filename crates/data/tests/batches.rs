//! Mini-batches are reproducible: the same `(seed, epoch)` gives the same batches, in any
//! thread, whatever ran before, and when resumed part-way through an epoch.

use scratchnet_data::{Batch, BatchConfig, Normalization, Split};

/// `n` distinct images (pixel `p` of image `i` is `(7 i + p) % 256`), labels `i % 10`.
fn split(n: usize) -> Split {
    let images = (0..n)
        .flat_map(|i| (0..784).map(move |p| ((7 * i + p) % 256) as u8))
        .collect();
    let labels = (0..n).map(|i| (i % 10) as u8).collect();
    Split::new(images, labels, Normalization::MNIST)
}

fn epoch(split: &Split, config: &BatchConfig, epoch: u64) -> Vec<Batch> {
    split.batches(config, epoch).collect()
}

fn augmented(seed: u64) -> BatchConfig {
    BatchConfig {
        batch_size: 32,
        shuffle: true,
        seed,
        augment: true,
    }
}

#[test]
fn same_seed_same_batches_in_any_thread() {
    let data = split(300);
    let config = augmented(42);
    let here = epoch(&data, &config, 5);
    let elsewhere: Vec<Vec<Batch>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| epoch(&data, &config, 5)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for batches in elsewhere {
        assert_eq!(batches, here);
    }
    assert_eq!(here.len(), 10); // 9 × 32 + 12
    assert_eq!(here[9].len(), 12);
}

#[test]
fn an_epoch_depends_on_seed_and_epoch_only() {
    let data = split(300);
    let config = augmented(42);
    // Epoch 3 computed cold equals epoch 3 computed after epochs 0..3.
    let cold = epoch(&data, &config, 3);
    for e in 0..3 {
        let _ = epoch(&data, &config, e);
    }
    assert_eq!(epoch(&data, &config, 3), cold);

    let labels = |batches: &[Batch]| -> Vec<usize> {
        batches.iter().flat_map(|b| b.labels.clone()).collect()
    };
    assert_ne!(labels(&epoch(&data, &config, 4)), labels(&cold));
    assert_ne!(labels(&epoch(&data, &augmented(43), 3)), labels(&cold));
}

#[test]
fn augmentation_changes_images_not_order_or_labels() {
    let data = split(100);
    let plain = BatchConfig {
        augment: false,
        ..augmented(9)
    };
    let with = epoch(&data, &augmented(9), 2);
    let without = epoch(&data, &plain, 2);
    for (a, b) in with.iter().zip(&without) {
        assert_eq!(a.labels, b.labels);
    }
    assert_ne!(with, without);
}

#[test]
fn resuming_mid_epoch_gives_the_remaining_batches() {
    let data = split(200);
    let config = augmented(7);
    let full = epoch(&data, &config, 11);
    let resumed: Vec<Batch> = data.batches(&config, 11).skip(4).collect();
    assert_eq!(resumed, full[4..]);
}

#[test]
fn unshuffled_batches_follow_file_order_with_validation_carved_off() {
    let (train, validation) = split(50).split_validation(10);
    let config = BatchConfig {
        batch_size: 16,
        shuffle: false,
        ..BatchConfig::default()
    };
    let labels: Vec<usize> = train.batches(&config, 99).flat_map(|b| b.labels).collect();
    assert_eq!(labels, (0..40).map(|i| i % 10).collect::<Vec<_>>());
    let batches = validation.batches(&config, 0);
    assert_eq!(batches.len(), 1);
    let only = batches.last().unwrap();
    assert_eq!(only.images.shape(), &[10, 1, 28, 28]);
    let first = Normalization::MNIST.apply(((7 * 40) % 256) as u8);
    assert_eq!(only.images[[0, 0, 0, 0]], first);
}
