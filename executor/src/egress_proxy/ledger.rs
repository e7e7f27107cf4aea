//! The record of every connection a run's child asked the egress proxy for: destination,
//! verdict, and bytes each way (counted live, so a connection cut at the end of the run still
//! shows what it moved). Each becomes one line of the run's provenance record.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What the proxy did with one request for a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressVerdict {
    /// Admitted and connected to this address.
    Allowed(SocketAddr),
    /// Refused by the gate (its reason).
    Refused(String),
    /// Admitted, but no admitted address accepted the connection.
    Unreachable(String),
    /// Not a request the proxy serves (a relative URI, another scheme, no port).
    Malformed(String),
}

/// One connection (a `CONNECT` tunnel or one plain HTTP request), as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressConnection {
    /// The host the child asked for (as written, without brackets).
    pub host: String,
    /// The port it asked for.
    pub port: u16,
    /// `CONNECT` or the plain request's method.
    pub method: String,
    /// What the proxy did.
    pub verdict: EgressVerdict,
    /// Bytes sent to the destination.
    pub sent: u64,
    /// Bytes received from the destination.
    pub received: u64,
}

impl EgressConnection {
    /// The provenance line: `egress allow CONNECT 127.0.0.1:8080 via 127.0.0.1:8080 sent=12
    /// received=34` or `egress refuse GET 127.0.0.1:9090: <reason>`.
    pub fn provenance_line(&self) -> String {
        let dest = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let method = &self.method;
        match &self.verdict {
            EgressVerdict::Allowed(addr) => format!(
                "egress allow {method} {dest} via {addr} sent={} received={}",
                self.sent, self.received
            ),
            EgressVerdict::Refused(why) => format!("egress refuse {method} {dest}: {why}"),
            EgressVerdict::Unreachable(why) => {
                format!("egress unreachable {method} {dest}: {why}")
            }
            EgressVerdict::Malformed(why) => format!("egress malformed {method} {dest}: {why}"),
        }
    }
}

/// Byte counters of one admitted connection, shared with its relay.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub sent: AtomicU64,
    pub received: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    host: String,
    port: u16,
    method: String,
    verdict: EgressVerdict,
    counters: Arc<Counters>,
}

/// Every connection of one run, in the order asked.
#[derive(Debug, Clone, Default)]
pub(super) struct Ledger {
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl Ledger {
    /// Records a decision; returns the counters the relay adds to.
    pub fn record(
        &self,
        host: &str,
        port: u16,
        method: &str,
        verdict: EgressVerdict,
    ) -> Arc<Counters> {
        tracing::info!(host, port, method, verdict = ?verdict, "egress");
        let counters = Arc::new(Counters::default());
        let entry = Entry {
            host: host.to_string(),
            port,
            method: method.to_string(),
            verdict,
            counters: Arc::clone(&counters),
        };
        if let Ok(mut entries) = self.entries.lock() {
            entries.push(entry);
        }
        counters
    }

    /// The connections so far, with their byte counts now.
    pub fn snapshot(&self) -> Vec<EgressConnection> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|e| EgressConnection {
                host: e.host.clone(),
                port: e.port,
                method: e.method.clone(),
                verdict: e.verdict.clone(),
                sent: e.counters.sent.load(Ordering::Relaxed),
                received: e.counters.received.load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_destination_the_verdict_and_the_bytes() {
        let ledger = Ledger::default();
        let c = ledger.record(
            "127.0.0.1",
            8080,
            "CONNECT",
            EgressVerdict::Allowed("127.0.0.1:8080".parse().unwrap()),
        );
        c.sent.fetch_add(12, Ordering::Relaxed);
        c.received.fetch_add(34, Ordering::Relaxed);
        ledger.record(
            "::1",
            9090,
            "GET",
            EgressVerdict::Refused("`::1` port 9090 is not named by the grant".into()),
        );
        let lines: Vec<String> = ledger
            .snapshot()
            .iter()
            .map(EgressConnection::provenance_line)
            .collect();
        assert_eq!(
            lines,
            vec![
                "egress allow CONNECT 127.0.0.1:8080 via 127.0.0.1:8080 sent=12 received=34",
                "egress refuse GET [::1]:9090: `::1` port 9090 is not named by the grant",
            ]
        );
    }
}
