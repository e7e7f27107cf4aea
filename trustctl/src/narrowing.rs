//! What `grant attenuate` and `grant derive` share: the narrowing flags, the narrowing they
//! describe, and verifying the grant they start from.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use biscuit_auth::Biscuit;
use clap::{ArgGroup, Args};
use trust_sdk::attenuate::Attenuation;
use trust_sdk::client::AuthorityClient;

use crate::util;

/// Arguments of `trustctl grant attenuate`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("verify_with").args(["authority", "public_key"]).required(true)))]
pub struct AttenuateArgs {
    /// Grant file to narrow, or `-` for standard input.
    #[arg(long)]
    pub grant: PathBuf,
    /// Verify the grant against the root keys of this authority first.
    #[arg(long)]
    pub authority: Option<String>,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Verify the grant against this hex root public key first.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Allow only these operations (repeatable), e.g. --operation fs.read.
    #[arg(long = "operation", value_name = "OP")]
    pub operations: Vec<String>,
    /// Allow file operations only under these workspace-relative prefixes (repeatable).
    #[arg(long = "prefix", value_name = "PATH")]
    pub prefixes: Vec<String>,
    /// Allow only these named commands for proc.run (repeatable).
    #[arg(long = "command", value_name = "NAME")]
    pub commands: Vec<String>,
    /// Expire this long from now (e.g. 5m), at the latest.
    #[arg(long, value_parser = trust_sdk::duration::parse_duration_or_seconds, conflicts_with = "expires")]
    pub ttl: Option<std::time::Duration>,
    /// Expire at this RFC 3339 time (e.g. 2025-01-31T12:00:00Z), at the latest.
    #[arg(long)]
    pub expires: Option<String>,
    /// NAME=N, repeatable: a tighter numeric limit such as read_bytes=4096.
    #[arg(long = "limit", value_name = "NAME=N")]
    pub limits: Vec<String>,
    /// TOOL:CONSTRAINT, repeatable: a further argument constraint on `tool.invoke`, such as
    /// `invoice-pay:amount<=50` (`<=`, `>=`, `<`, `>`, `==`, `in [a, b]`, `starts_with "x"`,
    /// `matches "re"`, `== task.FIELD`). Each adds a check: it can only tighten.
    #[arg(long = "arg", value_name = "TOOL:CONSTRAINT")]
    pub tool_arguments: Vec<String>,
    /// SOURCE:KEY=VALUE, repeatable: read less of a context source (`context.retrieve`), with
    /// the keys of a profile's context rule: `classifications=public,internal`,
    /// `max_classification=internal`, `jurisdictions=EU`, `window_from=2026-01-01`,
    /// `window_to=2026-06-30`, `max_documents=5`, `max_bytes=65536`, `redact=mask:email`.
    /// Each can only tighten.
    #[arg(long = "context", value_name = "SOURCE:KEY=VALUE")]
    pub context: Vec<String>,
    /// Where to write the narrowed grant (`-` for standard output).
    #[arg(long)]
    pub out: PathBuf,
}

/// Verifies `bytes` against an authority's key set or one public key.
pub(crate) async fn verify(
    bytes: &[u8],
    authority: Option<&str>,
    public_key: Option<&str>,
    tls: &crate::transport::TransportArgs,
) -> anyhow::Result<Option<(Biscuit, String)>> {
    if let Some(endpoint) = authority {
        let mut client = AuthorityClient::connect(endpoint.to_string(), &tls.transport()?)
            .await
            .map_err(util::sdk)?;
        let keys = client.public_keys().await.map_err(util::sdk)?;
        let token =
            Biscuit::from(bytes, trust_sdk::client::root_key_provider(&keys)).map_err(|e| {
                anyhow!("the grant does not verify against the keys of {endpoint}: {e}")
            })?;
        let how = format!(
            "verified against root key {} of {endpoint}",
            token
                .root_key_id()
                .map(|id| id.to_string())
                .unwrap_or_else(|| "?".into())
        );
        return Ok(Some((token, how)));
    }
    if let Some(text) = public_key {
        let key = util::parse_public_key(text)?;
        let biscuit_key = trust_sdk::keys::to_biscuit_public(&key)?;
        let token = Biscuit::from(bytes, biscuit_key).map_err(|e| {
            anyhow!(
                "the grant does not verify against ed25519/{}: {e}",
                hex::encode(key.as_bytes())
            )
        })?;
        return Ok(Some((
            token,
            format!("verified against ed25519/{}", hex::encode(key.as_bytes())),
        )));
    }
    Ok(None)
}

/// A prefix in normal form (the SDK's one lexical check).
fn normalize_prefix(prefix: &str) -> anyhow::Result<String> {
    trust_sdk::path::normalize_relative(prefix)
        .map_err(|e| anyhow!("prefix `{prefix}` is not a workspace-relative path: {e}"))
}

/// The narrowing the attenuate/derive flags describe.
pub(crate) fn narrowing_from(args: &AttenuateArgs) -> anyhow::Result<Attenuation> {
    let expires_at = match (&args.ttl, &args.expires) {
        (Some(ttl), _) => Some(trust_sdk::clock::now() + *ttl),
        (None, Some(text)) => Some(trust_sdk::clock::from_millis(
            util::parse_rfc3339_ms(text).map_err(|e| anyhow!(e))?,
        )),
        (None, None) => None,
    };
    let limits = args
        .limits
        .iter()
        .map(|l| {
            let (name, value) = util::parse_pair(l, "limit")?;
            let value: i64 = value
                .parse()
                .with_context(|| format!("limit `{l}`: `{value}` is not an integer"))?;
            Ok((name, value))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let prefixes = match non_empty(&args.prefixes) {
        Some(ps) => Some(
            ps.iter()
                .map(|p| normalize_prefix(p))
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let tool_arguments = args
        .tool_arguments
        .iter()
        .map(|a| trust_sdk::vocabulary::tool_args::ToolArgConstraint::parse_scoped(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(util::sdk)?;
    let attenuation = Attenuation {
        operations: non_empty(&args.operations),
        prefixes,
        commands: non_empty(&args.commands),
        expires_at,
        limits,
        tool_arguments,
        context: trust_sdk::vocabulary::context_narrowing::parse_flags(&args.context)
            .map_err(util::sdk)?,
    };
    if attenuation == Attenuation::default() {
        bail!(
            "nothing to narrow: give --operation, --prefix, --command, --ttl, --expires, --limit, --arg or --context"
        );
    }
    Ok(attenuation)
}
