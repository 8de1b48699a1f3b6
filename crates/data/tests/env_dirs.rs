//! A folder named by `MNIST_DIR`, `FASHION_MNIST_DIR` or `CIFAR10_DIR` is only read,
//! never downloaded into, like `--data-dir`. One test only: it sets the variables, which
//! are process-wide (each test file is its own process).

mod common;

use std::time::Duration;

use common::{entries, TestServer};
use scratchnet_data::{
    load_or_download_cifar10, load_or_download_from, DataError, DatasetKind, DownloadOptions,
};

fn quick() -> DownloadOptions {
    DownloadOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        total_timeout: Some(Duration::from_secs(20)),
        show_progress: false,
    }
}

#[test]
fn a_folder_named_by_a_variable_is_never_downloaded_into() {
    let server = TestServer::start(vec![]);
    let mirror = server.url("m/");
    let parent = tempfile::tempdir().unwrap();
    for kind in DatasetKind::ALL {
        let var = kind.dir_env_var();
        // A missing folder: refused, not created, nothing asked of the mirror.
        let dir = parent.path().join(format!("{var}-missing"));
        std::env::set_var(var, &dir);
        let error = load_or_download_from(kind, None, &[&mirror], &quick()).unwrap_err();
        assert!(
            matches!(error, DataError::EnvDirUnusable { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        for part in [
            format!("{var} names {}, which does not exist", dir.display()),
            format!("unset {var}"),
            "only read, never downloaded into".to_owned(),
        ] {
            assert!(message.contains(&part), "{part:?} not in {message}");
        }
        assert!(!dir.exists());

        // A folder with one file missing: that file is named, and only it.
        let dir = parent.path().join(format!("{var}-partial"));
        std::fs::create_dir(&dir).unwrap();
        for file in &kind.files()[..3] {
            std::fs::write(dir.join(file.gz_name()), b"x").unwrap();
        }
        std::env::set_var(var, &dir);
        let message = load_or_download_from(kind, None, &[&mirror], &quick())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("which lacks t10k-labels-idx1-ubyte (raw or .gz): put t10k-labels-idx1-ubyte.gz there"),
            "{message}"
        );
        assert!(!message.contains("train-images-idx3-ubyte.gz"), "{message}");
        assert_eq!(entries(&dir).len(), 3);
        std::env::remove_var(var);
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());

    let dir = parent.path().join("cifar-missing");
    std::env::set_var("CIFAR10_DIR", &dir);
    let message = load_or_download_cifar10(None).unwrap_err().to_string();
    for part in [
        format!("CIFAR10_DIR names {}, which does not exist", dir.display()),
        "unset CIFAR10_DIR".to_owned(),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message}");
    }
    assert!(!message.contains("--data-dir"), "{message}");
    assert!(!dir.exists());
}
