//! `context.retrieve` through real servers over TLS: a directory source of labelled documents,
//! a profile rule (internal at most, EU only, one year, ten documents, email masked, IBAN
//! dropped, customer ids masked). Only permitted classifications within the window come back;
//! the planted emails, IBANs and customer ids are absent from the response and from the
//! provenance export, which lists the returned document ids with their digests and how often
//! each redaction applied. An appended block and a delegation block tighten classification
//! and limits and cannot widen them. Attacks: a path-like source, symbolic links out of the
//! source, forged and malformed front matter, a twin id, a huge document, a pattern query.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use biscuit_auth::{Biscuit, BlockBuilder};
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::ContextRetrieveResult;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::client::{root_key_provider, ContextQuery};
use trust_sdk::derive::{delegation_block, derive, Derivation};
use trust_sdk::error::SdkError;
use trust_sdk::provenance::ProvenanceEntry;
use trust_sdk::vocabulary::context::{day_of, format_day};
use trust_sdk::vocabulary::context_narrowing::parse_flags;
use trust_tests::cluster::coding_profile;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

/// Values planted in the documents that must never leave the executor.
const PLANTED: &[&str] = &[
    "claims.desk@insure.example",
    "jane.doe@customer.example",
    "bob.holder@mail.example",
    "DE89 3704 0044 0532 0130 00",
    "GB29NWBK60161331926819",
    "CUST-004211",
    "CUST-009977",
];

const RULE: &str = r#"
[[allow]]
id = "kb-read"
operations = ["context.retrieve"]
resources = ["kb"]
max_classification = "internal"
jurisdictions = ["EU"]
max_age = "365d"
max_documents = 10
max_bytes = 65536
redact = ["mask:email", "drop:iban", "mask:customer_id"]
"#;

const EXECUTOR: &str = r#"
[[context_source]]
name = "kb"
kind = "directory"
path = "kb"

[context]
customer_id_pattern = "CUST-[0-9]{6}"
max_document_bytes = 65536
"#;

fn doc(
    id: &str,
    class: &str,
    jurisdiction: &str,
    date: &str,
    title: &str,
    extra: &str,
    body: &str,
) -> String {
    format!(
        "---\nid: {id}\ntitle: {title}\nclassification: {class}\nowner: claims-team\njurisdiction: {jurisdiction}\ndate: {date}\n{extra}---\n{body}\n"
    )
}

/// The source tree (and a folder outside it that symbolic links point to).
fn write_source(root: &Path) {
    let today = day_of(trust_sdk::clock::now());
    let recent = format_day(today - 10);
    let older = format_day(today - 20);
    let stale = format_day(today - 800);
    let kb = root.join("kb");
    let outside = root.join("outside");
    std::fs::create_dir_all(kb.join("claims")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let files = [
        ("policy.md", doc("pub-1", "public", "EU", &recent, "Claims policy overview",
            "fields:\n  customer: CUST-004211\n  iban: GB29NWBK60161331926819\n  contact: jane.doe@customer.example\n  region: north\n",
            "Write to claims.desk@insure.example.\nRefunds go to DE89 3704 0044 0532 0130 00 only.\nCustomer CUST-009977 asked twice.\nProcess notes follow.")),
        ("claims/water.md", doc("int-1", "internal", "EU", &older, "Water damage, flat 3", "",
            "Water damage reported by bob.holder@mail.example on the ground floor.")),
        ("claims/fraud.md", doc("conf-1", "confidential", "EU", &recent, "Water damage fraud review", "", "CONFIDENTIAL-BODY water damage")),
        ("claims/old.md", doc("old-1", "internal", "EU", &stale, "Water damage 2024", "", "STALE-BODY water damage")),
        ("claims/us.md", doc("us-1", "public", "US", &recent, "Water damage in Ohio", "", "US-BODY water damage")),
        // Forged: a second classification line would relabel a restricted document.
        ("claims/forged.md", format!("---\nid: forged-1\nclassification: restricted\nowner: x\njurisdiction: EU\ndate: {recent}\nclassification: public\n---\nFORGED-BODY water damage\n")),
        ("claims/malformed.md", "no front matter at all, MALFORMED-BODY water damage\n".to_string()),
        // Two documents claiming one id: neither is returned.
        ("claims/twin-a.md", doc("twin", "public", "EU", &recent, "Twin A", "", "TWIN-BODY water damage")),
        ("claims/twin-b.md", doc("twin", "public", "EU", &recent, "Twin B", "", "TWIN-BODY water damage")),
    ];
    for (path, text) in files {
        std::fs::write(kb.join(path), text).unwrap();
    }
    // Huge: over the executor's 64 KiB cap.
    let huge = doc(
        "huge-1",
        "public",
        "EU",
        &recent,
        "Huge",
        "",
        &"HUGE-BODY water damage\n".repeat(4000),
    );
    std::fs::write(kb.join("huge.md"), huge).unwrap();
    // Outside the source: a valid public document reached only through symbolic links.
    std::fs::write(
        outside.join("secret.md"),
        doc(
            "outside-1",
            "public",
            "EU",
            &recent,
            "Outside",
            "",
            "OUTSIDE-BODY water damage",
        ),
    )
    .unwrap();
    symlink(outside.join("secret.md"), kb.join("escape.md")).unwrap();
    symlink(&outside, kb.join("linked")).unwrap();
}

fn ids(result: &ContextRetrieveResult) -> Vec<&str> {
    result.documents.iter().map(|d| d.id.as_str()).collect()
}

fn query(text: &str) -> ContextQuery {
    ContextQuery {
        source: "kb".into(),
        query: text.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_permitted_documents_leave_redacted_and_provenance_names_them() {
    let mut cluster = Cluster::start(ClusterOptions {
        profile: Some(coding_profile().unwrap() + RULE),
        executor_extra: EXECUTOR.into(),
        start_executor: false,
        ..ClusterOptions::default()
    })
    .unwrap();
    write_source(cluster.dir.path());
    cluster.start_executor().unwrap();

    // A path-like source is refused at the authority.
    let refused = cluster
        .grant("ctx", &[("context.retrieve", "../kb")])
        .await
        .unwrap();
    assert_eq!(refused.effect, Effect::Deny, "{refused:?}");
    let answer = cluster
        .grant("ctx", &[("context.retrieve", "kb")])
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.clone().unwrap();
    let key = cluster.agent_key.clone();
    let mut exec = cluster.executor_client().await.unwrap();

    // Only public/internal, EU, within a year; newest first; everything else skipped.
    let all = exec
        .context_retrieve(&grant, &key, &query(""))
        .await
        .unwrap();
    assert_eq!(ids(&all), ["pub-1", "int-1"], "{all:?}");
    assert!(!all.truncated);
    assert_eq!(
        all.unlabeled, 4,
        "forged, malformed and both twins: {all:?}"
    );
    assert_eq!(all.oversized, 1, "{all:?}");
    let wire = format!("{all:?}");
    for value in PLANTED {
        assert!(!wire.contains(value), "`{value}` left the executor: {wire}");
    }
    for marker in [
        "CONFIDENTIAL-BODY",
        "STALE-BODY",
        "US-BODY",
        "FORGED-BODY",
        "MALFORMED-BODY",
        "TWIN-BODY",
        "HUGE-BODY",
        "OUTSIDE-BODY",
    ] {
        assert!(!wire.contains(marker), "{marker} returned: {wire}");
    }
    let public = &all.documents[0];
    assert!(
        public.content.contains("Write to [redacted:email]."),
        "{}",
        public.content
    );
    assert!(
        !public.content.contains("Refunds go to"),
        "the IBAN line is dropped: {}",
        public.content
    );
    assert!(public
        .content
        .contains("Customer [redacted:customer_id] asked twice."));
    assert_eq!(
        public.fields.get("customer").map(String::as_str),
        Some("[redacted:customer_id]")
    );
    assert_eq!(
        public.fields.get("contact").map(String::as_str),
        Some("[redacted:email]")
    );
    assert!(
        !public.fields.contains_key("iban"),
        "the IBAN field is dropped"
    );
    assert_eq!(
        public.fields.get("region").map(String::as_str),
        Some("north")
    );
    assert_eq!(
        public.sha256,
        tool_executor::context::retrieve::document_digest(
            &public.id,
            &public.fields.clone().into_iter().collect(),
            &public.content
        )
    );
    let counts: Vec<(&str, &str, u64)> = all
        .redactions
        .iter()
        .map(|r| (r.rule.as_str(), r.mode.as_str(), r.count))
        .collect();
    assert_eq!(
        counts,
        [
            ("email", "mask", 3),
            ("iban", "drop", 2),
            ("customer_id", "mask", 2)
        ]
    );

    // The query matches after redaction and filtering: never an oracle.
    let water = exec
        .context_retrieve(&grant, &key, &query("WATER damage"))
        .await
        .unwrap();
    assert_eq!(ids(&water), ["int-1"]);
    let oracle = exec
        .context_retrieve(&grant, &key, &query("claims.desk@insure.example"))
        .await
        .unwrap();
    assert!(oracle.documents.is_empty(), "{oracle:?}");
    // A pattern is only text: no regex from the agent, so no backtracking.
    let started = Instant::now();
    let pattern = exec
        .context_retrieve(&grant, &key, &query("(a+)+$ ^(a|aa)*$ .*.*.*=.*"))
        .await
        .unwrap();
    assert!(pattern.documents.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
    let long = exec
        .context_retrieve(&grant, &key, &query(&"a".repeat(300)))
        .await
        .unwrap_err();
    assert_eq!(code(&long), "InvalidArgument", "{long}");

    // Request filters only narrow; asking for more than the grant is refused.
    let narrowed = exec
        .context_retrieve(
            &grant,
            &key,
            &ContextQuery {
                max_documents: 1,
                ..query("")
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&narrowed), ["pub-1"]);
    assert!(narrowed.truncated);
    let wider = exec
        .context_retrieve(
            &grant,
            &key,
            &ContextQuery {
                classifications: vec!["confidential".into()],
                ..query("")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(code(&wider), "PermissionDenied", "{wider}");
    assert!(wider.to_string().contains("context-scope"), "{wider}");

    // Path-like and ungranted sources at the executor.
    for (source, expected) in [
        ("../kb", "InvalidArgument"),
        ("kb/../kb", "InvalidArgument"),
        ("/etc", "InvalidArgument"),
        ("other", "PermissionDenied"),
    ] {
        let err = exec
            .context_retrieve(
                &grant,
                &key,
                &ContextQuery {
                    source: source.into(),
                    ..query("")
                },
            )
            .await
            .unwrap_err();
        assert_eq!(code(&err), expected, "{source}: {err}");
    }

    // An appended block (what `biscuit attenuate --block` writes) tightens...
    let mut authority = cluster.authority_client().await.unwrap();
    let keys = authority.public_keys().await.unwrap();
    let root = Biscuit::from(&grant, root_key_provider(&keys)).unwrap();
    let append = |code: &str| {
        root.append(BlockBuilder::new().code(code).unwrap())
            .unwrap()
            .to_vec()
            .unwrap()
    };
    let public_only =
        append(r#"context_classification("kb", "public"); context_limit("kb", "bytes", 100000);"#);
    let got = exec
        .context_retrieve(&public_only, &key, &query(""))
        .await
        .unwrap();
    assert_eq!(ids(&got), ["pub-1"]);
    // ...and cannot widen: a classification outside the grant leaves none; larger limits,
    // any jurisdiction and a wider window change nothing.
    let widen_class = append(r#"context_classification("kb", "confidential");"#);
    let err = exec
        .context_retrieve(&widen_class, &key, &query(""))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    let widen_rest = append(
        r#"context_jurisdiction("kb", "*"); context_limit("kb", "documents", 1000);
           context_window("kb", 1970-01-01T00:00:00Z, 9999-12-31T00:00:00Z);
           context_classification("kb", "public"); context_classification("kb", "internal");
           context_classification("kb", "confidential"); context_classification("kb", "restricted");"#,
    );
    let same = exec
        .context_retrieve(&widen_rest, &key, &query(""))
        .await
        .unwrap();
    assert_eq!(ids(&same), ["pub-1", "int-1"]);
    // A malformed narrowing is refused rather than ignored.
    let malformed = append(r#"context_limit("kb", "documents", "many");"#);
    let err = exec
        .context_retrieve(&malformed, &key, &query(""))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument", "{err}");

    // A delegation block for a sub-agent tightens the same way.
    let child = trust_sdk::keys::generate();
    let parent_vk = key.verifying_key();
    let block = delegation_block(
        &parent_vk,
        &child.verifying_key(),
        &uuid::Uuid::now_v7().to_string(),
        &answer.grant_id,
        &Derivation { purpose: "summarise".into(), ..Default::default() },
    )
    .unwrap()
    .merge(BlockBuilder::new().code(r#"context_limit("kb", "documents", 1); context_redact("kb", "regex:north", "mask");"#).unwrap());
    let signed = root
        .third_party_request()
        .unwrap()
        .create_block(&trust_sdk::keys::to_biscuit_private(&key).unwrap(), block)
        .unwrap();
    let derived = root
        .append_third_party(
            trust_sdk::keys::to_biscuit_public(&parent_vk).unwrap(),
            signed,
        )
        .unwrap()
        .to_vec()
        .unwrap();
    let got = exec
        .context_retrieve(&derived, &child, &query(""))
        .await
        .unwrap();
    assert_eq!(ids(&got), ["pub-1"]);
    assert!(got.truncated);
    assert_eq!(
        got.documents[0].fields.get("region").map(String::as_str),
        Some("[redacted:regex]")
    );

    // `trustctl grant derive --context` (the SDK's `derive` with the same flags): the sub-agent
    // reads only what the flags keep, and a flag reaching beyond the grant is refused offline.
    let narrowing = |flags: &[&str]| Derivation {
        narrowing: Attenuation {
            context: parse_flags(&flags.iter().map(|f| f.to_string()).collect::<Vec<_>>()).unwrap(),
            ..Default::default()
        },
        purpose: "public only".into(),
        derived_id: None,
    };
    let kid = trust_sdk::keys::generate();
    let public_kid = derive(
        &root,
        &key,
        &kid.verifying_key(),
        &narrowing(&["kb:max_classification=public", "kb:redact=mask:regex:north"]),
    )
    .unwrap()
    .token
    .to_vec()
    .unwrap();
    let got = exec
        .context_retrieve(&public_kid, &kid, &query(""))
        .await
        .unwrap();
    assert_eq!(ids(&got), ["pub-1"]);
    assert_eq!(
        got.documents[0].fields.get("region").map(String::as_str),
        Some("[redacted:regex]")
    );
    for flag in [
        "kb:classifications=confidential",
        "kb:jurisdictions=US",
        "kb:max_documents=1000",
        "kb:window_from=1970-01-01",
        "other:max_documents=1",
    ] {
        let err = derive(&root, &key, &kid.verifying_key(), &narrowing(&[flag])).unwrap_err();
        assert!(matches!(err, SdkError::Widening(_)), "{flag}: {err}");
    }

    // Provenance: the returned ids and digests, the redaction counts, the refusals; never a
    // redacted value.
    let export = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let bytes = export.join("\n");
    for value in PLANTED {
        assert!(
            !bytes.contains(value),
            "`{value}` is in the provenance export"
        );
    }
    let records: Vec<_> = export
        .iter()
        .filter_map(
            |line| match serde_json::from_str::<ProvenanceEntry>(line).unwrap() {
                ProvenanceEntry::Record(r) if r.operation == "context.retrieve" => Some(r),
                _ => None,
            },
        )
        .collect();
    let first = records.iter().find(|r| r.decision == "allow").unwrap();
    let reasons = first.reasons.join("\n");
    assert!(
        reasons.contains(&format!(
            "context-document pub-1 sha256={}",
            all.documents[0].sha256
        )),
        "{reasons}"
    );
    assert!(
        reasons.contains(&format!(
            "context-document int-1 sha256={}",
            all.documents[1].sha256
        )),
        "{reasons}"
    );
    assert!(
        reasons.contains("context-redaction email mode=mask count=3"),
        "{reasons}"
    );
    assert!(
        reasons.contains("context-redaction iban mode=drop count=2"),
        "{reasons}"
    );
    assert!(reasons.contains("unlabeled=4 oversized=1"), "{reasons}");
    let refusals: Vec<String> = records
        .iter()
        .filter(|r| r.decision == "refuse")
        .map(|r| r.reasons.first().cloned().unwrap_or_default())
        .collect();
    for check in [
        "context-source",
        "context-scope",
        "context-grant",
        "parameters",
    ] {
        assert!(
            refusals.iter().any(|c| c == check),
            "no `{check}` refusal recorded: {refusals:?}"
        );
    }
}

#[test]
fn an_executor_with_a_source_it_cannot_open_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "data_dir = \"d\"\nauthority = \"http://127.0.0.1:7401\"\ninsecure_plaintext = true\nauthority_root_keys = [\"{}\"]\n[[workspaces]]\nname = \"demo\"\nroot = \".\"\n",
        hex::encode(trust_sdk::keys::generate().verifying_key().as_bytes())
    );
    std::fs::create_dir_all(dir.path().join("ws")).unwrap();
    let parse = |extra: &str| {
        tool_executor::config::ExecutorConfig::parse(&format!("{base}{extra}"), dir.path()).err()
    };
    let missing =
        parse("[[context_source]]\nname = \"kb\"\nkind = \"directory\"\npath = \"nope\"\n");
    assert!(
        missing
            .as_deref()
            .is_some_and(|e| e.contains("cannot open")),
        "{missing:?}"
    );
    let http = parse("[[context_source]]\nname = \"kb\"\nkind = \"http\"\npath = \"ws\"\n");
    assert!(
        http.as_deref()
            .is_some_and(|e| e.contains("`path` is for `directory` sources")),
        "{http:?}"
    );
    // The workspace is the config's folder here, so any source under it overlaps it.
    let inside = parse("[[context_source]]\nname = \"kb\"\nkind = \"directory\"\npath = \"ws\"\n");
    assert!(
        inside
            .as_deref()
            .is_some_and(|e| e.contains("overlaps workspace")),
        "{inside:?}"
    );
    let bad_name =
        parse("[[context_source]]\nname = \"../kb\"\nkind = \"directory\"\npath = \"ws\"\n");
    assert!(
        bad_name
            .as_deref()
            .is_some_and(|e| e.contains("source name")),
        "{bad_name:?}"
    );
}
