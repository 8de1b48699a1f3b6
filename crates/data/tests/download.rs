//! Downloads against an HTTP server on 127.0.0.1: good files, a 404, a truncated body, a
//! corrupt body, a server that never answers, fall-through to the second mirror. Each test
//! checks what is left on disk.

mod common;

use std::time::{Duration, Instant};

use common::{entries, file_table, gz_routes, gzip, small_set, Reply, TestServer};
use scratchnet_data::{
    download, download_files, load, load_or_download_from, DataError, DatasetKind, DownloadOptions,
};

fn quick() -> DownloadOptions {
    DownloadOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        total_timeout: Some(Duration::from_secs(20)),
        show_progress: false,
    }
}

const GZ_NAMES: [&str; 4] = [
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
];

#[test]
fn good_files_are_downloaded_checked_and_renamed() {
    let contents = small_set(3);
    let server = TestServer::start(gz_routes("m/", &contents));
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested/mnist");
    let files = file_table(&contents);

    download_files(
        DatasetKind::Mnist,
        &files,
        &dir,
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap();

    assert_eq!(entries(&dir), GZ_NAMES);
    for (file, bytes) in files.iter().zip(&contents) {
        let on_disk = std::fs::read(dir.join(file.gz_name())).unwrap();
        assert_eq!(common::gunzip(&on_disk), *bytes, "{}", file.name);
    }
    // A second call finds everything present and asks nothing.
    let before = server.requests().len();
    download_files(
        DatasetKind::Mnist,
        &files,
        &dir,
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap();
    assert_eq!(server.requests().len(), before);
}

#[test]
fn a_404_on_every_mirror_leaves_nothing_and_the_error_says_what_to_do() {
    let server = TestServer::start(vec![]);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data/sets/mnist");
    let mirrors = [server.url("first/"), server.url("second/")];
    let mirrors: Vec<&str> = mirrors.iter().map(String::as_str).collect();

    let error = download(DatasetKind::Mnist, &dir, &mirrors, &quick()).unwrap_err();

    assert!(matches!(&error, DataError::Download { attempts, .. } if attempts.len() == 2));
    let message = error.to_string();
    for part in [
        format!("{}train-images-idx3-ubyte.gz: HTTP 404", mirrors[0]),
        format!("{}train-images-idx3-ubyte.gz: HTTP 404", mirrors[1]),
        format!("into {}", dir.display()),
        "by hand".to_owned(),
        "MNIST_DIR".to_owned(),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message}");
    }
    // The directories this call created are gone again.
    assert!(!parent.path().join("data").exists());
    assert!(entries(parent.path()).is_empty());
}

#[test]
fn a_404_from_the_first_mirror_falls_through_to_the_second() {
    let contents = small_set(4);
    let server = TestServer::start(gz_routes("good/", &contents));
    let dir = tempfile::tempdir().unwrap();
    let mirrors = [server.url("missing/"), server.url("good/")];
    let mirrors: Vec<&str> = mirrors.iter().map(String::as_str).collect();

    download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        dir.path(),
        &mirrors,
        &quick(),
    )
    .unwrap();

    assert_eq!(entries(dir.path()), GZ_NAMES);
    let requests = server.requests();
    assert_eq!(requests.len(), 8);
    assert_eq!(requests[0], "/missing/train-images-idx3-ubyte.gz");
    assert_eq!(requests[1], "/good/train-images-idx3-ubyte.gz");
}

#[test]
fn a_truncated_body_is_rejected_and_its_partial_file_removed() {
    let contents = small_set(3);
    let mut routes = gz_routes("m/", &contents);
    let body = gzip(&contents[0]);
    let sent = body.len() / 2;
    routes[0].1 = Reply::Truncated { body, sent };
    let server = TestServer::start(routes);
    let dir = tempfile::tempdir().unwrap();

    let error = download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        dir.path(),
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap_err();

    let message = error.to_string();
    assert!(message.contains("train-images-idx3-ubyte.gz"), "{message}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    // The directory existed before the call: it stays.
    assert!(dir.path().is_dir());
}

#[test]
fn a_corrupt_body_fails_its_checksum_and_leaves_nothing() {
    let contents = small_set(3);
    let mut routes = gz_routes("m/", &contents);
    // Well-formed IDX labels, but not the expected ones.
    let mut wrong_labels = contents[1].clone();
    wrong_labels[8] = (wrong_labels[8] + 1) % 10;
    routes[1].1 = Reply::Body(gzip(&wrong_labels));
    let server = TestServer::start(routes);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("mnist");

    let error = download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        &dir,
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap_err();

    let message = error.to_string();
    assert!(message.contains("train-labels-idx1-ubyte.gz"), "{message}");
    assert!(message.contains("SHA-256"), "{message}");
    // The train images were checked before the failure and are kept; nothing else.
    assert_eq!(entries(&dir), ["train-images-idx3-ubyte.gz"]);
}

#[test]
fn a_body_that_is_no_idx_file_is_rejected() {
    let contents = small_set(3);
    let mut routes = gz_routes("m/", &contents);
    // (An HTML page is called one: an_html_page_in_place_of_the_file_is_called_one.)
    routes[0].1 = Reply::Body(b"PK\x03\x04 a zip archive, not an IDX file".to_vec());
    routes[2].1 = Reply::Body(b"\x1f\x8bnot really gzip".to_vec());
    let server = TestServer::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let files = file_table(&contents);

    let message = download_files(
        DatasetKind::Mnist,
        &files[..1],
        dir.path(),
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("magic number"), "{message}");

    let message = download_files(
        DatasetKind::Mnist,
        &files[2..3],
        dir.path(),
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("t10k-images-idx3-ubyte.gz"), "{message}");
    assert!(message.contains("not valid gzip"), "{message}");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn a_server_that_never_answers_times_out() {
    let contents = small_set(3);
    let mut routes = gz_routes("m/", &contents);
    routes[0].1 = Reply::Hang;
    let server = TestServer::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let options = DownloadOptions {
        read_timeout: Duration::from_millis(300),
        ..quick()
    };

    let started = Instant::now();
    let error = download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        dir.path(),
        &[&server.url("m/")],
        &options,
    )
    .unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let message = error.to_string();
    assert!(message.contains("train-images-idx3-ubyte.gz"), "{message}");
    assert!(message.contains("time-out"), "{message}");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn a_mirror_that_refuses_connections_falls_through() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let contents = small_set(2);
    let server = TestServer::start(gz_routes("m/", &contents));
    let dir = tempfile::tempdir().unwrap();
    let refused = format!("http://127.0.0.1:{closed_port}/");

    download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        dir.path(),
        &[&refused, &server.url("m/")],
        &quick(),
    )
    .unwrap();
    assert_eq!(entries(dir.path()), GZ_NAMES);
}

#[test]
fn an_uncompressed_body_is_kept_under_the_raw_name() {
    let contents = small_set(3);
    let mut routes = gz_routes("m/", &contents);
    routes[3].1 = Reply::Body(contents[3].clone());
    let server = TestServer::start(routes);
    let dir = tempfile::tempdir().unwrap();

    download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        dir.path(),
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap();

    assert!(entries(dir.path()).contains(&"t10k-labels-idx1-ubyte".to_owned()));
    assert_eq!(
        std::fs::read(dir.path().join("t10k-labels-idx1-ubyte")).unwrap(),
        contents[3]
    );
}

#[test]
fn a_later_call_fetches_only_what_is_still_missing() {
    let contents = small_set(3);
    let files = file_table(&contents);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut routes = gz_routes("m/", &contents);
        routes[1].1 = Reply::NotFound;
        let flaky = TestServer::start(routes);
        assert!(download_files(
            DatasetKind::Mnist,
            &files,
            dir.path(),
            &[&flaky.url("m/")],
            &quick()
        )
        .is_err());
    }
    assert_eq!(entries(dir.path()), ["train-images-idx3-ubyte.gz"]);

    let server = TestServer::start(gz_routes("m/", &contents));
    download_files(
        DatasetKind::Mnist,
        &files,
        dir.path(),
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap();
    assert_eq!(entries(dir.path()), GZ_NAMES);
    assert_eq!(server.requests().len(), 3);
    assert!(!server
        .requests()
        .contains(&"/m/train-images-idx3-ubyte.gz".to_owned()));
}

/// The real files, served over loopback, pass the real SHA-256 table, then load.
#[test]
fn real_mnist_served_over_loopback_downloads_and_loads() {
    let Some(source) = common::real_mnist_dir_or_skip("real_mnist_served_over_loopback") else {
        return;
    };
    let server = TestServer::start(real_mnist_routes(&source));
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("mnist");
    let mirrors = [server.url("nowhere/"), server.url("mnist/")];
    let mirrors: Vec<&str> = mirrors.iter().map(String::as_str).collect();

    let dataset = load_or_download_from(DatasetKind::Mnist, Some(&dir), &mirrors, &quick())
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!((dataset.train.len(), dataset.test.len()), (60_000, 10_000));
    assert_eq!(entries(&dir), GZ_NAMES);
    // Loading again needs no server.
    drop(server);
    assert_eq!(load(DatasetKind::Mnist, &dir).unwrap().test.len(), 10_000);
}

/// The real MNIST's four `.gz` files of `source`, served under `/mnist/`.
fn real_mnist_routes(source: &std::path::Path) -> Vec<(String, Reply)> {
    DatasetKind::Mnist
        .files()
        .iter()
        .map(|file| {
            let path = source.join(file.gz_name());
            let body = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("MNIST_DIR is set but {} is unreadable: {e}", path.display())
            });
            (format!("/mnist/{}", file.gz_name()), Reply::Body(body))
        })
        .collect()
}

/// A folder that exists and holds half of the files (an interrupted first run, or files
/// copied by hand) is completed, not loaded as it is and not downloaded again whole.
#[test]
fn a_folder_holding_some_of_the_files_gets_only_the_missing_ones() {
    let Some(source) = common::real_mnist_dir_or_skip("a_folder_holding_some_of_the_files") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in &GZ_NAMES[..2] {
        std::fs::copy(source.join(name), dir.path().join(name)).unwrap();
    }
    let server = TestServer::start(real_mnist_routes(&source));

    let dataset = load_or_download_from(
        DatasetKind::Mnist,
        Some(dir.path()),
        &[&server.url("mnist/")],
        &quick(),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!((dataset.train.len(), dataset.test.len()), (60_000, 10_000));
    assert_eq!(entries(dir.path()), GZ_NAMES);
    let mut requested = server.requests();
    requested.sort();
    assert_eq!(
        requested,
        [
            "/mnist/train-images-idx3-ubyte.gz",
            "/mnist/train-labels-idx1-ubyte.gz"
        ]
    );
}

/// Sets the modification time of `path` to `hours` hours from now (negative: ago).
fn set_age(path: &std::path::Path, hours: i64) {
    let now = std::time::SystemTime::now();
    let shift = Duration::from_secs(hours.unsigned_abs() * 3600);
    let time = if hours < 0 { now - shift } else { now + shift };
    std::fs::File::open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn stale_partial_files_of_an_interrupted_download_are_removed_and_nothing_else() {
    let contents = small_set(2);
    let server = TestServer::start(gz_routes("m/", &contents));
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(".train-images-idx3-ubyte.gz.XNjTWy.part");
    let kept = [
        ".train-images-idx3-ubyte.gz.XNjTWy.part.mine",
        ".train-images-idx3-ubyte.gz.XNjTW.part",
        ".t10k-labels-idx1-ubyte.gz.future.part",
        ".t10k-images-idx3-ubyte.gz.Locked.part",
        "notes.part",
    ];
    for name in kept
        .iter()
        .copied()
        .chain([".train-images-idx3-ubyte.gz.XNjTWy.part"])
    {
        std::fs::write(dir.path().join(name), b"partial").unwrap();
        set_age(&dir.path().join(name), -1);
    }
    // Newer than this process's first download: not a leftover of an earlier one.
    set_age(
        &dir.path().join(".t10k-labels-idx1-ubyte.gz.future.part"),
        1,
    );
    // Locked: a download of another process is still writing it.
    let locked =
        std::fs::File::open(dir.path().join(".t10k-images-idx3-ubyte.gz.Locked.part")).unwrap();
    fs4::FileExt::lock(&locked).unwrap();

    download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        dir.path(),
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap();

    assert!(!stale.exists());
    let mut expected: Vec<&str> = GZ_NAMES.iter().copied().chain(kept).collect();
    expected.sort();
    assert_eq!(entries(dir.path()), expected);
}

#[test]
fn a_file_over_the_whole_file_time_limit_says_so_and_what_to_do() {
    let contents = small_set(3);
    let mut routes = gz_routes("m/", &contents);
    let body = gzip(&contents[0]);
    routes[0].1 = Reply::Stall { body, sent: 100 };
    let server = TestServer::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let options = DownloadOptions {
        read_timeout: Duration::from_secs(10),
        total_timeout: Some(Duration::from_secs(1)),
        ..quick()
    };

    let message = download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        dir.path(),
        &[&server.url("m/")],
        &options,
    )
    .unwrap_err()
    .to_string();

    for part in [
        "it took longer than the limit of 1 s per file, 100 bytes had arrived",
        "download the file by hand into that folder",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    assert!(!message.contains("timeout: global"), "{message}");
    assert!(entries(dir.path()).is_empty());
}

/// Set in the child process of the test below: the URL of a server that never answers.
const HANG_URL_VAR: &str = "SCRATCHNET_TEST_HANG_URL";

#[test]
fn the_downloading_line_is_printed_before_the_server_answers() {
    if let Ok(mirror) = std::env::var(HANG_URL_VAR) {
        // The child: a download whose server never sends headers.
        let dir = tempfile::tempdir().unwrap();
        let options = DownloadOptions {
            read_timeout: Duration::from_millis(300),
            show_progress: true,
            ..quick()
        };
        let contents = small_set(1);
        let _ = download_files(
            DatasetKind::Mnist,
            &file_table(&contents),
            dir.path(),
            &[&mirror],
            &options,
        );
        return;
    }
    let server = TestServer::start(vec![(
        "/m/train-images-idx3-ubyte.gz".to_owned(),
        Reply::Hang,
    )]);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_downloading_line_is_printed_before_the_server_answers",
            "--nocapture",
        ])
        .env(HANG_URL_VAR, server.url("m/"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = format!("downloading {}train-images-idx3-ubyte.gz", server.url("m/"));
    assert!(stderr.contains(&line), "{line:?} not in {stderr}");
}

#[test]
fn an_html_page_in_place_of_the_file_is_called_one() {
    let page = b"\n<!DOCTYPE html><html><body>Sign in</body></html>".to_vec();
    let contents = small_set(2);
    let mut routes = gz_routes("typed/", &contents);
    routes[0].1 = Reply::Typed {
        body: page.clone(),
        content_type: "text/html; charset=utf-8",
    };
    routes.extend(gz_routes("sniffed/", &contents));
    let sniffed = routes.len() - 4;
    routes[sniffed].1 = Reply::Body(page);
    let server = TestServer::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let mirrors = [server.url("typed/"), server.url("sniffed/")];
    let mirrors: Vec<&str> = mirrors.iter().map(String::as_str).collect();

    let message = download_files(
        DatasetKind::Mnist,
        &file_table(&contents),
        dir.path(),
        &mirrors,
        &quick(),
    )
    .unwrap_err()
    .to_string();

    for mirror in &mirrors {
        let part = format!(
            "{mirror}train-images-idx3-ubyte.gz: the server sent an HTML page, not the file"
        );
        assert!(message.contains(&part), "{part:?} not in {message}");
    }
    assert!(!message.contains("magic number"), "{message}");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn the_by_hand_hint_lists_only_the_files_still_missing() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    for file in &DatasetKind::Mnist.files()[..3] {
        std::fs::write(dir.path().join(file.gz_name()), b"present").unwrap();
    }
    let message = download(
        DatasetKind::Mnist,
        dir.path(),
        &[&server.url("m/")],
        &quick(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("download t10k-labels-idx1-ubyte.gz by hand"),
        "{message}"
    );
    assert!(!message.contains("train-images"), "{message}");
}
