use std::os::unix::fs::PermissionsExt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use trust_sdk::vocabulary::{InjectTarget, SecretRef};

use super::encodings::forms;
use super::sealing_key::check_key_file;
use super::*;

const VALUE: &str = "npm_Zq8+/xY3k~v9 T0k3n!";

fn value() -> SecretValue {
    SecretValue::new(VALUE.as_bytes().to_vec()).unwrap()
}

fn scrubber() -> Scrubber {
    let v = value();
    Scrubber::new([("npm-token", &v)])
}

fn scrubbed(data: &[u8]) -> String {
    String::from_utf8_lossy(&scrubber().scrub(data, false)).into_owned()
}

fn assert_clean(out: &str, what: &str) {
    for form in forms(VALUE.as_bytes()) {
        let form = String::from_utf8_lossy(&form);
        assert!(
            !out.contains(form.as_ref()),
            "{what}: `{form}` left in `{out}`"
        );
    }
    assert!(
        out.contains("[secret:npm-token]"),
        "{what}: no marker in `{out}`"
    );
}

#[test]
fn raw_reversed_hex_url_and_json_forms_are_replaced() {
    let reversed: String = VALUE.chars().rev().collect();
    let json = serde_json::to_string(VALUE).unwrap();
    for (what, text) in [
        ("raw", format!("token={VALUE}\n")),
        ("reversed", format!("x {reversed} y")),
        ("hex lower", format!("[{}]", hex::encode(VALUE))),
        ("hex upper", format!("[{}]", hex::encode_upper(VALUE))),
        (
            "url upper",
            format!(
                "q={}",
                String::from_utf8(encodings::percent_encode(VALUE.as_bytes(), true, false))
                    .unwrap()
            ),
        ),
        (
            "url lower",
            format!(
                "q={}",
                String::from_utf8(encodings::percent_encode(VALUE.as_bytes(), false, false))
                    .unwrap()
            ),
        ),
        (
            "url every byte",
            format!(
                "q={}",
                String::from_utf8(encodings::percent_encode(VALUE.as_bytes(), false, true))
                    .unwrap()
            ),
        ),
        ("json", format!("{{\"t\":{json}}}")),
    ] {
        assert_clean(&scrubbed(text.as_bytes()), what);
    }
}

#[test]
fn base64_is_found_at_every_alignment_padded_or_not() {
    for prefix in ["", "a", "ab", "abc", "abcd"] {
        let stream = format!("{prefix}{VALUE}:tail");
        for (what, encoded) in [
            ("base64", STANDARD.encode(&stream)),
            ("base64url", URL_SAFE_NO_PAD.encode(&stream)),
        ] {
            let out = scrubbed(format!("out: {encoded}\n").as_bytes());
            assert!(
                out.contains("[secret:npm-token]"),
                "{what} with {} bytes before: `{out}`",
                prefix.len()
            );
            // What is left of the encoded stream no longer decodes to anything holding the value.
            assert!(
                !out.contains(&STANDARD.encode(VALUE)[..8]),
                "{what}: `{out}`"
            );
        }
    }
    let alone = STANDARD.encode(VALUE);
    assert_eq!(scrubbed(alone.as_bytes()), "[secret:npm-token]");
}

#[test]
fn a_value_split_across_writes_is_found_in_the_whole_capture() {
    let (a, b) = VALUE.split_at(7);
    let mut capture = Vec::new();
    capture.extend_from_slice(format!("first {a}").as_bytes());
    capture.extend_from_slice(format!("{b} second").as_bytes());
    assert_eq!(scrubbed(&capture), "first [secret:npm-token] second");
}

#[test]
fn hex_in_any_case_is_replaced_and_other_text_is_untouched() {
    assert_eq!(scrubbed(b"nothing to see"), "nothing to see");
    let v = value();
    let s = Scrubber::new([("npm-token", &v)]);
    assert!(matches!(
        s.scrub(b"plain", false),
        std::borrow::Cow::Borrowed(_)
    ));
    let mixed: String = hex::encode(VALUE)
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    assert_eq!(
        scrubbed(format!("<{mixed}>").as_bytes()),
        "<[secret:npm-token]>"
    );
}

#[test]
fn a_truncated_output_ending_inside_a_value_loses_the_partial_value() {
    let cut = &VALUE[..10];
    let out = scrubber()
        .scrub(format!("ok {cut}").as_bytes(), true)
        .into_owned();
    assert_eq!(String::from_utf8(out).unwrap(), "ok [secret:npm-token]");
    // Without truncation a partial value is ordinary text (it was not cut by the executor).
    let out = scrubber()
        .scrub(format!("ok {cut}").as_bytes(), false)
        .into_owned();
    assert_eq!(String::from_utf8(out).unwrap(), format!("ok {cut}"));
}

#[test]
fn values_must_be_long_enough_text() {
    assert!(SecretValue::new(b"short".to_vec())
        .unwrap_err()
        .to_string()
        .contains("at least 8"));
    assert!(SecretValue::new(vec![0xff; 10]).is_err());
    assert!(SecretValue::new(b"abc\0defgh".to_vec()).is_err());
    assert_eq!(
        format!("{:?}", value()),
        "SecretValue([redacted; 23 bytes])"
    );
}

fn key_file(dir: &std::path::Path, mode: u32) -> std::path::PathBuf {
    let path = dir.join("secrets.key");
    std::fs::write(&path, SealingKey::generate_base64()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn key_file_checks_mode_place_and_length() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let good = key_file(&keys, 0o600);
    check_key_file(&good, &data).unwrap();
    SealingKey::load(&KeySource::File(good.clone()), &data).unwrap();
    let readonly = key_file(&tmp.path().join("keys"), 0o400);
    check_key_file(&readonly, &data).unwrap();

    let open = key_file(&keys, 0o644);
    let err = SealingKey::load(&KeySource::File(open), &data).unwrap_err();
    assert!(
        err.to_string()
            .contains("has mode 0644; it must be readable by its owner only"),
        "{err}"
    );
    let group = key_file(&keys, 0o640);
    assert!(check_key_file(&group, &data)
        .unwrap_err()
        .to_string()
        .contains("mode 0640"));

    let inside = key_file(&data, 0o600);
    let err = check_key_file(&inside, &data).unwrap_err();
    assert!(
        err.to_string()
            .contains("is inside the executor's data directory"),
        "{err}"
    );
    // Also through a path that only reaches the data directory through `..`.
    let sneaky = keys.join("..").join("data").join("secrets.key");
    assert!(check_key_file(&sneaky, &data)
        .unwrap_err()
        .to_string()
        .contains("inside"));

    let missing = keys.join("absent.key");
    assert!(check_key_file(&missing, &data)
        .unwrap_err()
        .to_string()
        .contains("absent.key"));
    assert!(check_key_file(&keys, &data)
        .unwrap_err()
        .to_string()
        .contains("not a regular file"));

    let short = keys.join("short.key");
    std::fs::write(&short, STANDARD.encode([1u8; 16])).unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = SealingKey::load(&KeySource::File(short), &data).unwrap_err();
    assert!(
        err.to_string().contains("16 bytes; 32 are required"),
        "{err}"
    );
    let err =
        SealingKey::load(&KeySource::Env("TRUST_TEST_UNSET_KEY_VAR".into()), &data).unwrap_err();
    assert!(
        err.to_string()
            .contains("`TRUST_TEST_UNSET_KEY_VAR` is not set"),
        "{err}"
    );
}

#[test]
fn a_sealed_value_opens_only_under_its_name_version_and_key() {
    let key = SealingKey::from_bytes(&[7u8; 32]).unwrap();
    let sealed = key.seal("a", 1, b"value-1234").unwrap();
    assert!(!sealed.windows(10).any(|w| w == b"value-1234"));
    assert_eq!(key.open("a", 1, &sealed).unwrap().as_slice(), b"value-1234");
    assert_eq!(
        key.open("b", 1, &sealed),
        Err(SecretError::Undecryptable("b".into()))
    );
    assert!(key.open("a", 2, &sealed).is_err());
    let other = SealingKey::from_bytes(&[8u8; 32]).unwrap();
    assert!(other.open("a", 1, &sealed).is_err());
}

#[test]
fn store_puts_versions_lists_without_values_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let key = || SealingKey::from_bytes(&[9u8; 32]).unwrap();
    let store = SecretStore::open(&tmp.path().join("s"), key()).unwrap();
    assert_eq!(store.put("npm-token", &value(), 1_000).unwrap(), 1);
    assert_eq!(store.put("npm-token", &value(), 2_000).unwrap(), 2);
    assert!(store.put("bad name", &value(), 1).is_err());
    let list = store.list().unwrap();
    assert_eq!(
        list,
        vec![SecretEntry {
            name: "npm-token".into(),
            version: 2,
            created_ms: 1_000,
            updated_ms: 2_000
        }]
    );
    // Nothing on disk holds the value in clear.
    drop(store);
    for entry in walk(tmp.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
            "{}",
            entry.display()
        );
    }
    let store = SecretStore::open(&tmp.path().join("s"), key()).unwrap();
    let broker = SecretBroker::new(store);
    let refs = vec![
        SecretRef::new("npm-token", "proc.run", "publish", "env:NPM_TOKEN").unwrap(),
        SecretRef::new("gone", "proc.run", "other", "env:GONE").unwrap(),
        SecretRef::new("api", "proc.run", "publish", "header:Authorization").unwrap(),
    ];
    let resolved = broker.resolve(&refs[..1], "proc.run", "publish").unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].target(), &InjectTarget::Env("NPM_TOKEN".into()));
    assert_eq!(resolved[0].value.as_str(), VALUE);
    assert!(broker
        .resolve(&refs, "proc.run", "test")
        .unwrap()
        .is_empty());
    assert_eq!(
        broker.resolve(&refs, "proc.run", "other").unwrap_err(),
        SecretError::Unknown("gone".into())
    );
    assert_eq!(
        broker.resolve(&refs, "proc.run", "publish").unwrap_err(),
        SecretError::Unknown("api".into())
    );
    let set = fingerprints::export(broker.store().unwrap()).unwrap();
    let raw = fingerprints::digest(&set.key, VALUE.as_bytes());
    assert!(set
        .fingerprints
        .iter()
        .any(|f| f.digest == raw && f.length == VALUE.len()));
    broker.store().unwrap().delete("npm-token").unwrap();
    assert_eq!(
        broker.store().unwrap().delete("npm-token"),
        Err(SecretError::Unknown("npm-token".into()))
    );
    // Under another key the record does not open: refused, precisely.
    let store = SecretStore::open(&tmp.path().join("s2"), key()).unwrap();
    store.put("npm-token", &value(), 1).unwrap();
    drop(store);
    let wrong = SecretStore::open(
        &tmp.path().join("s2"),
        SealingKey::from_bytes(&[1u8; 32]).unwrap(),
    )
    .unwrap();
    let broker = SecretBroker::new(wrong);
    assert_eq!(
        broker
            .resolve(&refs[..1], "proc.run", "publish")
            .unwrap_err(),
        SecretError::Undecryptable("npm-token".into())
    );
    assert_eq!(
        SecretBroker::disabled()
            .resolve(&refs[..1], "proc.run", "publish")
            .unwrap_err(),
        SecretError::NotConfigured
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
