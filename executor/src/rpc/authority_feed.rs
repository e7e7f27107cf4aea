//! The client edge to the authority: its signed root key set and its signed revocation feed,
//! converted into [`TrustState`]'s domain types.
//!
//! A background task keeps the trust state in sync: revocations arrive on the
//! `WatchRevocations` stream (resumed from the durable cursor after any disconnection), and the
//! authority's heartbeats on that stream confirm the view. Nothing unsigned is used: the key
//! set must be vouched for by a pinned or accepted key, and entries and heartbeats are the
//! authority's signed statements (`TrustState::believe`); the unsigned fields of a message are
//! ignored. A heartbeat that states more revocations than the executor holds prompts one fetch
//! (`ListRevocations`); if that does not bring them, they are being withheld (trust alarm).

use std::sync::Arc;
use std::time::Duration;

use trust_proto::authority::v1 as pb;
use trust_sdk::client::AuthorityClient;
use trust_sdk::feed_statement::FeedStatement;
use trust_sdk::trust_wire;

use super::authority_channel::AuthorityEndpoint;

use crate::trust_state::{FeedDoubt, HeartbeatView, RevocationEntry, TrustState};

/// Fetches the key set and every revocation after the cursor; each is durable before it is
/// used, and the list's signed heartbeat confirms the view.
pub async fn sync_once(
    state: &TrustState,
    client: &mut AuthorityClient,
    now_ms: impl Fn() -> i64,
) -> Result<(), String> {
    refresh_keys(state, client, now_ms()).await?;
    loop {
        let cursor = state.revocation_cursor();
        let list = client
            .list_revocations(cursor)
            .await
            .map_err(|e| e.to_string())?;
        let heartbeat = believe(state, client, list.heartbeat.as_ref(), &now_ms).await?;
        apply(state, client, &list.revocations, &now_ms).await?;
        let more =
            !list.revocations.is_empty() && state.revocation_cursor() < heartbeat.latest_sequence;
        if more {
            continue;
        }
        return match state.observe_heartbeat(&heartbeat, now_ms()) {
            Ok(HeartbeatView::Current | HeartbeatView::Old) => Ok(()),
            Ok(HeartbeatView::Behind(_)) => state
                .require_caught_up(&heartbeat, now_ms())
                .map_err(|a| a.to_string()),
            Err(alarm) => Err(alarm.to_string()),
        };
    }
}

/// Believes a signed statement, refreshing the key set once if a key id is not known yet
/// (the authority may have rotated since the last refresh).
async fn believe(
    state: &TrustState,
    client: &mut AuthorityClient,
    statement: Option<&pb::SignedFeedStatement>,
    now_ms: &impl Fn() -> i64,
) -> Result<FeedStatement, String> {
    let signed = trust_wire::statement_from_proto(statement);
    match state.believe(&signed, now_ms()) {
        Ok(s) => Ok(s),
        Err(FeedDoubt::UnknownKey(_)) => {
            refresh_keys(state, client, now_ms()).await?;
            state.believe(&signed, now_ms()).map_err(|doubt| match doubt {
                FeedDoubt::UnknownKey(id) => state
                    .raise(crate::trust_alarm::TrustAlarm::new(
                        crate::trust_alarm::AlarmKind::ForgedFeed,
                        format!("the revocation feed is signed by root key {id}, which is not in the authority's key set"),
                        now_ms(),
                    ))
                    .to_string(),
                FeedDoubt::Alarm(a) => a.to_string(),
            })
        }
        Err(FeedDoubt::Alarm(a)) => Err(a.to_string()),
    }
}

/// Believes and applies revocation entries.
async fn apply(
    state: &TrustState,
    client: &mut AuthorityClient,
    revocations: &[pb::Revocation],
    now_ms: &impl Fn() -> i64,
) -> Result<(), String> {
    let mut entries: Vec<RevocationEntry> = Vec::with_capacity(revocations.len());
    for r in revocations {
        let statement = believe(state, client, r.statement.as_ref(), now_ms).await?;
        let entry = state
            .entry(&statement, &r.reason, now_ms())
            .map_err(|a| a.to_string())?;
        entries.push(entry);
    }
    state.apply_revocations(&entries).await
}

/// Keeps `state` in sync with the authority at `endpoint`, forever.
///
/// Revocations come from the `WatchRevocations` stream, resumed from the durable cursor on
/// every (re)connection, so revocations recorded while the executor was cut off are applied
/// as soon as it is back. The authority sends a heartbeat (sequence 0) every `poll`; each
/// one confirms the revocation view (see [`TrustState::staleness_ms`]). A stream that stays
/// silent for five heartbeats (at least a second) is treated as lost and reopened. The key
/// set is re-read every `poll` on the same connection.
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

/// Re-reads the signed key set and accepts it if a trusted key vouches for it (otherwise a
/// trust alarm is raised).
async fn refresh_keys(
    state: &TrustState,
    client: &mut AuthorityClient,
    now_ms: i64,
) -> Result<(), String> {
    let signed = client.signed_key_set().await.map_err(|e| e.to_string())?;
    state
        .accept_key_set(&signed, now_ms)
        .map_err(|alarm| alarm.to_string())
}

/// One feed message: an entry is applied, a heartbeat checked (and, when it states more than
/// the executor holds, followed by one fetch).
async fn on_message(
    state: &TrustState,
    client: &mut AuthorityClient,
    message: &pb::Revocation,
    now_ms: fn() -> i64,
) -> Result<bool, String> {
    let statement = believe(state, client, message.statement.as_ref(), &now_ms).await?;
    if !statement.is_heartbeat() {
        let entry = state
            .entry(&statement, &message.reason, now_ms())
            .map_err(|a| a.to_string())?;
        let change = entry.catalog.as_ref().map(|c| c.describe());
        state.apply_revocations(&[entry]).await?;
        match change {
            Some(change) => tracing::info!(sequence = statement.sequence, %change,
                reason = %message.reason, "tool registry change applied"),
            None => tracing::info!(sequence = statement.sequence, grant_id = %statement.grant_id,
                reason = %message.reason, "revocation applied"),
        }
        return Ok(false);
    }
    match state
        .observe_heartbeat(&statement, now_ms())
        .map_err(|a| a.to_string())?
    {
        HeartbeatView::Current => Ok(true),
        HeartbeatView::Old => Ok(false),
        HeartbeatView::Behind(_) => {
            // Entries recorded after the stream's last one, or withheld: fetch them.
            let list = client
                .list_revocations(state.revocation_cursor())
                .await
                .map_err(|e| e.to_string())?;
            apply(state, client, &list.revocations, &now_ms).await?;
            state
                .require_caught_up(&statement, now_ms())
                .map_err(|a| a.to_string())?;
            Ok(true)
        }
    }
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
    if let Err(e) = refresh_keys(state, &mut client, now_ms()).await {
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
                let message = match message {
                    Err(status) => return status.to_string(),
                    Ok(None) => return "the authority closed the revocation feed".into(),
                    Ok(Some(r)) => r,
                };
                match tokio::time::timeout(silence, on_message(state, &mut client, &message, now_ms)).await {
                    Ok(Ok(true)) if *lost => {
                        tracing::info!(cursor = state.revocation_cursor(), resumed_from = from,
                            "revocation feed is back; revocation view is current");
                        *lost = false;
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return e,
                    Err(_) => return "the authority did not answer a catch-up fetch".into(),
                }
            }
            _ = tokio::time::sleep_until(last_message + silence) => {
                return format!("no heartbeat for {} ms", silence.as_millis());
            }
            _ = keys.tick() => {
                match tokio::time::timeout(silence, refresh_keys(state, &mut client, now_ms())).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return e,
                    Err(_) => return "the authority did not answer for its keys".into(),
                }
            }
        }
    }
}
