//! The proxy over its real Unix socket against real TCP servers: `CONNECT` and plain HTTP reach a
//! granted destination, anything else is refused, and every connection is in the ledger.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::*;

/// A server answering every request with `200 ok:<port>` and closing.
fn origin() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!("ok:{port}");
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

async fn exchange(proxy: &EgressProxy, request: String) -> String {
    let mut stream = UnixStream::connect(proxy.socket()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn granted_destinations_are_reached_and_everything_is_recorded() {
    let granted = origin();
    let other = origin();
    let gate = Arc::new(GrantedHosts::new([format!("127.0.0.1:{granted}").as_str()]));
    let proxy = EgressProxy::start(gate).unwrap();
    let folder = proxy.socket().parent().unwrap().to_path_buf();
    assert_eq!(
        std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let plain = exchange(
        &proxy,
        format!("GET http://127.0.0.1:{granted}/x HTTP/1.1\r\nHost: 127.0.0.1:{granted}\r\n\r\n"),
    )
    .await;
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    assert!(plain.ends_with(&format!("ok:{granted}")), "{plain}");

    let tunnel = exchange(
        &proxy,
        format!(
            "CONNECT 127.0.0.1:{granted} HTTP/1.1\r\nHost: 127.0.0.1:{granted}\r\n\r\n\
             GET /y HTTP/1.1\r\nHost: 127.0.0.1:{granted}\r\n\r\n"
        ),
    )
    .await;
    assert!(tunnel.starts_with("HTTP/1.1 200"), "{tunnel}");
    assert!(tunnel.ends_with(&format!("ok:{granted}")), "{tunnel}");

    let refused = exchange(
        &proxy,
        format!("CONNECT 127.0.0.1:{other} HTTP/1.1\r\nHost: 127.0.0.1:{other}\r\n\r\n"),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let named = exchange(
        &proxy,
        format!("GET http://localhost:{granted}/ HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
    .await;
    assert!(named.starts_with("HTTP/1.1 403"), "{named}");
    let relative = exchange(&proxy, "GET /z HTTP/1.1\r\nHost: x\r\n\r\n".to_string()).await;
    assert!(relative.starts_with("HTTP/1.1 400"), "{relative}");

    let connections = proxy.finish().await;
    assert!(!folder.exists(), "the private folder outlived the run");
    let lines: Vec<String> = connections
        .iter()
        .map(EgressConnection::provenance_line)
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    let allow = format!("egress allow GET 127.0.0.1:{granted} via 127.0.0.1:{granted} sent=");
    assert!(lines[0].starts_with(&allow), "{lines:?}");
    assert!(lines[1].starts_with(&format!("egress allow CONNECT 127.0.0.1:{granted}")));
    for c in &connections[..2] {
        assert!(c.sent > 20 && c.received > 40, "{c:?}");
    }
    assert_eq!(
        lines[2],
        format!(
            "egress refuse CONNECT 127.0.0.1:{other}: `127.0.0.1` port {other} is not named by \
             the grant"
        )
    );
    assert_eq!(
        lines[3],
        format!("egress refuse GET localhost:{granted}: `localhost` port {granted} is not named by the grant")
    );
    assert!(
        lines[4].starts_with("egress malformed GET :0: only `CONNECT"),
        "{lines:?}"
    );
}
