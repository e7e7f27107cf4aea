//! `trustctl secrets scan` and `install-hooks`: refuse a diff whose added lines hold a managed
//! secret value or one of its encodings, without holding any value in clear. The executor
//! exports a fingerprint set (a fresh random key `k` and `HMAC-SHA256(k, form)` with the length
//! of every form of every value); the scan digests every substring of those lengths of each
//! added line and compares.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use ring::hmac;
use serde_json::{json, Value};
use trust_proto::executor::v1 as pb;

const FORMAT: &str = "trust.v1/secret-fingerprints";
/// The line that marks a hook this command wrote.
const HOOK_MARKER: &str = "# trust-authority: secrets scan (trustctl secrets install-hooks)";
/// Where an existing hook is kept, and run after the scan.
const CHAINED_SUFFIX: &str = ".pre-trust";

/// One form's digest: the secret it belongs to, the form's length and `HMAC-SHA256(k, form)`.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub name: String,
    pub length: usize,
    pub digest: Vec<u8>,
}

/// A fingerprint set as cached on disk (JSON, mode 0600).
#[derive(Debug, Clone)]
pub struct FingerprintFile {
    pub key: Vec<u8>,
    pub fingerprints: Vec<Fingerprint>,
}

impl FingerprintFile {
    pub fn from_proto(set: &pb::SecretFingerprints) -> Self {
        FingerprintFile {
            key: set.key.clone(),
            fingerprints: set
                .fingerprints
                .iter()
                .map(|f| Fingerprint {
                    name: f.name.clone(),
                    length: f.length as usize,
                    digest: f.digest.clone(),
                })
                .collect(),
        }
    }

    pub fn secret_count(&self) -> usize {
        self.fingerprints
            .iter()
            .map(|f| f.name.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub fn to_json(&self) -> anyhow::Result<String> {
        let prints: Vec<Value> = self
            .fingerprints
            .iter()
            .map(|f| json!({"name": f.name, "length": f.length, "digest": hex::encode(&f.digest)}))
            .collect();
        let doc = json!({"format": FORMAT, "key": hex::encode(&self.key), "fingerprints": prints});
        Ok(serde_json::to_string_pretty(&doc)? + "\n")
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read fingerprints `{}`", path.display()))?;
        let bad = |why: &str| anyhow!("fingerprints `{}`: {why}", path.display());
        let doc: Value = serde_json::from_str(&text).map_err(|_| bad("not JSON"))?;
        if doc["format"] != FORMAT {
            return Err(bad(&format!("format is not `{FORMAT}`")));
        }
        let key = hex::decode(doc["key"].as_str().unwrap_or_default())
            .map_err(|_| bad("key is not hex"))?;
        if key.len() != 32 {
            return Err(bad("key is not 32 bytes"));
        }
        let mut fingerprints = Vec::new();
        for f in doc["fingerprints"]
            .as_array()
            .ok_or_else(|| bad("no fingerprints array"))?
        {
            fingerprints.push(Fingerprint {
                name: f["name"].as_str().unwrap_or_default().to_string(),
                length: usize::try_from(f["length"].as_u64().ok_or_else(|| bad("length"))?)?,
                digest: hex::decode(f["digest"].as_str().unwrap_or_default())
                    .map_err(|_| bad("digest is not hex"))?,
            });
        }
        Ok(FingerprintFile { key, fingerprints })
    }
}

/// A managed value found in a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub secret: String,
    /// The file and line of the diff's new side, when the diff says.
    pub place: String,
}

/// The added lines of a unified diff, each with `file:line` of the new side.
fn added_lines(diff: &[u8]) -> Vec<(String, &[u8])> {
    let mut out = Vec::new();
    let mut file = String::new();
    let mut line_no: u64 = 0;
    for line in diff.split(|b| *b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"+++ ") {
            let name = String::from_utf8_lossy(rest);
            file = name.strip_prefix("b/").unwrap_or(&name).trim().to_string();
        } else if line.starts_with(b"@@ ") {
            // @@ -a,b +c,d @@
            let text = String::from_utf8_lossy(line);
            line_no = text
                .split_whitespace()
                .find_map(|w| w.strip_prefix('+'))
                .and_then(|w| w.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if let Some(added) = line.strip_prefix(b"+") {
            out.push((format!("{file}:{line_no}"), added));
            line_no += 1;
        } else if !line.starts_with(b"-") && !line.starts_with(b"\\") {
            line_no += 1;
        }
    }
    out
}

/// Every managed value (or form of one) in the added lines of `diff`.
pub fn scan_diff(diff: &[u8], set: &FingerprintFile) -> Vec<Finding> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &set.key);
    let mut by_digest: HashMap<(usize, &[u8]), &str> = HashMap::new();
    for f in &set.fingerprints {
        by_digest.insert((f.length, f.digest.as_slice()), f.name.as_str());
    }
    let lengths: BTreeSet<usize> = set.fingerprints.iter().map(|f| f.length).collect();
    let mut findings = Vec::new();
    for (place, line) in added_lines(diff) {
        let mut found: BTreeSet<&str> = BTreeSet::new();
        for &len in &lengths {
            if len == 0 || len > line.len() {
                continue;
            }
            for window in line.windows(len) {
                let tag = hmac::sign(&key, window);
                if let Some(name) = by_digest.get(&(len, tag.as_ref())) {
                    found.insert(name);
                }
            }
        }
        for name in found {
            findings.push(Finding {
                secret: name.to_string(),
                place: place.clone(),
            });
        }
    }
    findings
}

/// Arguments of `trustctl secrets scan`.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The fingerprint file (`trustctl secrets fingerprints --out`).
    #[arg(long, env = "TRUST_SECRET_FINGERPRINTS")]
    pub fingerprints: PathBuf,
    /// Scan the staged changes (`git diff --cached`): for a pre-commit hook.
    #[arg(long, conflicts_with_all = ["pre_push", "range", "diff"])]
    pub staged: bool,
    /// Scan what a push sends, reading git's pre-push lines on standard input.
    #[arg(long, conflicts_with_all = ["range", "diff"])]
    pub pre_push: bool,
    /// Scan `git diff A B` for a range `A..B`.
    #[arg(long, conflicts_with = "diff")]
    pub range: Option<String>,
    /// Scan a unified diff from this file (`-` for standard input).
    #[arg(long)]
    pub diff: Option<PathBuf>,
    /// The repository (default: the current directory).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .with_context(|| format!("cannot run `git {}`", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

const DIFF_FLAGS: [&str; 4] = ["--no-color", "--no-ext-diff", "-U0", "--text"];

/// The diff a push sends, from git's pre-push lines (`<local ref> <local sha> <remote ref>
/// <remote sha>`): new commits of each pushed ref.
fn pre_push_diff(repo: &Path, input: &str) -> anyhow::Result<Vec<u8>> {
    let mut diff = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, local_sha, _, remote_sha] = fields.as_slice() else {
            bail!("unexpected pre-push line `{line}`");
        };
        if local_sha.chars().all(|c| c == '0') {
            continue; // a deleted ref sends nothing
        }
        let mut args = vec![
            "log",
            "-p",
            "--format=",
            "--no-color",
            "--no-ext-diff",
            "-U0",
            "--text",
        ];
        let range;
        if remote_sha.chars().all(|c| c == '0') {
            args.extend([*local_sha, "--not", "--remotes"]);
        } else {
            range = format!("{remote_sha}..{local_sha}");
            args.push(&range);
        }
        diff.extend(git(repo, &args)?);
    }
    Ok(diff)
}

pub async fn scan(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let set = FingerprintFile::load(&args.fingerprints)?;
    let diff = if args.staged {
        let mut a = vec!["diff", "--cached"];
        a.extend(DIFF_FLAGS);
        git(&args.repo, &a)?
    } else if args.pre_push {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        pre_push_diff(&args.repo, &input)?
    } else if let Some(range) = &args.range {
        let mut a = vec!["diff"];
        a.extend(DIFF_FLAGS);
        a.push(range);
        git(&args.repo, &a)?
    } else if let Some(path) = &args.diff {
        crate::util::read_input(path)?
    } else {
        bail!("name what to scan: --staged, --pre-push, --range A..B or --diff FILE");
    };
    let findings = scan_diff(&diff, &set);
    if findings.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for f in &findings {
        eprintln!(
            "trustctl secrets scan: {} adds a form of managed secret `{}`",
            f.place, f.secret
        );
    }
    eprintln!(
        "trustctl secrets scan: refusing: {} line(s) hold a managed secret; remove it (and rotate it if it was ever pushed)",
        findings.len()
    );
    Ok(ExitCode::FAILURE)
}

/// Writes `bytes` to `path` with mode 0600 (replacing the file).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create `{}`", tmp.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// Arguments of `trustctl secrets install-hooks`.
#[derive(Args, Debug)]
pub struct InstallHooksArgs {
    /// The fingerprint file the hooks scan with (`trustctl secrets fingerprints --out`).
    #[arg(long)]
    pub fingerprints: PathBuf,
    /// The repository (default: the current directory).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn hook_text(hook: &str, trustctl: &str, fingerprints: &str) -> String {
    let scan = format!(
        "{} secrets scan --fingerprints {}",
        shell_quote(trustctl),
        shell_quote(fingerprints)
    );
    let chained = format!("\"$0{CHAINED_SUFFIX}\"");
    match hook {
        "pre-push" => format!(
            "#!/bin/sh\n{HOOK_MARKER}\ninput=$(cat)\nprintf '%s\\n' \"$input\" | {scan} --pre-push || exit 1\nif [ -x {chained} ]; then printf '%s\\n' \"$input\" | exec {chained} \"$@\"; fi\n"
        ),
        _ => format!(
            "#!/bin/sh\n{HOOK_MARKER}\n{scan} --staged || exit 1\nif [ -x {chained} ]; then exec {chained} \"$@\"; fi\n"
        ),
    }
}

pub fn install_hooks(args: &InstallHooksArgs) -> anyhow::Result<ExitCode> {
    let hooks_dir = PathBuf::from(
        String::from_utf8(git(
            &args.repo,
            &["rev-parse", "--path-format=absolute", "--git-path", "hooks"],
        )?)?
        .trim(),
    );
    std::fs::create_dir_all(&hooks_dir)?;
    let trustctl = std::env::current_exe()?.display().to_string();
    let fingerprints = std::path::absolute(&args.fingerprints)?
        .display()
        .to_string();
    for hook in ["pre-commit", "pre-push"] {
        let path = hooks_dir.join(hook);
        let text = hook_text(hook, &trustctl, &fingerprints);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing.contains(HOOK_MARKER) => {
                if existing == text {
                    println!("{hook}: already installed");
                    continue;
                }
            }
            Ok(_) => {
                let kept = hooks_dir.join(format!("{hook}{CHAINED_SUFFIX}"));
                if kept.exists() {
                    bail!(
                        "{hook}: an existing hook is at `{}` and `{}` is taken too; move one of them and install again",
                        path.display(),
                        kept.display()
                    );
                }
                std::fs::rename(&path, &kept)?;
                println!(
                    "{hook}: kept the existing hook as `{}`; it runs after the scan",
                    kept.display()
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow!("cannot read `{}`: {e}", path.display())),
        }
        std::fs::write(&path, &text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        println!("{hook}: installed at {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_for(name: &str, forms: &[&[u8]]) -> FingerprintFile {
        let key = vec![5u8; 32];
        let k = hmac::Key::new(hmac::HMAC_SHA256, &key);
        FingerprintFile {
            fingerprints: forms
                .iter()
                .map(|f| Fingerprint {
                    name: name.into(),
                    length: f.len(),
                    digest: hmac::sign(&k, f).as_ref().to_vec(),
                })
                .collect(),
            key,
        }
    }

    #[test]
    fn finds_a_form_in_added_lines_only_and_names_file_and_line() {
        let set = set_for("npm-token", &[b"s3cr3t-value-123"]);
        let diff = b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,0 +4,2 @@\n+ok line\n+token = \"s3cr3t-value-123\"\n-removed s3cr3t-value-123\n";
        let found = scan_diff(diff, &set);
        assert_eq!(
            found,
            vec![Finding {
                secret: "npm-token".into(),
                place: "x:5".into()
            }]
        );
        let clean = b"+++ b/x\n@@ -1 +1 @@\n+nothing here\n-s3cr3t-value-123\n";
        assert!(scan_diff(clean, &set).is_empty());
    }

    #[test]
    fn the_file_round_trips_and_holds_no_value() {
        let set = set_for("a", &[b"value-value-1"]);
        let json = set.to_json().unwrap();
        assert!(!json.contains("value-value-1"));
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f.json");
        write_private(&path, json.as_bytes()).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back = FingerprintFile::load(&path).unwrap();
        assert_eq!(back.fingerprints.len(), 1);
        assert_eq!(
            scan_diff(b"+++ b/f\n@@ -0,0 +1 @@\n+xvalue-value-1x\n", &back).len(),
            1
        );
    }
}
