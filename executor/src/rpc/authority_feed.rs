//! The client edge to the authority: its root keys and its revocation feed, converted into
//! [`TrustState`]'s domain types.
//!
//! A background task keeps the trust state in sync: revocations arrive on the
//! `WatchRevocations` stream (resumed from the durable cursor after any disconnection), and the
//! authority's heartbeats on that stream confirm the view.

use std::sync::Arc;
use std::time::Duration;

use trust_proto::authority::v1 as pb;
use trust_sdk::client::AuthorityClient;

use super::authority_channel::AuthorityEndpoint;

use crate::trust_state::{RevocationEntry, TrustState};

fn entry(r: &pb::Revocation) -> RevocationEntry {
    RevocationEntry {
        sequence: r.sequence,
        revocation_id: r.revocation_id.clone(),
        grant_id: r.grant_id.clone(),
        reason: r.reason.clone(),
    }
}

/// Fetches keys and every revocation after the cursor; each is durable before it is used.
pub async fn sync_once(
    state: &TrustState,
    client: &mut AuthorityClient,
    now_ms: impl Fn() -> i64,
) -> Result<(), String> {
    let keys = client.public_keys().await.map_err(|e| e.to_string())?;
    state.store_keys(keys)?;
    loop {
        let cursor = state.revocation_cursor();
        let list = client
            .list_revocations(cursor)
            .await
            .map_err(|e| e.to_string())?;
        let entries: Vec<RevocationEntry> = list.revocations.iter().map(entry).collect();
        state.apply_revocations(&entries).await?;
        let next = state.revocation_cursor();
        if list.revocations.is_empty() || next >= list.latest_sequence {
            break;
        }
    }
    state.confirm_view(now_ms());
    Ok(())
}

/// Keeps `state` in sync with the authority at `endpoint`, forever.
///
/// Revocations come from the `WatchRevocations` stream, resumed from the durable cursor on
/// every (re)connection, so revocations recorded while the executor was cut off are applied
/// as soon as it is back. The authority sends a heartbeat (sequence 0) every `poll`; each
/// one confirms the revocation view (see [`TrustState::staleness_ms`]). A stream that stays
/// silent for five heartbeats (at least a second) is treated as lost and reopened. Root keys
/// are re-read every `poll` on the same connection.
pub fn spawn_sync(
    state: Arc<TrustState>,
    endpoint: AuthorityEndpoint,
    poll: Duration,
    now_ms: fn() -> i64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let retry = poll.clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut lost = false;
        loop {
            let e = follow_feed(&state, &endpoint, poll, now_ms, &mut lost).await;
            if !lost {
                tracing::warn!(error = %e, "revocation feed lost; serving on the cached view until the staleness bound, reconnecting");
            }
            lost = true;
            tokio::time::sleep(retry).await;
        }
    })
}

/// Re-reads the root keys and stores them.
async fn refresh_keys(state: &TrustState, client: &mut AuthorityClient) -> Result<(), String> {
    let keys = client.public_keys().await.map_err(|e| e.to_string())?;
    state.store_keys(keys)
}

/// One connection: keys, then the feed from the cursor until it fails. Returns why it ended.
async fn follow_feed(
    state: &TrustState,
    endpoint: &AuthorityEndpoint,
    heartbeat: Duration,
    now_ms: fn() -> i64,
    lost: &mut bool,
) -> String {
    let mut client = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    if let Err(e) = refresh_keys(state, &mut client).await {
        return e;
    }
    let from = state.revocation_cursor();
    let mut stream = match client.watch_revocations(from, heartbeat).await {
        Ok(s) => s,
        Err(e) => return e.to_string(),
    };
    let silence = (heartbeat * 5).max(Duration::from_secs(1));
    let mut last_message = tokio::time::Instant::now();
    let mut keys = tokio::time::interval(heartbeat.max(Duration::from_millis(250)));
    keys.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keys.tick().await;
    loop {
        tokio::select! {
            // `Streaming::message` is cancel-safe: losing the race to a timer drops nothing.
            message = stream.message() => {
                last_message = tokio::time::Instant::now();
                let revocation = match message {
                    Err(status) => return status.to_string(),
                    Ok(None) => return "the authority closed the revocation feed".into(),
                    Ok(Some(r)) => r,
                };
                if revocation.sequence == 0 {
                    // Heartbeat: everything the authority recorded before it has arrived.
                    state.confirm_view(now_ms());
                    if *lost {
                        tracing::info!(cursor = state.revocation_cursor(), resumed_from = from,
                            "revocation feed is back; revocation view is current");
                        *lost = false;
                    }
                } else if let Err(e) = state.apply_revocations(&[entry(&revocation)]).await {
                    return e;
                } else {
                    tracing::info!(sequence = revocation.sequence, grant_id = %revocation.grant_id,
                        reason = %revocation.reason, "revocation applied");
                }
            }
            _ = tokio::time::sleep_until(last_message + silence) => {
                return format!("no heartbeat for {} ms", silence.as_millis());
            }
            _ = keys.tick() => {
                match tokio::time::timeout(silence, refresh_keys(state, &mut client)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return e,
                    Err(_) => return "the authority did not answer for its keys".into(),
                }
            }
        }
    }
}
