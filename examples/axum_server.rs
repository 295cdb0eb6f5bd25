//! An HTTP server embedding the [`Pipeline`](clinfer::Pipeline): PHI scrub, dynamic batching
//! and classification behind a small JSON API.
//!
//! ```text
//! cargo run --release --example axum_server -- --model models/clinfer-demo-sst2 --addr 127.0.0.1:8000
//! curl -s localhost:8000/v1/classify -d '{"text": "a warm, funny film"}' -H 'content-type: application/json'
//! ```
//!
//! Contract (other tools rely on it):
//! - `POST /v1/classify` with `{"text": "..."}` answers `{"label", "score", "label_id",
//!   "scores", "logits", "redacted", "phi_counts", "tokens", "truncated", "timings"}`; with
//!   `{"texts": [...]}` it answers `{"results": [...]}` in input order. Optional fields:
//!   `deadline_ms`, `priority` (0 high, 1 normal, 2 low).
//! - `GET /healthz` (200 while live), `GET /readyz` (200 when ready for traffic), `GET
//!   /metrics` (Prometheus/OpenMetrics text).
//! - The request schema (the gateway's is the same): exactly one of `text` (a non-empty
//!   string) and `texts` (1 to `--max-texts` non-empty strings); `deadline_ms` a number >= 0;
//!   `priority` 0, 1 or 2; no other field; nothing is coerced.
//! - Errors have a JSON body `{"error": {"kind", "message"}}`, the kind and status from
//!   clinfer's one table (`clinfer::ErrorKind`): 429 (overloaded, with `Retry-After` in
//!   seconds), 504 (deadline), 503 (shutting down), 422 (invalid input or body), 413 (body
//!   over `--max-body-bytes`), 415 (not `application/json`) or 500.
//! - On SIGTERM or Ctrl-C it stops accepting connections, finishes in-flight requests, then
//!   drains the pipeline for up to `--drain-ms`.
//!
//! The first line on stdout is `listening on ADDR` once the socket is bound (with port 0, it
//! tells the port chosen).

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use clinfer::core::{DTypeSpec, DeviceSpec};
use clinfer::{ClassifyOptions, Error, Pipeline, Protocol};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "HTTP server for clinfer: PHI scrub, dynamic batching, classification")]
struct Args {
    /// Model directory (config.json, weights, tokenizer.json).
    #[arg(long)]
    model: String,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Precision mode: auto, f32, f16, bf16 or int8.
    #[arg(long, default_value = "auto")]
    dtype: DTypeSpec,
    /// Most rows per forward pass.
    #[arg(long, default_value_t = 32)]
    max_batch_size: usize,
    /// Longest a batch waits for more requests, in milliseconds (0: greedy).
    #[arg(long, default_value_t = 5)]
    max_wait_ms: u64,
    /// Most queued requests before answering 429.
    #[arg(long, default_value_t = 1024)]
    queue_capacity: usize,
    /// Model worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Default (and longest) deadline per request in milliseconds.
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Do not de-identify texts before classification.
    #[arg(long)]
    no_scrub: bool,
    /// Largest request body in bytes (larger: 413).
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Most texts in one `{"texts": [...]}` request.
    #[arg(long, default_value_t = 256)]
    max_texts: usize,
    /// How long shutdown waits for queued requests, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    drain_ms: u64,
    /// Longest a client may take to send a request's headers (also the idle time a
    /// kept-alive connection may wait for its next request), in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Longest a client may take to send a request's body, in milliseconds (408 after).
    #[arg(long, default_value_t = 30_000)]
    body_timeout_ms: u64,
    /// At shutdown, how long open connections may take to finish their requests before
    /// they are closed, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    grace_ms: u64,
}

#[derive(Clone)]
struct AppState {
    pipeline: Pipeline,
    max_texts: usize,
    max_body_bytes: usize,
    body_timeout: Duration,
}

/// A `/v1/classify` body, checked field by field against the one `/v1` request schema
/// (the gateway's pydantic model has the same rules): exactly one of `text` (a non-empty
/// string) and `texts` (1..=`--max-texts` non-empty strings), `deadline_ms` a finite,
/// non-negative number, `priority` the integer 0, 1 or 2, no other field. Messages name the
/// field, never its value.
struct ClassifyRequest {
    texts: Vec<String>,
    many: bool,
    options: ClassifyOptions,
}

fn parse_request(body: &[u8], max_texts: usize) -> Result<ClassifyRequest, ApiError> {
    use serde_json::Value;
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        invalid(if e.is_eof() || e.is_syntax() {
            "the body is not valid JSON"
        } else {
            "the body is not valid JSON (nesting too deep or invalid UTF-8)"
        })
    })?;
    let Value::Object(fields) = value else {
        return Err(invalid(
            r#"the body must be a JSON object {"text": "..."} or {"texts": ["...", ...]}"#,
        ));
    };
    const ALLOWED: [&str; 4] = ["text", "texts", "deadline_ms", "priority"];
    if fields.keys().any(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(invalid(
            "unknown field in the body (allowed: text, texts, deadline_ms, priority)",
        ));
    }
    let non_empty = |v: &Value, what: &str| match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::String(_) => Err(invalid(format!("{what} must not be empty"))),
        _ => Err(invalid(format!("{what} must be a string"))),
    };
    let (texts, many) = match (fields.get("text"), fields.get("texts")) {
        (Some(t), None) => (vec![non_empty(t, "text")?], false),
        (None, Some(Value::Array(items))) => {
            if items.is_empty() {
                return Err(invalid("texts must hold at least one text"));
            }
            if items.len() > max_texts {
                return Err(invalid(format!(
                    "{} texts in one request, over the limit of {max_texts}",
                    items.len()
                )));
            }
            let texts = items
                .iter()
                .enumerate()
                .map(|(i, v)| non_empty(v, &format!("texts[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            (texts, true)
        }
        (None, Some(_)) => return Err(invalid("texts must be a list of strings")),
        _ => return Err(invalid(r#"give exactly one of "text" and "texts""#)),
    };
    let deadline = match fields.get("deadline_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(ms) if ms.is_finite() && ms >= 0.0 => {
                Some(Duration::from_secs_f64((ms / 1000.0).min(1e9)))
            }
            _ => return Err(invalid("deadline_ms must be a finite number >= 0")),
        },
        Some(_) => return Err(invalid("deadline_ms must be a number")),
    };
    let priority = match fields.get("priority") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(p @ 0..=2) => p as u8,
            _ => return Err(invalid("priority must be 0 (high), 1 (normal) or 2 (low)")),
        },
        Some(_) => return Err(invalid("priority must be 0 (high), 1 (normal) or 2 (low)")),
    };
    Ok(ClassifyRequest {
        texts,
        many,
        options: ClassifyOptions { deadline, priority },
    })
}

#[derive(Serialize)]
struct ManyResponse {
    results: Vec<clinfer::Classification>,
}

/// An error answer: status, optional Retry-After, JSON body. Never echoes request content.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        // the one table (clinfer::ErrorKind::http_status) decides the status
        let status = StatusCode::from_u16(e.http_status(Protocol::V1))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError {
            status,
            kind: e.kind().as_str(),
            message: e.to_string(),
            retry_after: e.retry_after_header(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::from(Error::invalid_input(message))
}

async fn classify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // the whole body within --body-timeout-ms: a client that stops sending half-way does
    // not hold the connection (nor a shutdown) open
    let read = axum::body::to_bytes(body, state.max_body_bytes);
    let body = match tokio::time::timeout(state.body_timeout, read).await {
        Err(_) => {
            return Err(ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                kind: "request_timeout",
                message: "the request body was not received in time".into(),
                retry_after: None,
            })
        }
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return Err(if too_large {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    kind: "invalid_input",
                    message: "request body too large".into(),
                    retry_after: None,
                }
            } else {
                invalid("the request body could not be read")
            });
        }
        Ok(Ok(bytes)) => bytes,
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            kind: "invalid_input",
            message: "expected content-type: application/json".into(),
            retry_after: None,
        });
    }
    let req = parse_request(&body, state.max_texts)?;
    if req.many {
        let refs: Vec<&str> = req.texts.iter().map(String::as_str).collect();
        let results = state.pipeline.classify_many(&refs, req.options).await?;
        Ok(Json(ManyResponse { results }).into_response())
    } else {
        let out = state.pipeline.classify(&req.texts[0], req.options).await?;
        Ok(Json(out).into_response())
    }
}

async fn healthz(State(state): State<AppState>) -> StatusCode {
    if state.pipeline.is_live() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn readyz(State(state): State<AppState>) -> StatusCode {
    if state.pipeline.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.pipeline.metrics(),
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Serves `app` on `listener` until `signal`, then stops accepting, lets open connections
/// finish their requests for up to `grace` and closes the rest. Each connection must send
/// its request headers within `header_timeout` (a half-open or idle connection is closed
/// after it). Returns how many connections were closed at the end of the grace period.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    grace: Duration,
    signal: impl std::future::Future<Output = ()>,
) -> usize {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // out of file descriptors and the like: back off, keep serving
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // errors are the client's (reset, timeout): nothing to report
            let _ = conn.await;
        });
    }
    drop(listener);
    let open = graceful.count();
    tokio::select! {
        () = graceful.shutdown() => 0,
        () = tokio::time::sleep(grace) => open,
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("axum_server: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let pipeline = Pipeline::builder()
        .model_dir(&args.model)
        .device(args.device)
        .dtype(args.dtype)
        .scrub(!args.no_scrub)
        .max_batch_size(args.max_batch_size)
        .max_wait(Duration::from_millis(args.max_wait_ms))
        .queue_capacity(args.queue_capacity)
        .workers(args.workers)
        .default_deadline(args.deadline_ms.map(Duration::from_millis))
        .max_input_bytes(args.max_body_bytes)
        .build()
        .map_err(|e| e.to_string())?;
    let state = AppState {
        pipeline: pipeline.clone(),
        max_texts: args.max_texts,
        max_body_bytes: args.max_body_bytes,
        body_timeout: Duration::from_millis(args.body_timeout_ms),
    };
    let app = Router::new()
        .route("/v1/classify", post(classify))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(args.max_body_bytes))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", args.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {local}");
    let _ = std::io::stdout().flush();
    let open = serve(
        listener,
        app,
        Duration::from_millis(args.header_timeout_ms),
        Duration::from_millis(args.grace_ms),
        shutdown_signal(),
    )
    .await;
    if open > 0 {
        eprintln!(
            "axum_server: the grace period ended; closing the connections still open ({open} at shutdown)"
        );
    }
    let drained = pipeline
        .shutdown(Duration::from_millis(args.drain_ms))
        .await;
    eprintln!("axum_server: stopped (queue drained: {drained})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(body: &str) -> String {
        match parse_request(body.as_bytes(), 4) {
            Ok(_) => panic!("accepted: {body}"),
            Err(e) => {
                assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
                assert_eq!(e.kind, "invalid_input");
                e.message
            }
        }
    }

    #[test]
    fn the_schema_accepts_what_it_documents() {
        let r = parse_request(br#"{"text": "a fine film"}"#, 4).expect("one text");
        assert!(!r.many);
        assert_eq!(r.texts, ["a fine film"]);
        assert_eq!(r.options, ClassifyOptions::default());
        let r = parse_request(
            br#"{"texts": ["a", "b"], "deadline_ms": 250.5, "priority": 0}"#,
            4,
        )
        .expect("many texts with options");
        assert!(r.many);
        assert_eq!(r.texts.len(), 2);
        assert_eq!(r.options.priority, 0);
        assert_eq!(r.options.deadline, Some(Duration::from_micros(250_500)));
        let r = parse_request(br#"{"text": "x", "deadline_ms": null, "priority": 2}"#, 4)
            .expect("null means absent");
        assert_eq!((r.options.deadline, r.options.priority), (None, 2));
    }

    #[test]
    fn the_schema_rejects_with_the_field_named_and_no_value_quoted() {
        let canary = "Canarysmith";
        let cases = [
            (r#"{"texts": []}"#.to_owned(), "at least one"),
            (r#"{"text": ""}"#.to_owned(), "text must not be empty"),
            (r#"{"text": 3}"#.to_owned(), "text must be a string"),
            (
                r#"{"texts": ["a", ""]}"#.to_owned(),
                "texts[1] must not be empty",
            ),
            (
                format!(r#"{{"texts": "{canary}"}}"#),
                "texts must be a list",
            ),
            (
                r#"{"texts": ["a","b","c","d","e"]}"#.to_owned(),
                "over the limit of 4",
            ),
            (
                format!(r#"{{"text": "{canary}", "priority": 3}}"#),
                "priority must be",
            ),
            (
                r#"{"text": "x", "priority": 255}"#.to_owned(),
                "priority must be",
            ),
            (
                r#"{"text": "x", "priority": true}"#.to_owned(),
                "priority must be",
            ),
            (
                r#"{"text": "x", "priority": 1.5}"#.to_owned(),
                "priority must be",
            ),
            (
                r#"{"text": "x", "deadline_ms": "100"}"#.to_owned(),
                "deadline_ms must be a number",
            ),
            (
                r#"{"text": "x", "deadline_ms": -1}"#.to_owned(),
                "deadline_ms must be a finite",
            ),
            (
                format!(r#"{{"text": "x", "{canary}": 1}}"#),
                "unknown field",
            ),
            (r#"{"text": "a", "texts": ["b"]}"#.to_owned(), "exactly one"),
            (r#"{}"#.to_owned(), "exactly one"),
            (format!(r#"["{canary}"]"#), "must be a JSON object"),
            (format!(r#"{{"text": "{canary}""#), "not valid JSON"),
            (
                format!("{}{canary}{}", "[".repeat(10_000), "]".repeat(10_000)),
                "not valid JSON",
            ),
        ];
        for (body, expected) in cases {
            let message = reason(&body);
            assert!(message.contains(expected), "{body:.80}: {message}");
            assert!(!message.contains(canary), "{message}");
        }
        let bad_utf8 = b"{\"text\": \"\xff\xfe\"}";
        assert!(parse_request(bad_utf8, 4).is_err());
    }

    async fn start(
        header_timeout: Duration,
        grace: Duration,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<usize>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route("/healthz", get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, header_timeout, grace, async move {
            let _ = rx.await;
        }));
        (addr, tx, server)
    }

    /// Reads until the server closes the connection; `None` if it stays open for a minute
    /// (a hang guard, not a timing assertion).
    async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut got))
            .await
            .ok()
            .map(|_| got)
    }

    #[tokio::test]
    async fn silent_and_half_sent_connections_are_closed() {
        use tokio::io::AsyncWriteExt;
        let (addr, stop, server) = start(Duration::from_millis(200), Duration::from_secs(60)).await;
        // connects and sends nothing
        let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
        // sends half a request line and stops
        let mut half = tokio::net::TcpStream::connect(addr).await.expect("connect");
        half.write_all(b"GET /heal").await.expect("write");
        assert!(
            closed_by_server(&mut silent).await.is_some(),
            "silent connection left open"
        );
        assert!(
            closed_by_server(&mut half).await.is_some(),
            "half-sent request left open"
        );
        // a complete request is still served
        let mut ok = tokio::net::TcpStream::connect(addr).await.expect("connect");
        ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = closed_by_server(&mut ok)
            .await
            .expect("answered and closed");
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        let _ = stop.send(());
        assert_eq!(server.await.expect("server task"), 0, "nothing left open");
    }

    #[tokio::test]
    async fn shutdown_is_bounded_by_the_grace_period() {
        use tokio::io::AsyncWriteExt;
        // headers may take a minute, but shutdown waits at most 300 ms for the connection
        let (addr, stop, server) = start(Duration::from_secs(60), Duration::from_millis(300)).await;
        let mut half = tokio::net::TcpStream::connect(addr).await.expect("connect");
        half.write_all(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await; // let the server accept it
        let _ = stop.send(());
        let open = tokio::time::timeout(Duration::from_secs(60), server)
            .await
            .expect("shutdown returned")
            .expect("server task");
        assert_eq!(
            open, 1,
            "the half-sent request was cut at the end of the grace period"
        );
    }

    #[test]
    fn errors_take_their_status_from_the_table() {
        let cases = [
            (
                Error::Overloaded {
                    retry_after: Duration::from_millis(1200),
                },
                429,
                Some(2),
            ),
            (Error::DeadlineExceeded, 504, None),
            (Error::ShuttingDown, 503, None),
            (Error::invalid_input("too long"), 422, None),
            (
                Error::Config("max_batch_size must be at least 1".into()),
                500,
                None,
            ),
            (Error::internal("worker gone"), 500, None),
        ];
        for (e, status, retry) in cases {
            let kind = e.kind().as_str();
            let api = ApiError::from(e);
            assert_eq!(api.status.as_u16(), status, "{kind}");
            assert_eq!(api.kind, kind);
            assert_eq!(api.retry_after, retry, "{kind}");
        }
    }
}
