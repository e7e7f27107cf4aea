//! A loopback JSON API for tests: a real HTTP/1.1 server on a free port that counts the
//! requests it receives, keeps each one (head and body) and answers every one with the reply
//! last set, or echoes it back. Stands in for a business API behind a registered tool (the
//! e2e tests, the README demo's ERP).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest request head read.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The reply every request gets: status and JSON body, or `None` for the echo
/// (`{"valid": true, "request": LINE, "headers": HEAD, "body": BODY}`, status 200).
type Reply = Option<(u16, Vec<u8>)>;

/// A running loopback JSON API (it stops with the test's runtime).
pub struct JsonApi {
    pub port: u16,
    calls: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    reply: Arc<Mutex<Reply>>,
}

impl JsonApi {
    /// Starts the API on `127.0.0.1:0`; it answers `200 {}` until told otherwise.
    pub async fn start() -> anyhow::Result<JsonApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = JsonApi {
            port: listener.local_addr()?.port(),
            calls: Arc::default(),
            requests: Arc::default(),
            reply: Arc::new(Mutex::new(Some((200, b"{}".to_vec())))),
        };
        let (calls, requests, reply) = (
            Arc::clone(&api.calls),
            Arc::clone(&api.requests),
            Arc::clone(&api.reply),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (calls, requests, reply) = (
                    Arc::clone(&calls),
                    Arc::clone(&requests),
                    Arc::clone(&reply),
                );
                tokio::spawn(async move {
                    let _ = answer(stream, &calls, &requests, &reply).await;
                });
            }
        });
        Ok(api)
    }

    /// Every later request is answered with `status` and `body`.
    pub fn set_reply(&self, status: u16, body: impl Into<Vec<u8>>) {
        *self.reply.lock().unwrap_or_else(|e| e.into_inner()) = Some((status, body.into()));
    }

    /// Every later request is answered with itself: its request line, head and body as JSON
    /// (so a test sees what a caller would get back if nothing scrubbed it).
    pub fn echo(&self) {
        *self.reply.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// How many requests arrived whole.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Every request that arrived whole: its head and body as text.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Reads one request (head, then `content-length` bytes of body), records it, answers it.
async fn answer(
    mut stream: TcpStream,
    calls: &AtomicUsize,
    requests: &Mutex<Vec<String>>,
    reply: &Mutex<Reply>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > MAX_HEAD_BYTES {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    calls.fetch_add(1, Ordering::SeqCst);
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(format!("{head}{body}"));
    let set = reply.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (status, body) = set.unwrap_or_else(|| {
        let echo = serde_json::json!({
            "valid": true, "request": head.lines().next(), "headers": head, "body": body,
        });
        (200, echo.to_string().into_bytes())
    });
    let head = format!(
        "HTTP/1.1 {status} Reply\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}
