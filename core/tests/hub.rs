//! Hub loading (feature `hub`) against a local server that answers the way the Hub does.
#![cfg(feature = "hub")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clinfer_core::{Classifier, Error};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves `GET /{org}/{name}/resolve/{revision}/{file}` from `root` with range support.
fn serve(root: PathBuf) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            handle(stream, &root, &log);
        }
    });
    (endpoint, seen)
}

fn handle(mut stream: TcpStream, root: &Path, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range_start = 0usize;
    let mut range_end: Option<usize> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(spec) = lower.strip_prefix("range: bytes=") {
            let (a, b) = spec.trim().split_once('-').unwrap();
            range_start = a.parse().unwrap();
            range_end = b.parse().ok();
        }
    }
    log.lock().unwrap().push(path.clone());
    // Only the one repository exists on this server.
    let file = path
        .strip_prefix("/clinfer/teacher/resolve/")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, f)| root.join(f))
        .filter(|p| p.is_file());
    let Some(file) = file else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let body = std::fs::read(&file).unwrap();
    let end = range_end.unwrap_or(body.len() - 1).min(body.len() - 1);
    let part = &body[range_start..=end];
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {range_start}-{end}/{}\r\n\
         ETag: \"{}-{}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
        part.len(),
        body.len(),
        file.file_name().unwrap().to_string_lossy(),
        body.len(),
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(part);
}

#[test]
fn downloads_into_the_hf_cache_and_then_works_offline() {
    let Some(teacher) = common::teacher_dir() else {
        return;
    };
    let (endpoint, seen) = serve(teacher.clone());
    let cache = tempfile::tempdir().unwrap();
    // This test binary has a single test, so changing the environment races with nothing.
    std::env::set_var("HF_ENDPOINT", &endpoint);
    std::env::set_var("HF_HOME", cache.path());

    let classifier = Classifier::builder()
        .hub("clinfer/teacher", Some("v1.0".into()))
        .build()
        .unwrap();
    let p = classifier
        .predict(&["a moving and beautifully made film"])
        .unwrap();
    assert_eq!(p[0].label, "POSITIVE");
    let requests = seen.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("/clinfer/teacher/resolve/v1.0/")),
        "{requests:?}"
    );
    assert!(requests.iter().any(|r| r.ends_with("/model.safetensors")));
    // Standard cache layout: $HF_HOME/hub/models--org--name/snapshots/<commit>/
    let snapshot = cache
        .path()
        .join("hub/models--clinfer--teacher/snapshots")
        .join(COMMIT);
    assert!(
        snapshot.join("config.json").is_file(),
        "{}",
        snapshot.display()
    );

    // Cached files are used without asking the server again.
    let before = seen.lock().unwrap().len();
    Classifier::builder()
        .hub("clinfer/teacher", Some("v1.0".into()))
        .build()
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), before);

    // A repository the server does not have is a clear error, not a panic.
    let err = Classifier::builder()
        .hub("clinfer/absent", None)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Hub { .. }), "{err}");
    assert!(err.to_string().contains("clinfer/absent"), "{err}");
}
