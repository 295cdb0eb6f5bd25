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
//! - Errors have a JSON body `{"error": {"kind", "message"}}` and the status 429 (overloaded,
//!   with `Retry-After` in seconds), 504 (deadline), 503 (shutting down), 422 (invalid input
//!   or body), 413 (body over `--max-body-bytes`) or 500.
//! - On SIGTERM or Ctrl-C it stops accepting connections, finishes in-flight requests, then
//!   drains the pipeline for up to `--drain-ms`.
//!
//! The first line on stdout is `listening on ADDR` once the socket is bound (with port 0, it
//! tells the port chosen).

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use clinfer::core::DeviceSpec;
use clinfer::{ClassifyOptions, Error, Pipeline};
use serde::{Deserialize, Serialize};

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
}

#[derive(Clone)]
struct AppState {
    pipeline: Pipeline,
    max_texts: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyRequest {
    text: Option<String>,
    texts: Option<Vec<String>>,
    deadline_ms: Option<u64>,
    priority: Option<u8>,
}

#[derive(Serialize)]
struct ManyResponse {
    results: Vec<clinfer::Classification>,
}

/// An error answer: status, optional Retry-After, JSON body. Never echoes request content.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, retry_after) = match &e {
            Error::Overloaded { retry_after } => {
                (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after))
            }
            Error::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, None),
            Error::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, None),
            Error::InvalidInput(_) => (StatusCode::UNPROCESSABLE_ENTITY, None),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        ApiError {
            status,
            kind: e.kind(),
            message: e.to_string(),
            retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(after) = self.retry_after {
            // Whole seconds, rounded up, at least 1 (RFC 9110 delay-seconds).
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        kind: "invalid_input",
        message: message.into(),
        retry_after: None,
    }
}

async fn classify(
    State(state): State<AppState>,
    body: Result<Json<ClassifyRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                kind: "invalid_input",
                message: "request body too large".into(),
                retry_after: None,
            }
        } else {
            // The parser's message may quote the body: say what is expected instead.
            invalid(r#"expected a JSON body {"text": "..."} or {"texts": ["...", ...]}"#)
        }
    })?;
    let options = ClassifyOptions {
        deadline: req.deadline_ms.map(Duration::from_millis),
        priority: req.priority.unwrap_or(1),
    };
    match (req.text, req.texts) {
        (Some(text), None) => {
            let out = state.pipeline.classify(&text, options).await?;
            Ok(Json(out).into_response())
        }
        (None, Some(texts)) => {
            if texts.len() > state.max_texts {
                return Err(invalid(format!(
                    "{} texts in one request, over the limit of {}",
                    texts.len(),
                    state.max_texts
                )));
            }
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let results = state.pipeline.classify_many(&refs, options).await?;
            Ok(Json(ManyResponse { results }).into_response())
        }
        _ => Err(invalid(r#"give exactly one of "text" and "texts""#)),
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
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    let drained = pipeline
        .shutdown(Duration::from_millis(args.drain_ms))
        .await;
    eprintln!("axum_server: stopped (queue drained: {drained})");
    Ok(())
}
