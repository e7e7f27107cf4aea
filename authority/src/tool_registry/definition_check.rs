//! What a tool or skill definition must be before the registry takes it: ids, owner, a
//! parameter schema inside the subset, an upstream whose URL template parses with a host that
//! is a DNS name or an address, a valid secret header; for a skill, a content digest and
//! tools that exist at the versions it names.
//!
//! The executor applies its destination policy to the upstream again at call time: the
//! registry only refuses what can never be called.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use trust_sdk::tool_schema_subset;
use trust_sdk::tools::{is_valid_id, SkillDefinition, ToolDefinition, MAX_ID_BYTES};
use trust_sdk::vocabulary::{is_secret_name, InjectTarget};

use crate::error::AuthorityError;

/// Longest owner name, in bytes.
const MAX_OWNER_BYTES: usize = 128;
/// Longest description, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Longest URL template, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// Most tools one skill may need.
const MAX_SKILL_TOOLS: usize = 32;
/// The HTTP methods an upstream may use.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

fn invalid(why: String) -> AuthorityError {
    AuthorityError::InvalidArgument(why)
}

fn check_id(kind: &str, id: &str) -> Result<(), AuthorityError> {
    if is_valid_id(id) {
        return Ok(());
    }
    Err(invalid(format!(
        "{kind} id `{}` is not lowercase letters, digits, `-`, `_` and `.` (not first) of at most {MAX_ID_BYTES} bytes",
        id.escape_debug()
    )))
}

fn check_common(kind: &str, id: &str, version: u32, owner: &str) -> Result<(), AuthorityError> {
    check_id(kind, id)?;
    if version == 0 {
        return Err(invalid(format!("{kind} `{id}`: versions start at 1")));
    }
    if owner.trim().is_empty() || owner.len() > MAX_OWNER_BYTES || owner.contains('\0') {
        return Err(invalid(format!(
            "{kind} `{id}`: `owner` must name someone in at most {MAX_OWNER_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Checks a tool definition (its state is ignored: registration makes it a draft).
pub fn check_tool(tool: &ToolDefinition) -> Result<(), AuthorityError> {
    check_common("tool", &tool.id, tool.version, &tool.owner)?;
    let id = &tool.id;
    if tool.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(invalid(format!(
            "tool `{id}`: `description` is longer than {MAX_DESCRIPTION_BYTES} bytes"
        )));
    }
    let parameters = tool_schema_subset::check(&tool.parameters)
        .map_err(|e| invalid(format!("tool `{id}`: {e}")))?;
    let names: BTreeSet<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
    if !METHODS.contains(&tool.upstream.method.as_str()) {
        return Err(invalid(format!(
            "tool `{id}`: upstream method `{}` is not one of {}",
            tool.upstream.method.escape_debug(),
            METHODS.join(", ")
        )));
    }
    check_url_template(&tool.upstream.url_template, &names)
        .map_err(|why| invalid(format!("tool `{id}`: upstream URL template: {why}")))?;
    if let Some(secret) = &tool.secret {
        if !is_secret_name(&secret.name) {
            return Err(invalid(format!(
                "tool `{id}`: secret name `{}` is not a valid secret name",
                secret.name.escape_debug()
            )));
        }
        format!("header:{}", secret.header)
            .parse::<InjectTarget>()
            .map_err(|e| invalid(format!("tool `{id}`: secret header: {e}")))?;
    }
    Ok(())
}

/// Checks `template`: `http` or `https`, a host that is a DNS name or an IP address, an
/// optional port, no user info, and `{name}` placeholders (naming parameters) only after the
/// host.
pub fn check_url_template(template: &str, parameters: &BTreeSet<&str>) -> Result<(), String> {
    if template.len() > MAX_URL_BYTES {
        return Err(format!("longer than {MAX_URL_BYTES} bytes"));
    }
    if template
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("contains whitespace or control characters".into());
    }
    let (scheme, rest) = template
        .split_once("://")
        .ok_or_else(|| format!("`{template}` has no scheme"))?;
    if scheme != "https" && scheme != "http" {
        return Err(format!("scheme `{scheme}` is not http or https"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if tail.contains('#') {
        return Err("a fragment is never sent; remove it".into());
    }
    if authority.contains(['@', '{', '}']) {
        return Err(format!(
            "the host part `{authority}` may hold neither user info nor placeholders"
        ));
    }
    check_authority(authority)?;
    check_placeholders(tail, parameters)
}

fn check_authority(authority: &str) -> Result<(), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (address, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{authority}` opens `[` without closing it"))?;
        address
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("`{address}` is not an IPv6 address"))?;
        match after {
            "" => (address, None),
            p => (
                address,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("unexpected `{p}` after the address"))?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && !port.starts_with('+') => {}
            _ => return Err(format!("port `{port}` is not 1-65535")),
        }
    }
    if host.is_empty() {
        return Err("no host".into());
    }
    if authority.starts_with('[') || host.parse::<Ipv4Addr>().is_ok() || is_dns_name(host) {
        return Ok(());
    }
    Err(format!(
        "host `{host}` is neither a DNS name nor an IP address"
    ))
}

/// A DNS name: dot-separated labels of letters, digits and `-` (not at either end), each 1-63
/// bytes, at most 253 in all, not all digits in its last label.
fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && host
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

fn check_placeholders(tail: &str, parameters: &BTreeSet<&str>) -> Result<(), String> {
    let mut rest = tail;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("`}` without `{`".into());
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "`{` without `}`".to_string())?;
        let name = &after[..close];
        if !parameters.contains(name) {
            return Err(format!(
                "placeholder `{{{name}}}` names no parameter of the schema"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// Checks a skill definition: ids, owner, a 64-hex-digit content digest, and at least one
/// tool, none twice. Whether its tools exist is the registry's check.
pub fn check_skill(skill: &SkillDefinition) -> Result<(), AuthorityError> {
    check_common("skill", &skill.id, skill.version, &skill.owner)?;
    let id = &skill.id;
    if skill.content_digest.len() != 64
        || !skill
            .content_digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid(format!(
            "skill `{id}`: `content_digest` must be 64 lowercase hex digits (SHA-256), not `{}`",
            skill.content_digest.escape_debug()
        )));
    }
    if skill.tools.is_empty() || skill.tools.len() > MAX_SKILL_TOOLS {
        return Err(invalid(format!(
            "skill `{id}` must need between 1 and {MAX_SKILL_TOOLS} tools"
        )));
    }
    let mut seen = BTreeSet::new();
    for tool in &skill.tools {
        check_id("tool", &tool.id)?;
        if !seen.insert(tool.id.as_str()) {
            return Err(invalid(format!(
                "skill `{id}` names tool `{}` twice",
                tool.id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> BTreeSet<&'static str> {
        ["invoice_id", "amount"].into_iter().collect()
    }

    #[test]
    fn url_templates() {
        for ok in [
            "https://erp.example/invoices/{invoice_id}/validate",
            "http://127.0.0.1:8080/x?amount={amount}",
            "https://[::1]:9443/v1",
            "https://api.example.com",
        ] {
            check_url_template(ok, &names()).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [
            ("erp.example/x", "no scheme"),
            ("ftp://erp.example/x", "scheme `ftp`"),
            ("https://user@erp.example/", "user info"),
            ("https://{invoice_id}.example/", "placeholders"),
            ("https://erp_example/", "neither a DNS name"),
            ("https://erp.example:0/", "port `0`"),
            ("https://erp.example:99999/", "port `99999`"),
            ("https://999.1.1.1/", "neither a DNS name"),
            ("https://[::g]/", "not an IPv6 address"),
            ("https:///x", "no host"),
            (
                "https://erp.example/{customer}",
                "`{customer}` names no parameter",
            ),
            ("https://erp.example/{amount", "without `}`"),
            ("https://erp.example/a b", "whitespace"),
            ("https://erp.example/#frag", "fragment"),
        ] {
            let err = check_url_template(bad, &names()).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
