//! The server streams: `WatchRevocations` (backlog, heartbeats, live entries in sequence
//! order) and `WatchApprovals` (pending approvals, then every change).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use trust_proto::authority::v1 as pb;
use trust_sdk::clock::now_ms;

use super::convert;
use crate::error::AuthorityError;
use crate::feed_signing::FeedSigner;
use crate::registry::{ApprovalEntry, Registry};
use crate::revocation::RevocationFeed;

/// Page size of the backlog read from the registry.
const BACKLOG_PAGE: usize = 10_000;

type Sender<T> = mpsc::Sender<Result<T, Status>>;

/// Sends every recorded revocation after `*last`, advancing it. `Err` when the receiver is
/// gone or the registry failed (the error was sent).
async fn send_backlog(
    registry: &dyn Registry,
    signer: &FeedSigner,
    tx: &Sender<pb::Revocation>,
    last: &mut u64,
) -> Result<(), ()> {
    loop {
        let (page, latest) = match registry.revocations_after(*last, BACKLOG_PAGE) {
            Ok(read) => read,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return Err(());
            }
        };
        if page.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        for entry in &page {
            tx.send(convert::revocation(entry, signer, latest, now).map_err(Into::into))
                .await
                .map_err(|_| ())?;
            *last = entry.sequence;
        }
    }
}

/// A signed heartbeat stating the latest sequence the registry holds (which may be below
/// the caller's cursor: an authority restored from a backup says so rather than hide it).
async fn send_heartbeat(
    registry: &dyn Registry,
    signer: &FeedSigner,
    tx: &Sender<pb::Revocation>,
) -> Result<(), ()> {
    let heartbeat = registry
        .revocations_after(u64::MAX, 0)
        .and_then(|(_, latest)| convert::heartbeat(signer, latest, now_ms()));
    tx.send(heartbeat.map_err(Into::into)).await.map_err(|_| ())
}

/// `WatchRevocations`: the backlog after `after`, a heartbeat, then live revocations in
/// sequence order with a heartbeat every `heartbeat_ms` (0 = 1 s; clamped to 50 ms..10 s).
pub(super) fn revocations(
    registry: Arc<dyn Registry>,
    signer: Arc<FeedSigner>,
    feed: &RevocationFeed,
    after: u64,
    heartbeat_ms: u32,
) -> ReceiverStream<Result<pb::Revocation, Status>> {
    let every = Duration::from_millis(if heartbeat_ms == 0 {
        1_000
    } else {
        u64::from(heartbeat_ms).clamp(50, 10_000)
    });
    // Subscribed before the backlog is read, so nothing recorded in between is missed.
    let (mut updates, mut stopping) = feed.subscribe();
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let registry = registry.as_ref();
        let signer = signer.as_ref();
        let mut last = after;
        if send_backlog(registry, signer, &tx, &mut last)
            .await
            .is_err()
            || send_heartbeat(registry, signer, &tx).await.is_err()
        {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let sent = tokio::select! {
                biased;
                update = updates.recv() => match update {
                    Ok(entry) if entry.sequence <= last => Ok(()),
                    Ok(entry) if entry.sequence == last + 1 => {
                        last = entry.sequence;
                        tx.send(convert::revocation(&entry, signer, entry.sequence, now_ms()).map_err(Into::into)).await.map_err(|_| ())
                    }
                    // A gap (concurrent revocations published out of order) or lost updates:
                    // the registry has them all.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => send_backlog(registry, signer, &tx, &mut last).await,
                    Err(broadcast::error::RecvError::Closed) => Err(()),
                },
                _ = tick.tick() => send_heartbeat(registry, signer, &tx).await,
                _ = tx.closed() => Err(()),
                _ = stopping.changed() => {
                    let _ = tx.send(Err(AuthorityError::ShuttingDown.into())).await;
                    Err(())
                }
            };
            if sent.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}

/// `WatchApprovals` for an authenticated overseer: `pending` first, then every change
/// (new, voted, decided, expired) from the `updates` subscribed before `pending` was read.
pub(super) fn approvals(
    subscribed: (broadcast::Receiver<ApprovalEntry>, watch::Receiver<bool>),
    pending: Vec<ApprovalEntry>,
) -> ReceiverStream<Result<pb::Approval, Status>> {
    let (mut updates, mut stopping) = subscribed;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        for approval in &pending {
            if tx.send(Ok(convert::approval(approval))).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                update = updates.recv() => match update {
                    Ok(approval) => {
                        if tx.send(Ok(convert::approval(&approval))).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(Err(AuthorityError::FellBehind.into())).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tx.closed() => return,
                _ = stopping.changed() => {
                    let _ = tx.send(Err(AuthorityError::ShuttingDown.into())).await;
                    return;
                }
            }
        }
    });
    ReceiverStream::new(rx)
}
