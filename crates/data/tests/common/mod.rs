//! Helpers shared by the integration tests: IDX files made in memory, gzip, the real MNIST
//! directory from the environment, and a small HTTP server on 127.0.0.1.
#![allow(dead_code)] // each test file uses a different part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use scratchnet_data::{mnist_dir_from_env, DataFile, DatasetKind};
use sha2::{Digest, Sha256};

/// An IDX images file: header for `n` 28×28 images whose pixels are `(i * 31 + p) % 256`.
pub fn images_file(n: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16 + n * 784);
    for field in [2051u32, n as u32, 28, 28] {
        bytes.extend_from_slice(&field.to_be_bytes());
    }
    bytes.extend((0..n).flat_map(|i| (0..784).map(move |p| ((i * 31 + p) % 256) as u8)));
    bytes
}

/// An IDX labels file holding `labels`.
pub fn labels_file(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + labels.len());
    bytes.extend_from_slice(&2049u32.to_be_bytes());
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

/// The four files of a consistent `n`-sample set, in [`DatasetKind::files`] order
/// (train images, train labels, test images, test labels), uncompressed.
pub fn small_set(n: usize) -> [Vec<u8>; 4] {
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    [
        images_file(n),
        labels_file(&labels),
        images_file(n),
        labels_file(&labels),
    ]
}

/// Writes [`small_set`] into `dir`, each file raw or `.gz`.
pub fn write_small_set(dir: &Path, n: usize, gz: bool) {
    for (file, bytes) in DatasetKind::Mnist.files().iter().zip(small_set(n)) {
        if gz {
            std::fs::write(dir.join(file.gz_name()), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(file.name), bytes).unwrap();
        }
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file table for `contents` (uncompressed, in [`DatasetKind::files`] order), with their
/// SHA-256 sums. The `String`s are leaked: a few bytes per test.
pub fn file_table(contents: &[Vec<u8>; 4]) -> Vec<DataFile<'static>> {
    DatasetKind::Mnist
        .files()
        .iter()
        .zip(contents)
        .map(|(file, bytes)| DataFile {
            sha256: Box::leak(sha256_hex(bytes).into_boxed_str()),
            ..*file
        })
        .collect()
}

/// Names of the entries of `dir`, sorted (empty if `dir` does not exist).
pub fn entries(dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = read
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The real MNIST directory, or `None` (after printing that the test is skipped) when
/// `MNIST_DIR` is unset. When it is set, loading from it must work: tests fail loudly.
pub fn real_mnist_dir_or_skip(test: &str) -> Option<PathBuf> {
    let dir = mnist_dir_from_env();
    if dir.is_none() {
        eprintln!("skipped {test}: MNIST_DIR is not set");
    }
    dir
}

/// What the test server answers for one path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this body and its Content-Length.
    Body(Vec<u8>),
    /// 404.
    NotFound,
    /// 200 announcing `body.len()` bytes, but closing after the first `sent` of them.
    Truncated { body: Vec<u8>, sent: usize },
    /// Reads the request, then never answers (until the server is dropped).
    Hang,
    /// 200 announcing `body.len()` bytes, sends the first `sent`, then nothing more
    /// (until the server is dropped).
    Stall { body: Vec<u8>, sent: usize },
    /// 200 with this body, said to be of this Content-Type.
    Typed {
        body: Vec<u8>,
        content_type: &'static str,
    },
}

/// An HTTP/1.1 server on 127.0.0.1 for download tests. Paths not in its table get a 404.
///
/// Bounded, as a test server must be: it accepts at most 64 connections, stops accepting
/// after 60 s, and stops everything when dropped.
pub struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(routes: Vec<(String, Reply)>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes: Arc<HashMap<String, Reply>> = Arc::new(routes.into_iter().collect());
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            std::thread::spawn(move || serve(listener, routes, stop, requests))
        };
        TestServer {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>/<prefix>`
    pub fn url(&self, prefix: &str) -> String {
        format!("http://{}/{prefix}", self.addr)
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves the four files of `contents` (compressed with gzip) under `prefix`.
pub fn gz_routes(prefix: &str, contents: &[Vec<u8>; 4]) -> Vec<(String, Reply)> {
    DatasetKind::Mnist
        .files()
        .iter()
        .zip(contents)
        .map(|(file, bytes)| {
            (
                format!("/{prefix}{}", file.gz_name()),
                Reply::Body(gzip(bytes)),
            )
        })
        .collect()
}

fn serve(
    listener: TcpListener,
    routes: Arc<HashMap<String, Reply>>,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline && handlers.len() < 64 {
        match listener.accept() {
            Ok((stream, _)) => {
                let (routes, stop, requests) = (routes.clone(), stop.clone(), requests.clone());
                handlers.push(std::thread::spawn(move || {
                    answer(stream, &routes, &stop, &requests)
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => break,
        }
    }
    for handler in handlers {
        let _ = handler.join();
    }
}

fn answer(
    mut stream: TcpStream,
    routes: &HashMap<String, Reply>,
    stop: &AtomicBool,
    requests: &Mutex<Vec<String>>,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    requests.lock().unwrap().push(path.clone());
    let typed_head = |status: &str, len: usize, content_type: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n")
    };
    let head = |status: &str, len: usize| typed_head(status, len, "application/octet-stream");
    let hang = || {
        let until = Instant::now() + Duration::from_secs(20);
        while !stop.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let _ = match routes.get(&path).cloned().unwrap_or(Reply::NotFound) {
        Reply::Body(body) => stream
            .write_all(head("200 OK", body.len()).as_bytes())
            .and_then(|()| stream.write_all(&body)),
        Reply::NotFound => stream.write_all(head("404 Not Found", 0).as_bytes()),
        Reply::Truncated { body, sent } => stream
            .write_all(head("200 OK", body.len()).as_bytes())
            .and_then(|()| stream.write_all(&body[..sent])),
        Reply::Hang => {
            hang();
            Ok(())
        }
        Reply::Stall { body, sent } => stream
            .write_all(head("200 OK", body.len()).as_bytes())
            .and_then(|()| stream.write_all(&body[..sent]))
            .and_then(|()| stream.flush())
            .map(|()| hang()),
        Reply::Typed { body, content_type } => stream
            .write_all(typed_head("200 OK", body.len(), content_type).as_bytes())
            .and_then(|()| stream.write_all(&body)),
    };
    let _ = stream.flush();
}
