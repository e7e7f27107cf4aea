//! The boundary categories and the rules that put a simple command in them.
//!
//! Rules are data tables where a program's name decides (`PROGRAMS`), and small functions for the
//! programs whose subcommands or flags decide (`git`, `cargo`, `npm`, `curl`, `rm`, ...). Paths in
//! arguments and redirections are checked against the secret, persistence and device tables
//! wherever they appear, and interpreter code against `CODE_NEEDLES`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::command::{Flag, RedirectKind, SimpleCommand};
use super::normalize::{self, program_name};
use super::ShellError;

/// A boundary a command crosses. Names are stable (`as_str`, serde, [`FromStr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Reads files or lists directories in the working tree.
    Read,
    /// Creates, changes or deletes files.
    Write,
    /// Runs code: builds, tests, scripts, interpreters, unknown programs.
    Execution,
    /// Touches secrets: `.env`, keys, credential files, secret environment variables.
    SecretAccess,
    /// Touches credentials for a service or registry (a subset of secret access).
    Credential,
    /// Talks to the network.
    Network,
    /// Sends local data out (uploads, secrets and network in one command).
    Exfiltration,
    /// Fetches content from the network.
    Download,
    /// Decodes encoded content (`base64 -d`, `xxd -r`, encoded interpreter code).
    EncodedPayload,
    /// Publishes a package or image others depend on.
    SupplyChain,
    /// Publishes anything (packages, images, git pushes, releases).
    Publish,
    /// Installs packages or tools.
    Install,
    /// Survives the session: shell profiles, cron, git hooks, systemd units, launch agents.
    Persistence,
    /// Changes git history or remotes.
    RepositoryWrite,
    /// Destroys data or the system (`rm -rf /`, `mkfs`, `dd` to a device, `git reset --hard`).
    Destructive,
    /// Changes privilege (`sudo`, setuid bits, `chown root`, privileged containers).
    Privilege,
    /// The command hides what it runs (quotes inside names, `${IFS}`, ANSI-C escapes, ...).
    Obfuscation,
    /// Names a path outside the working tree (absolute, `~`, `..`).
    OutsideWorkspace,
    /// Signals or stops other processes.
    ProcessControl,
    /// Hands a shell to a network peer (reverse or bind shell).
    RemoteShell,
}

impl Category {
    /// Every category, in order.
    pub const ALL: [Category; 20] = [
        Category::Read,
        Category::Write,
        Category::Execution,
        Category::SecretAccess,
        Category::Credential,
        Category::Network,
        Category::Exfiltration,
        Category::Download,
        Category::EncodedPayload,
        Category::SupplyChain,
        Category::Publish,
        Category::Install,
        Category::Persistence,
        Category::RepositoryWrite,
        Category::Destructive,
        Category::Privilege,
        Category::Obfuscation,
        Category::OutsideWorkspace,
        Category::ProcessControl,
        Category::RemoteShell,
    ];

    /// The stable snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Read => "read",
            Category::Write => "write",
            Category::Execution => "execution",
            Category::SecretAccess => "secret_access",
            Category::Credential => "credential",
            Category::Network => "network",
            Category::Exfiltration => "exfiltration",
            Category::Download => "download",
            Category::EncodedPayload => "encoded_payload",
            Category::SupplyChain => "supply_chain",
            Category::Publish => "publish",
            Category::Install => "install",
            Category::Persistence => "persistence",
            Category::RepositoryWrite => "repository_write",
            Category::Destructive => "destructive",
            Category::Privilege => "privilege",
            Category::Obfuscation => "obfuscation",
            Category::OutsideWorkspace => "outside_workspace",
            Category::ProcessControl => "process_control",
            Category::RemoteShell => "remote_shell",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ShellError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ShellError::UnknownCategory(s.to_string()))
    }
}

/// Where in a command the evidence for a category was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// What the program (and subcommand) does by nature; an allow pattern covers only this.
    Program,
    /// An argument (a path, a flag, a target).
    Argument,
    /// A redirection.
    Redirect,
    /// A `NAME=value` prefix.
    Assignment,
    /// A wrapper such as `sudo`.
    Wrapper,
    /// Code given to an interpreter.
    Code,
    /// How a word was written (obfuscation).
    Word,
    /// The command as a whole (secrets and network together, recursion).
    Derived,
}

/// One reason a command is in a category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub category: Category,
    /// Index into [`super::Classification::commands`]; `None` for the whole command.
    pub command: Option<usize>,
    pub source: Source,
    pub reason: String,
}

use Category as C;

/// Evidence that the program itself crosses a category.
macro_rules! prog {
    ($ev:ident; $c:expr, $r:expr) => {
        $ev($c, Source::Program, ($r).to_string())
    };
}

/// Programs whose name alone decides.
#[rustfmt::skip]
const PROGRAMS: &[(&[&str], &[Category], &str)] = &[
    (
        &[
            "echo", "printf", "true", "false", "test", "[", ":", "sleep", "seq", "expr", "cd",
            "pushd", "popd", "pwd", "unset", "shift", "local", "readonly", "read", "wait", "exit",
            "return", "break", "continue", "let", "umask", "shopt", "alias", "unalias", "hash",
            "getopts", "dirs", "clear", "tput", "yes", "basename", "dirname", "typeset", "nproc",
            "[[", "bg", "fg", "jobs", "disown", "times", "date", "cal", "reset",
        ],
        &[],
        "changes nothing outside the shell",
    ),
    (
        &[
            "ls", "ll", "dir", "cat", "tac", "head", "tail", "less", "more", "grep", "egrep",
            "fgrep", "rg", "ag", "ack", "fd", "fdfind", "wc", "sort", "uniq", "cut", "paste",
            "join", "comm", "diff", "cmp", "colordiff", "file", "stat", "du", "df", "tree",
            "realpath", "readlink", "jq", "yq", "tr", "nl", "fold", "fmt", "column", "rev", "od",
            "hexdump", "strings", "md5sum", "sha1sum", "sha256sum", "sha512sum", "b2sum", "cksum",
            "which", "whereis", "type", "whoami", "id", "groups", "uname", "hostname", "ps",
            "pgrep", "free", "uptime", "locale", "man", "info", "help", "lsblk", "lscpu", "zcat",
            "zgrep", "bzcat", "xzcat", "look", "bat", "batcat", "diffstat", "sdiff", "expand",
            "unexpand", "iconv", "numfmt", "shuf", "tsort", "getconf", "ip", "ifconfig", "netstat",
            "ss", "lsof", "top", "htop", "history", "awk", "gawk", "command", "mawk", "nawk",
            "sed", "xxd", "find", "tar", "unzip", "base64", "base32",
        ],
        &[C::Read],
        "reads files or system state",
    ),
    (
        &[
            "touch", "mkdir", "rmdir", "cp", "mv", "ln", "install", "patch", "truncate", "tee",
            "dos2unix", "unix2dos", "gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "zip",
            "split", "csplit", "mktemp", "chgrp", "zstd", "7z", "rename",
        ],
        &[C::Write],
        "writes files",
    ),
    (
        &[
            "make", "cmake", "ninja", "meson", "bazel", "bazelisk", "gradle", "gradlew", "mvn",
            "ant", "rustc", "cc", "gcc", "g++", "clang", "clang++", "ld", "javac", "java",
            "dotnet", "swift", "swiftc", "tsc", "jest", "vitest", "mocha", "pytest", "tox", "nox",
            "eslint", "prettier", "black", "ruff", "mypy", "flake8", "pylint", "rustfmt",
            "clippy-driver", "just", "task", "source", ".", "eval", "vim", "vi", "nvim", "emacs", "nano",
            "code", "cargo-nextest", "node-gyp", "webpack", "vite", "esbuild", "rollup", "bats",
            "shellcheck", "shfmt", "hyperfine", "valgrind", "gdb", "lldb", "perf",
        ],
        &[C::Execution],
        "runs code",
    ),
    (
        &[
            "ping", "ping6", "traceroute", "tracepath", "mtr", "dig", "nslookup", "host", "whois",
            "telnet", "sftp", "ftp", "tftp", "lftp", "ncftp", "gcloud", "az", "doctl", "flyctl",
            "heroku", "vercel", "netlify",
        ],
        &[C::Network],
        "talks to the network",
    ),
    (
        &["aria2c", "axel", "yt-dlp", "youtube-dl"],
        &[C::Network, C::Download],
        "downloads from the network",
    ),
    (
        &[
            "mkfs", "fdisk", "sfdisk", "cfdisk", "parted", "wipefs", "shred", "srm", "shutdown",
            "reboot", "halt", "poweroff", "mke2fs", "mkswap", "blkdiscard",
        ],
        &[C::Destructive],
        "destroys data or stops the system",
    ),
    (
        &[
            "sudo", "su", "doas", "pkexec", "runuser", "chroot", "nsenter", "unshare", "setcap",
            "capsh", "usermod", "useradd", "userdel", "groupadd", "groupmod", "passwd", "chpasswd",
            "visudo", "mount", "umount", "insmod", "rmmod", "modprobe", "iptables", "ip6tables",
            "nft", "ufw", "firewall-cmd", "setenforce", "chattr", "newgrp", "sg", "setfacl",
        ],
        &[C::Privilege],
        "changes privilege or system configuration",
    ),
    (
        &["kill", "pkill", "killall", "renice", "xkill"],
        &[C::ProcessControl],
        "signals other processes",
    ),
    (
        &["at", "batch", "update-rc.d", "chkconfig"],
        &[C::Persistence],
        "schedules or registers something that outlives the session",
    ),
    (
        &[
            "security", "pass", "op", "keyctl", "ssh-add", "secret-tool", "bw", "lpass",
        ],
        &[C::SecretAccess, C::Credential],
        "reads a secret store",
    ),
    (
        &["ssh-keygen", "ssh-copy-id"],
        &[C::Credential],
        "manages credentials",
    ),
    (
        &["openssl", "gpg", "gpg2", "age", "sops"],
        &[C::Execution],
        "runs a cryptographic tool",
    ),
    (
        &["twine", "flit", "hatch", "gem-push"],
        &[C::SupplyChain, C::Publish, C::Network],
        "publishes a package",
    ),
];

/// Variable names that are settings which make other programs run code.
#[rustfmt::skip]
const EXECUTING_VARIABLES: &[&str] = &[
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH",
    "PATH", "BASH_ENV", "ENV", "PROMPT_COMMAND", "PS4", "SHELLOPTS", "BASHOPTS", "GIT_SSH",
    "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_EDITOR", "GIT_PAGER",
    "GIT_EXTERNAL_DIFF", "GIT_CONFIG_GLOBAL", "GIT_TEMPLATE_DIR", "PAGER", "EDITOR", "VISUAL",
    "NODE_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PERL5OPT", "PERL5LIB", "RUBYOPT",
    "RUBYLIB", "RUSTC_WRAPPER", "RUSTC", "CARGO_BUILD_RUSTC_WRAPPER", "CARGO_TARGET_DIR_RUNNER",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "NPM_CONFIG_SCRIPT_SHELL",
];

/// Substrings of interpreter code and what they show.
const CODE_NEEDLES: &[(&str, Category, &str)] = &[
    ("socket", C::Network, "opens a socket"),
    ("urllib", C::Network, "uses urllib"),
    ("urlopen", C::Network, "opens a URL"),
    ("urlopen", C::Download, "downloads from a URL"),
    ("requests.", C::Network, "uses requests"),
    ("requests.get", C::Download, "downloads with requests"),
    ("import requests", C::Network, "uses requests"),
    ("http.client", C::Network, "uses http.client"),
    ("httpx", C::Network, "uses httpx"),
    ("aiohttp", C::Network, "uses aiohttp"),
    ("ftplib", C::Network, "uses ftplib"),
    ("smtplib", C::Network, "sends mail"),
    ("paramiko", C::Network, "uses ssh"),
    ("telnetlib", C::Network, "uses telnet"),
    ("http://", C::Network, "names an http URL"),
    ("https://", C::Network, "names an https URL"),
    ("require('http", C::Network, "uses node http"),
    ("require(\"http", C::Network, "uses node http"),
    ("require('net')", C::Network, "uses node net"),
    ("require(\"net\")", C::Network, "uses node net"),
    ("require('dgram')", C::Network, "uses node dgram"),
    ("fetch(", C::Network, "calls fetch"),
    ("axios", C::Network, "uses axios"),
    ("IO::Socket", C::Network, "uses IO::Socket"),
    ("LWP", C::Network, "uses LWP"),
    ("LWP::Simple", C::Download, "downloads with LWP"),
    ("HTTP::Tiny", C::Network, "uses HTTP::Tiny"),
    ("TCPSocket", C::Network, "uses TCPSocket"),
    ("fsockopen", C::Network, "opens a socket"),
    ("Net::HTTP", C::Network, "uses Net::HTTP"),
    ("open-uri", C::Network, "uses open-uri"),
    ("open-uri", C::Download, "downloads with open-uri"),
    ("URI.open", C::Network, "opens a URL"),
    ("Invoke-WebRequest", C::Network, "uses Invoke-WebRequest"),
    (
        "Invoke-WebRequest",
        C::Download,
        "downloads with Invoke-WebRequest",
    ),
    ("DownloadString", C::Network, "downloads a string"),
    ("DownloadString", C::Download, "downloads a string"),
    ("/dev/tcp/", C::Network, "opens /dev/tcp"),
    ("curl ", C::Network, "calls curl"),
    ("curl ", C::Download, "downloads with curl"),
    ("wget ", C::Network, "calls wget"),
    ("wget ", C::Download, "downloads with wget"),
    ("subprocess", C::Execution, "starts processes"),
    ("os.system", C::Execution, "runs a shell command"),
    ("os.popen", C::Execution, "runs a shell command"),
    ("os.exec", C::Execution, "replaces the process"),
    ("pty.spawn", C::Execution, "spawns a terminal"),
    ("child_process", C::Execution, "starts processes"),
    ("execSync", C::Execution, "runs a shell command"),
    ("system(", C::Execution, "runs a shell command"),
    ("exec(", C::Execution, "executes code"),
    ("eval(", C::Execution, "evaluates code"),
    ("spawn(", C::Execution, "starts a process"),
    ("popen", C::Execution, "runs a shell command"),
    ("IO.popen", C::Execution, "runs a shell command"),
    ("`", C::Execution, "runs a shell command"),
    ("%x", C::Execution, "runs a shell command"),
    ("qx", C::Execution, "runs a shell command"),
    ("Invoke-Expression", C::Execution, "evaluates code"),
    ("IEX", C::Execution, "evaluates code"),
    ("b64decode", C::EncodedPayload, "decodes base64"),
    ("base64", C::EncodedPayload, "decodes base64"),
    ("Base64", C::EncodedPayload, "decodes base64"),
    ("decode_base64", C::EncodedPayload, "decodes base64"),
    ("atob(", C::EncodedPayload, "decodes base64"),
    ("fromhex", C::EncodedPayload, "decodes hex"),
    ("codecs.decode", C::EncodedPayload, "decodes text"),
    (
        "zlib.decompress",
        C::EncodedPayload,
        "decompresses a payload",
    ),
    ("marshal.loads", C::EncodedPayload, "loads marshalled code"),
    ("FromBase64String", C::EncodedPayload, "decodes base64"),
    ("os.environ", C::SecretAccess, "reads the environment"),
    ("process.env", C::SecretAccess, "reads the environment"),
    ("ENV[", C::SecretAccess, "reads the environment"),
    ("setuid", C::Privilege, "changes user id"),
    ("rmtree", C::Write, "deletes a directory tree"),
    ("os.remove", C::Write, "deletes a file"),
    ("unlink", C::Write, "deletes a file"),
    ("readFile", C::Read, "reads a file"),
    ("writeFile", C::Write, "writes a file"),
];

/// Records the evidence for one simple command.
pub(super) fn command_evidence(cmd: &SimpleCommand, index: usize, out: &mut Vec<Evidence>) {
    let mut ev = |category: Category, source: Source, reason: String| {
        out.push(Evidence {
            category,
            command: Some(index),
            source,
            reason,
        });
    };
    for w in &cmd.wrappers {
        if matches!(w.as_str(), "sudo" | "doas" | "su" | "pkexec" | "runuser") {
            ev(C::Privilege, Source::Wrapper, format!("runs under `{w}`"));
        }
        if matches!(w.as_str(), "torsocks" | "proxychains" | "proxychains4") {
            ev(C::Network, Source::Wrapper, format!("runs under `{w}`"));
        }
    }
    for o in &cmd.obfuscation {
        ev(C::Obfuscation, Source::Word, o.clone());
    }
    for (name, value) in &cmd.assignments {
        if EXECUTING_VARIABLES.contains(&name.as_str()) {
            ev(
                C::Execution,
                Source::Assignment,
                format!("sets `{name}`, which changes what runs"),
            );
        }
        if name == "IFS" {
            ev(C::Obfuscation, Source::Assignment, "sets `IFS`".to_string());
        }
        path_evidence(value, false, Source::Assignment, &mut ev);
    }
    for r in &cmd.references {
        if secret_variable(r) {
            ev(
                C::SecretAccess,
                Source::Argument,
                format!("reads the secret variable `${r}`"),
            );
            ev(
                C::Credential,
                Source::Argument,
                format!("reads the secret variable `${r}`"),
            );
        }
    }
    for r in &cmd.redirects {
        redirect_evidence(cmd, r.kind, &r.target, &mut ev);
    }
    if cmd.recursive {
        ev(
            C::Destructive,
            Source::Derived,
            "a function calls itself (fork bomb)".to_string(),
        );
    }
    let Some(first) = cmd.argv.first() else {
        return;
    };
    let name = program_name(first);
    let args = &cmd.argv[1..];
    program_evidence(cmd, name, args, &mut ev);
    if !matches!(
        name,
        "echo" | "printf" | "test" | "[" | "[[" | "expr" | "sleep" | "seq" | "true" | "false"
    ) {
        let writes = writes_arguments(name, args);
        for a in args {
            path_evidence(a, writes, Source::Argument, &mut ev);
        }
    }
    if let Some(code) = &cmd.code {
        code_evidence(code, &mut ev);
    }
}

/// Whole-command evidence: secrets and network together, background persistence.
pub(super) fn derived_evidence(
    commands: &[SimpleCommand],
    flags: &BTreeSet<Flag>,
    out: &mut Vec<Evidence>,
) {
    let has = |out: &Vec<Evidence>, c: Category| out.iter().any(|e| e.category == c);
    if has(out, C::SecretAccess) && has(out, C::Network) {
        out.push(Evidence {
            category: C::Exfiltration,
            command: None,
            source: Source::Derived,
            reason: "secrets are read and the network is used in the same command".to_string(),
        });
    }
    if flags.contains(&Flag::Background)
        && commands
            .iter()
            .any(|c| c.wrappers.iter().any(|w| w == "nohup" || w == "setsid"))
    {
        out.push(Evidence {
            category: C::Persistence,
            command: None,
            source: Source::Derived,
            reason: "detaches a process that outlives the session".to_string(),
        });
    }
}

fn has_short(args: &[String], flag: char) -> bool {
    args.iter()
        .any(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains(flag))
}

fn has_any(args: &[String], names: &[&str]) -> bool {
    args.iter().any(|a| {
        names
            .iter()
            .any(|n| a == n || (n.starts_with("--") && a.starts_with(&format!("{n}="))))
    })
}

fn first_operand(args: &[String]) -> Option<&str> {
    args.iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-'))
}

/// Programs whose non-option arguments are files they write.
fn writes_arguments(name: &str, args: &[String]) -> bool {
    match name {
        "tee" | "touch" | "truncate" | "cp" | "mv" | "ln" | "install" | "chmod" | "chown"
        | "chgrp" | "rm" | "mkdir" | "dd" | "rsync" => true,
        "sed" | "perl" => has_short(args, 'i') || has_any(args, &["--in-place"]),
        _ => false,
    }
}

fn program_evidence(
    cmd: &SimpleCommand,
    name: &str,
    args: &[String],
    ev: &mut dyn FnMut(Category, Source, String),
) {
    // Interpreters and shells first (their names carry version suffixes).
    if let Some(kind) = normalize::interpreter(name) {
        prog!(ev; C::Execution, &format!("runs {kind} code"));
        if kind == "python" {
            if let Some(i) = args.iter().position(|a| a == "-m") {
                let module = args.get(i + 1).map(String::as_str).unwrap_or("");
                let rest: Vec<String> = args
                    .get(i + 2..)
                    .map(<[String]>::to_vec)
                    .unwrap_or_default();
                match module {
                    "pip" | "pip3" => {
                        let mut argv = vec!["pip".to_string()];
                        argv.extend(rest);
                        program_evidence(cmd, "pip", &argv[1..], ev);
                    }
                    "http.server" | "SimpleHTTPServer" | "smtpd" | "ftplib" => {
                        ev(C::Network, Source::Program, format!("serves `{module}`"));
                    }
                    "base64" if rest.iter().any(|a| normalize::is_decode_flag(a)) => {
                        ev(
                            C::EncodedPayload,
                            Source::Program,
                            "decodes base64".to_string(),
                        );
                    }
                    "twine" => {
                        for c in [C::SupplyChain, C::Publish, C::Network] {
                            ev(c, Source::Program, "publishes with twine".to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        if kind == "powershell" && has_any(args, &["-EncodedCommand", "-enc", "-e", "-ec"]) {
            ev(
                C::EncodedPayload,
                Source::Program,
                "runs an encoded command".to_string(),
            );
        }
        return;
    }
    if normalize::is_shell(name) {
        prog!(ev; C::Execution, "runs a shell");
        if has_short(args, 'i') || args.iter().any(|a| a == "--interactive") {
            let tcp = cmd
                .redirects
                .iter()
                .any(|r| r.target.starts_with("/dev/tcp/") || r.target.starts_with("/dev/udp/"));
            if tcp {
                ev(
                    C::RemoteShell,
                    Source::Redirect,
                    "interactive shell on a socket".to_string(),
                );
            }
        }
        return;
    }
    if name.starts_with("mkfs") {
        prog!(ev; C::Destructive, "formats a file system");
        return;
    }
    match name {
        "git" => return git(args, ev),
        "cargo" => return cargo(args, ev),
        "npm" | "pnpm" | "yarn" | "bun" | "npx" | "pnpx" | "bunx" => return npm(name, args, ev),
        "docker" | "podman" | "nerdctl" => return docker(args, ev),
        "kubectl" | "helm" | "oc" => return kubectl(name, args, ev),
        "terraform" | "tofu" | "pulumi" => {
            prog!(ev; C::Execution, "applies infrastructure");
            prog!(ev; C::Network, "talks to a cloud provider");
            if args.iter().any(|a| a == "destroy") {
                prog!(ev; C::Destructive, "destroys infrastructure");
            }
            return;
        }
        "go" => {
            match first_operand(args) {
                Some("get" | "install") => {
                    prog!(ev; C::Install, "installs a Go module");
                    prog!(ev; C::Network, "fetches a Go module");
                }
                Some("mod") if args.iter().any(|a| a == "download" || a == "tidy") => {
                    prog!(ev; C::Install, "fetches Go modules");
                    prog!(ev; C::Network, "fetches Go modules");
                }
                _ => prog!(ev; C::Execution, "runs the Go toolchain"),
            }
            return;
        }
        "gh" => {
            prog!(ev; C::Network, "talks to GitHub");
            let sub: Vec<&str> = args
                .iter()
                .map(String::as_str)
                .filter(|a| !a.starts_with('-'))
                .take(2)
                .collect();
            match sub.as_slice() {
                ["auth", "token" | "status" | "refresh" | "login" | "setup-git"] => {
                    prog!(ev; C::Credential, "handles a GitHub token");
                    prog!(ev; C::SecretAccess, "handles a GitHub token");
                }
                ["release", "create" | "upload" | "edit" | "delete"] | ["gist", "create"] => {
                    prog!(ev; C::Publish, "publishes on GitHub");
                    prog!(ev; C::RepositoryWrite, "publishes on GitHub");
                }
                ["pr" | "issue" | "repo" | "release", "create" | "merge" | "edit" | "close" | "delete" | "comment"] =>
                {
                    prog!(ev; C::RepositoryWrite, "changes a GitHub repository");
                }
                ["secret", _] => {
                    prog!(ev; C::Credential, "manages repository secrets");
                }
                _ => {}
            }
            return;
        }
        "aws" => {
            prog!(ev; C::Network, "talks to AWS");
            let joined = args.join(" ");
            if joined.contains("configure")
                || joined.contains("get-secret-value")
                || joined.contains("get-session-token")
                || joined.contains("get-login-password")
                || joined.contains("--with-decryption")
            {
                prog!(ev; C::Credential, "handles AWS credentials");
                prog!(ev; C::SecretAccess, "handles AWS secrets");
            }
            if args.first().is_some_and(|a| a == "s3")
                && args.iter().any(|a| a == "cp" || a == "sync" || a == "mv")
            {
                let operands: Vec<&String> = args
                    .iter()
                    .skip(2)
                    .filter(|a| !a.starts_with('-'))
                    .collect();
                match operands.as_slice() {
                    [src, dst, ..] if !src.starts_with("s3://") && dst.starts_with("s3://") => {
                        prog!(ev; C::Exfiltration, "uploads local files to S3")
                    }
                    _ => prog!(ev; C::Download, "downloads from S3"),
                }
            }
            return;
        }
        "curl" | "http" | "https" | "xh" | "httpie" | "wget" => return http_client(name, args, ev),
        "nc" | "ncat" | "netcat" | "socat" => {
            prog!(ev; C::Network, "opens a raw network connection");
            let exec = has_any(args, &["-e", "-c", "--exec", "--sh-exec", "--lua-exec"])
                || args.iter().any(|a| {
                    let up = a.to_ascii_uppercase();
                    up.starts_with("EXEC:") || up.starts_with("SYSTEM:") || up.contains(",EXEC:")
                });
            if exec {
                prog!(ev; C::RemoteShell, "connects a program to a socket");
                prog!(ev; C::Execution, "runs a program for the peer");
            }
            if cmd.piped_stdin || cmd.redirects.iter().any(|r| r.kind == RedirectKind::Read) {
                prog!(ev; C::Exfiltration, "sends local data over a raw connection");
            }
            return;
        }
        "ssh" => {
            prog!(ev; C::Network, "connects over ssh");
            let operands: Vec<&String> = operands_after_options(
                args,
                &[
                    "-i", "-p", "-l", "-o", "-F", "-L", "-R", "-D", "-J", "-W", "-b", "-c", "-E",
                    "-m", "-O", "-S", "-w", "-B", "-e", "-I", "-Q",
                ],
            );
            if operands.len() > 1 {
                prog!(ev; C::Execution, "runs a command on a remote host");
            }
            if args
                .iter()
                .any(|a| a.contains("ProxyCommand") || a.contains("LocalCommand"))
            {
                ev(
                    C::Execution,
                    Source::Argument,
                    "ssh option runs a local command".to_string(),
                );
            }
            if cmd.piped_stdin {
                prog!(ev; C::Exfiltration, "sends local data over ssh");
            }
            return;
        }
        "scp" | "rsync" => {
            let operands: Vec<&String> = operands_after_options(
                args,
                &["-i", "-P", "-p", "-o", "-F", "-e", "-l", "-c", "-J", "-S"],
            );
            let remote = |a: &str| {
                !a.starts_with('/')
                    && !a.starts_with('.')
                    && a.split_once(':')
                        .is_some_and(|(h, _)| !h.is_empty() && !h.contains('/'))
            };
            if operands.iter().any(|a| remote(a)) {
                prog!(ev; C::Network, "copies over the network");
                match operands.last() {
                    Some(last) if remote(last) => {
                        prog!(ev; C::Exfiltration, "copies local files to a remote host")
                    }
                    _ => prog!(ev; C::Download, "copies files from a remote host"),
                }
            }
            prog!(ev; C::Write, "writes the copies");
            return;
        }
        "rm" => {
            prog!(ev; C::Write, "deletes files");
            let recursive_or_forced = has_short(args, 'r')
                || has_short(args, 'R')
                || has_short(args, 'f')
                || has_any(args, &["--recursive", "--force"]);
            if has_any(args, &["--no-preserve-root"]) {
                ev(
                    C::Destructive,
                    Source::Argument,
                    "`--no-preserve-root`".to_string(),
                );
            }
            if recursive_or_forced {
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    if dangerous_target(a) {
                        ev(C::Destructive, Source::Argument, format!("deletes `{a}`"));
                    }
                }
            }
            return;
        }
        "chmod" => {
            prog!(ev; C::Write, "changes file modes");
            if let Some(mode) = first_operand(args) {
                let setuid = mode.contains('s')
                    || (mode.len() == 4
                        && mode.chars().all(|c| c.is_ascii_digit())
                        && mode.starts_with(['2', '4', '6', '7']));
                if setuid {
                    ev(
                        C::Privilege,
                        Source::Argument,
                        format!("sets a setuid or setgid bit (`{mode}`)"),
                    );
                }
            }
            if has_short(args, 'R') && args.iter().any(|a| dangerous_target(a)) {
                ev(
                    C::Destructive,
                    Source::Argument,
                    "changes modes recursively on a system tree".to_string(),
                );
            }
            return;
        }
        "chown" => {
            prog!(ev; C::Write, "changes file owners");
            if first_operand(args).is_some_and(|o| {
                o == "root" || o.starts_with("root:") || o == "0" || o.starts_with("0:")
            }) {
                ev(
                    C::Privilege,
                    Source::Argument,
                    "gives files to root".to_string(),
                );
            }
            if has_short(args, 'R') && args.iter().any(|a| dangerous_target(a)) {
                ev(
                    C::Destructive,
                    Source::Argument,
                    "changes owners recursively on a system tree".to_string(),
                );
            }
            return;
        }
        "dd" => {
            prog!(ev; C::Write, "copies raw data");
            for a in args {
                if let Some(target) = a.strip_prefix("of=") {
                    if target.starts_with("/dev/") && !benign_device(target) {
                        ev(
                            C::Destructive,
                            Source::Argument,
                            format!("writes the device `{target}`"),
                        );
                    }
                }
            }
            return;
        }
        "crontab" => {
            if args.iter().any(|a| a == "-l") {
                prog!(ev; C::Read, "lists the crontab");
            } else if args.iter().any(|a| a == "-r") {
                prog!(ev; C::Destructive, "removes the crontab");
            } else {
                prog!(ev; C::Persistence, "installs a crontab");
            }
            return;
        }
        "systemctl" | "launchctl" | "service" | "loginctl" => {
            let sub = first_operand(args).unwrap_or("");
            match sub {
                "enable" | "link" | "load" | "bootstrap" | "daemon-reload" | "edit" | "preset"
                | "reenable" | "enable-linger" | "submit" => {
                    prog!(ev; C::Persistence, "registers a service")
                }
                "status" | "list-units" | "list" | "show" | "cat" | "is-active" | "is-enabled"
                | "print" => {
                    prog!(ev; C::Read, "reads service state")
                }
                "poweroff" | "reboot" | "halt" | "kexec" => {
                    prog!(ev; C::Destructive, "stops the system")
                }
                _ => prog!(ev; C::ProcessControl, "starts or stops services"),
            }
            if !args.iter().any(|a| a == "--user")
                && !matches!(
                    sub,
                    "status"
                        | "list-units"
                        | "list"
                        | "show"
                        | "cat"
                        | "is-active"
                        | "is-enabled"
                        | "print"
                )
            {
                prog!(ev; C::Privilege, "changes system services");
            }
            return;
        }
        "sysctl" => {
            if has_short(args, 'w') || args.iter().any(|a| a.contains('=')) {
                prog!(ev; C::Privilege, "changes kernel parameters");
            } else {
                prog!(ev; C::Read, "reads kernel parameters");
            }
            return;
        }
        "kill" | "pkill" | "killall" => {
            prog!(ev; C::ProcessControl, "signals other processes");
            if name == "kill" && args.iter().any(|a| a == "-1") {
                ev(
                    C::Destructive,
                    Source::Argument,
                    "signals every process (`-1`)".to_string(),
                );
            }
            return;
        }
        "printf" | "echo" => {
            let escaped = args
                .iter()
                .filter(|a| normalize::decode_ansi_c(a).1)
                .count();
            let interprets =
                name == "printf" || args.iter().any(|a| a == "-e" || a == "-ne" || a == "-en");
            if interprets && escaped > 0 {
                let numeric: usize = args
                    .iter()
                    .map(|a| {
                        a.matches("\\x").count()
                            + a.matches("\\0").count()
                            + a.matches("\\u").count()
                    })
                    .sum();
                if numeric >= 3 {
                    ev(
                        C::EncodedPayload,
                        Source::Argument,
                        "spells text with numeric escapes".to_string(),
                    );
                }
            }
            return;
        }
        "init" | "telinit" => {
            if args.iter().any(|a| a == "0" || a == "6") {
                prog!(ev; C::Destructive, "stops the system");
            }
            return;
        }
        "env" | "printenv" | "export" | "set" | "declare" => {
            // Alone they print the environment (`env` with arguments was unwrapped).
            let prints = args.is_empty()
                || args
                    .iter()
                    .all(|a| a == "-p" || a == "-x" || a == "-0" || a == "-px")
                || (name == "printenv" && args.iter().any(|a| secret_variable(a)));
            if prints {
                prog!(ev; C::SecretAccess, "prints the environment, which may hold secrets");
            }
            if name == "printenv" && args.iter().any(|a| secret_variable(a)) {
                prog!(ev; C::Credential, "prints a secret variable");
            }
            return;
        }
        "base64" | "base32" | "basenc" | "uudecode" => {
            if name == "uudecode" || args.iter().any(|a| normalize::is_decode_flag(a)) {
                prog!(ev; C::EncodedPayload, "decodes encoded data");
            } else {
                prog!(ev; C::Read, "encodes data");
            }
            return;
        }
        "xxd" => {
            if has_short(args, 'r') {
                prog!(ev; C::EncodedPayload, "turns a hex dump back into bytes");
            } else {
                prog!(ev; C::Read, "dumps bytes as hex");
            }
            return;
        }
        "openssl" => {
            let sub = first_operand(args).unwrap_or("");
            if matches!(sub, "s_client" | "s_server") {
                prog!(ev; C::Network, "opens a TLS connection");
            } else if (matches!(sub, "enc" | "base64") && has_short(args, 'd'))
                || sub.starts_with('-')
            {
                prog!(ev; C::EncodedPayload, "decodes encoded data");
            } else {
                prog!(ev; C::Execution, "runs openssl");
            }
            return;
        }
        "sed" => {
            if has_short(args, 'i') || has_any(args, &["--in-place"]) {
                prog!(ev; C::Write, "edits files in place");
            } else {
                prog!(ev; C::Read, "filters text");
            }
            if args.iter().any(|a| sed_executes(a)) {
                prog!(ev; C::Execution, "sed script runs a command");
            }
            return;
        }
        "awk" | "gawk" | "mawk" | "nawk" => {
            prog!(ev; C::Read, "filters text");
            if args.iter().any(|a| {
                a.contains("system(")
                    || a.contains("| getline")
                    || a.contains("|getline")
                    || a.contains("print |")
                    || a.contains("print|")
            }) {
                prog!(ev; C::Execution, "awk program runs a command");
            }
            if args.iter().any(|a| a.contains("/inet/")) {
                prog!(ev; C::Network, "awk program opens a socket");
            }
            return;
        }
        "find" => {
            prog!(ev; C::Read, "lists files");
            if args.iter().any(|a| a == "-delete") {
                ev(
                    C::Write,
                    Source::Argument,
                    "deletes what it finds".to_string(),
                );
                if args.iter().any(|a| dangerous_target(a)) {
                    ev(
                        C::Destructive,
                        Source::Argument,
                        "deletes under a system tree".to_string(),
                    );
                }
            }
            if args
                .iter()
                .any(|a| a == "-fprint" || a == "-fprintf" || a == "-fls")
            {
                ev(C::Write, Source::Argument, "writes a file list".to_string());
            }
            return;
        }
        "tar" => {
            let bundle = args.first().map(String::as_str).unwrap_or("");
            let extract = has_short(args, 'x')
                || bundle.trim_start_matches('-').contains('x')
                || has_any(args, &["--extract", "--get"]);
            let create = has_short(args, 'c')
                || bundle.trim_start_matches('-').contains('c')
                || has_any(args, &["--create"]);
            if extract || create {
                prog!(ev; C::Write, "writes files or an archive");
            } else {
                prog!(ev; C::Read, "lists an archive");
            }
            if args.iter().any(|a| {
                a.starts_with("--to-command")
                    || a.starts_with("--checkpoint-action")
                    || a.starts_with("--use-compress-program")
                    || a == "-I"
            }) {
                ev(
                    C::Execution,
                    Source::Argument,
                    "tar option runs a command".to_string(),
                );
            }
            return;
        }
        "unzip" => {
            if has_short(args, 'l') {
                prog!(ev; C::Read, "lists an archive");
            } else {
                prog!(ev; C::Write, "extracts an archive");
            }
            return;
        }
        _ => {}
    }
    for (names, categories, reason) in PROGRAMS {
        if names.contains(&name) {
            for c in categories.iter() {
                prog!(ev; *c, reason);
            }
            return;
        }
    }
    if PACKAGE_MANAGERS.contains(&name) {
        return package_manager(name, args, ev);
    }
    let path = cmd.argv.first().map(String::as_str).unwrap_or("");
    if path.contains('/') || name.ends_with(".sh") {
        prog!(ev; C::Execution, "runs a local program");
    } else {
        prog!(ev;
            C::Execution,
            &format!("runs `{name}`, which has no rule: treated as execution")
        );
    }
}

/// Package managers: install, publish, read or remove depending on the subcommand.
#[rustfmt::skip]
const PACKAGE_MANAGERS: &[&str] = &[
    "apt", "apt-get", "aptitude", "yum", "dnf", "zypper", "pacman", "apk", "brew", "port", "snap",
    "flatpak", "pip", "pip3", "pipx", "gem", "conda", "mamba", "micromamba", "poetry", "pdm", "uv",
    "composer", "bundle", "bundler", "nix-env", "rustup", "cpan", "cpanm", "choco", "winget",
    "scoop", "opam", "cabal", "stack", "luarocks", "nuget", "asdf", "mise", "nvm", "volta",
];

fn package_manager(name: &str, args: &[String], ev: &mut dyn FnMut(Category, Source, String)) {
    let operands: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sub = operands.first().copied().unwrap_or("");
    // `uv pip install`, `uv tool install`, `pipx run`.
    let sub = if matches!(sub, "pip" | "tool") {
        operands.get(1).copied().unwrap_or("")
    } else {
        sub
    };
    if name == "pacman"
        && args
            .iter()
            .any(|a| a.starts_with("-S") || a.starts_with("-U"))
    {
        prog!(ev; C::Install, format!("`{name}` installs packages"));
        prog!(ev; C::Network, format!("`{name}` downloads packages"));
        return;
    }
    match sub {
        "install" | "i" | "add" | "sync" | "update" | "upgrade" | "reinstall" | "get"
        | "dist-upgrade" | "full-upgrade" | "inject" | "ensurepip" | "lock" | "tap" | "use"
        | "toolchain" | "target" | "component" | "default" | "" => {
            prog!(ev; C::Install, format!("`{name} {sub}` installs packages"));
            prog!(ev; C::Network, format!("`{name} {sub}` downloads packages"));
        }
        "download" | "fetch" | "source" => {
            prog!(ev; C::Download, format!("`{name} {sub}` downloads packages"));
            prog!(ev; C::Network, format!("`{name} {sub}` downloads packages"));
        }
        "publish" | "push" | "upload" | "release" => {
            for c in [C::SupplyChain, C::Publish, C::Network] {
                prog!(ev; c, format!("`{name} {sub}` publishes a package"));
            }
        }
        "remove" | "uninstall" | "purge" | "autoremove" | "erase" | "rm" => {
            prog!(ev; C::Write, format!("`{name} {sub}` removes packages"));
        }
        "run" | "exec" | "x" | "shell" => {
            prog!(ev; C::Execution, format!("`{name} {sub}` runs a program"));
            if name == "pipx" || name == "uv" {
                prog!(ev; C::Install, format!("`{name} {sub}` fetches what it runs"));
                prog!(ev; C::Network, format!("`{name} {sub}` fetches what it runs"));
            }
        }
        "login" | "logout" | "config" | "token" | "owner" => {
            prog!(ev; C::Credential, format!("`{name} {sub}` handles registry credentials"));
        }
        "search" | "info" | "show" | "list" | "freeze" | "check" | "outdated"
        | "search-packages" | "policy" | "depends" | "why" | "env" | "help" | "--version"
        | "version" | "doctor" => {
            prog!(ev; C::Read, format!("`{name} {sub}` reads package information"));
        }
        _ => {
            prog!(ev; C::Install, format!("`{name} {sub}` manages packages"));
            prog!(ev; C::Network, format!("`{name} {sub}` may download packages"));
        }
    }
}

fn operands_after_options<'a>(args: &'a [String], with_value: &[&str]) -> Vec<&'a String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if with_value.contains(&a.as_str()) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            out.push(a);
        }
        i += 1;
    }
    out
}

fn git(args: &[String], ev: &mut dyn FnMut(Category, Source, String)) {
    // Global options: `-C DIR`, `-c KEY=VALUE`, `--git-dir=...`.
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-C" | "--git-dir" | "--work-tree" | "--namespace" => i += 2,
            "-c" => {
                if let Some(kv) = args.get(i + 1) {
                    git_config_key(kv.split('=').next().unwrap_or(""), true, ev);
                }
                i += 2;
            }
            _ if a.starts_with("--exec-path") => {
                ev(
                    C::Execution,
                    Source::Argument,
                    "sets git's exec path".to_string(),
                );
                i += 1;
            }
            _ if a.starts_with('-') => i += 1,
            _ => break,
        }
    }
    let sub = args.get(i).map(String::as_str).unwrap_or("");
    let rest = args.get(i + 1..).unwrap_or(&[]);
    match sub {
        "status" | "log" | "show" | "diff" | "blame" | "describe" | "rev-parse" | "rev-list"
        | "ls-files" | "ls-tree" | "cat-file" | "grep" | "shortlog" | "reflog" | "help"
        | "version" | "--version" | "var" | "count-objects" | "fsck" | "name-rev"
        | "whatchanged" | "cherry" | "for-each-ref" | "symbolic-ref" | "check-ignore"
        | "merge-base" | "show-ref" | "annotate" | "range-diff" | "difftool" | "check-attr" => {
            prog!(ev; C::Read, "reads the repository")
        }
        "branch" | "tag" => {
            if rest
                .iter()
                .any(|a| a == "-D" || (a == "-d" && sub == "branch"))
            {
                prog!(ev; C::Destructive, "deletes a branch");
                prog!(ev; C::RepositoryWrite, "deletes a branch");
            } else if rest.iter().all(|a| a.starts_with('-')) {
                prog!(ev; C::Read, "lists refs");
            } else {
                prog!(ev; C::RepositoryWrite, "creates or changes refs");
            }
        }
        "remote" => match rest.first().map(String::as_str) {
            Some("add" | "set-url" | "remove" | "rm" | "rename") => {
                prog!(ev; C::RepositoryWrite, "changes remotes")
            }
            Some("update" | "prune") => {
                prog!(ev; C::Network, "fetches from remotes");
                prog!(ev; C::Download, "fetches from remotes");
            }
            _ => prog!(ev; C::Read, "lists remotes"),
        },
        "stash" => match rest.first().map(String::as_str) {
            Some("list" | "show") => prog!(ev; C::Read, "reads stashes"),
            Some("drop" | "clear") => {
                prog!(ev; C::Destructive, "drops stashed work");
                prog!(ev; C::RepositoryWrite, "drops stashed work");
            }
            _ => {
                prog!(ev; C::RepositoryWrite, "stashes work");
                prog!(ev; C::Write, "changes the working tree");
            }
        },
        "add" | "commit" | "merge" | "rebase" | "cherry-pick" | "revert" | "switch" | "am"
        | "notes" | "init" | "mv" | "rm" | "gc" | "prune" | "update-index" | "bisect"
        | "worktree" | "sparse-checkout" | "replace" | "commit-tree" | "read-tree"
        | "write-tree" | "mktag" | "update-ref" => {
            prog!(ev; C::RepositoryWrite, "changes the repository");
            if matches!(
                sub,
                "mv" | "rm" | "merge" | "rebase" | "cherry-pick" | "revert" | "switch"
            ) {
                prog!(ev; C::Write, "changes the working tree");
            }
            if sub == "update-ref" && rest.iter().any(|a| a == "-d") {
                prog!(ev; C::Destructive, "deletes a ref");
            }
            if sub == "bisect" && rest.first().is_some_and(|a| a == "run") {
                prog!(ev; C::Execution, "runs a command per bisect step");
            }
        }
        "checkout" | "restore" => {
            prog!(ev; C::Write, "changes the working tree");
            if rest
                .iter()
                .any(|a| a == "." || a == "--" || a == "-f" || a == "--force" || a == "--worktree")
            {
                prog!(ev; C::Destructive, "discards uncommitted changes");
            }
        }
        "reset" => {
            prog!(ev; C::RepositoryWrite, "moves a branch");
            if rest
                .iter()
                .any(|a| a == "--hard" || a == "--merge" || a == "--keep")
            {
                prog!(ev; C::Destructive, "discards uncommitted changes");
                prog!(ev; C::Write, "changes the working tree");
            }
        }
        "clean" => {
            prog!(ev; C::Write, "deletes untracked files");
            if has_short(rest, 'f') || rest.iter().any(|a| a == "--force") {
                prog!(ev; C::Destructive, "deletes untracked files");
            }
        }
        "filter-branch" | "filter-repo" => {
            prog!(ev; C::RepositoryWrite, "rewrites history");
            prog!(ev; C::Destructive, "rewrites history");
        }
        "clone" | "fetch" | "pull" | "ls-remote" | "submodule" | "lfs" => {
            prog!(ev; C::Network, "talks to a remote");
            prog!(ev; C::Download, "downloads from a remote");
            if matches!(sub, "pull" | "clone" | "submodule") {
                prog!(ev; C::Write, "writes the working tree");
            }
            if sub == "pull" {
                prog!(ev; C::RepositoryWrite, "merges fetched history");
            }
        }
        "push" | "send-pack" => {
            prog!(ev; C::RepositoryWrite, "pushes history to a remote");
            prog!(ev; C::Network, "talks to a remote");
            prog!(ev; C::Publish, "publishes history");
            let forced = rest.iter().any(|a| {
                a == "-f"
                    || a == "--force"
                    || a.starts_with("--force-with-lease")
                    || a == "--mirror"
                    || a == "--delete"
                    || a == "-d"
                    || a.starts_with('+')
                    || a.starts_with(':')
            });
            if forced {
                prog!(ev; C::Destructive, "overwrites or deletes remote history");
            }
        }
        "send-email" | "request-pull" | "daemon" | "instaweb" | "http-backend" => {
            prog!(ev; C::Network, "sends or serves the repository");
            if sub == "send-email" {
                prog!(ev; C::Exfiltration, "mails patches");
            }
        }
        "archive" | "bundle" | "format-patch" => {
            prog!(ev; C::Write, "writes an archive or patches")
        }
        "apply" => prog!(ev; C::Write, "applies a patch"),
        "config" => {
            let operands: Vec<&String> = rest.iter().filter(|a| !a.starts_with('-')).collect();
            let reads = rest.iter().any(|a| {
                a == "--get"
                    || a == "--get-all"
                    || a == "-l"
                    || a == "--list"
                    || a == "--get-regexp"
            }) || operands
                .first()
                .is_some_and(|a| a.as_str() == "get" || a.as_str() == "list")
                || operands.len() == 1;
            if reads {
                prog!(ev; C::Read, "reads git configuration");
            } else {
                let global = rest.iter().any(|a| a == "--global" || a == "--system");
                prog!(ev; if global { C::Persistence } else { C::RepositoryWrite }, "changes git configuration");
                if let Some(key) = operands.iter().find(|a| a.as_str() != "set") {
                    git_config_key(key, false, ev);
                }
            }
        }
        "credential" | "credential-store" | "credential-cache" => {
            ev(
                C::Credential,
                Source::Program,
                "reads stored git credentials".to_string(),
            );
            ev(
                C::SecretAccess,
                Source::Program,
                "reads stored git credentials".to_string(),
            );
        }
        "hook" => prog!(ev; C::Execution, "runs a git hook"),
        "" => prog!(ev; C::Read, "prints git help"),
        _ => prog!(ev; C::Execution, "runs a git alias or extension"),
    }
}

fn git_config_key(key: &str, one_shot: bool, ev: &mut dyn FnMut(Category, Source, String)) {
    let key = key.to_ascii_lowercase();
    let runs = key.starts_with("alias.")
        || key == "core.sshcommand"
        || key == "core.pager"
        || key == "core.editor"
        || key == "core.fsmonitor"
        || key == "core.hookspath"
        || key == "diff.external"
        || key.starts_with("filter.")
        || key.ends_with(".textconv")
        || key == "uploadpack.packobjectshook"
        || key == "protocol.ext.allow"
        || key == "sequence.editor"
        || key.starts_with("pager.");
    if runs {
        ev(
            C::Execution,
            Source::Argument,
            format!("git setting `{key}` runs a command"),
        );
        if !one_shot {
            ev(
                C::Persistence,
                Source::Argument,
                format!("git setting `{key}` runs a command later"),
            );
        }
    }
    if key.starts_with("credential") || key.ends_with("token") || key.ends_with("password") {
        ev(
            C::Credential,
            Source::Argument,
            format!("git setting `{key}` handles credentials"),
        );
    }
}

fn cargo(args: &[String], ev: &mut dyn FnMut(Category, Source, String)) {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if matches!(a, "--manifest-path" | "-Z" | "--config" | "-C" | "--color") {
            if a == "--config" {
                if let Some(v) = args.get(i + 1) {
                    if v.contains("rustc-wrapper") || v.contains("runner") || v.contains("linker") {
                        ev(
                            C::Execution,
                            Source::Argument,
                            "cargo configuration runs a command".to_string(),
                        );
                    }
                }
            }
            i += 2;
        } else if a.starts_with('-') || a.starts_with('+') {
            i += 1;
        } else {
            break;
        }
    }
    let sub = args.get(i).map(String::as_str).unwrap_or("");
    match sub {
        "install" | "binstall" | "add" | "update" | "fetch" | "generate-lockfile" | "vendor" => {
            prog!(ev; C::Install, "installs or updates crates");
            prog!(ev; C::Network, "downloads crates");
        }
        "publish" | "yank" | "owner" => {
            prog!(ev; C::SupplyChain, "publishes to a crate registry");
            prog!(ev; C::Publish, "publishes to a crate registry");
            prog!(ev; C::Network, "talks to a crate registry");
        }
        "login" | "logout" => prog!(ev; C::Credential, "handles a registry token"),
        "search" | "info" => prog!(ev; C::Network, "queries a crate registry"),
        "new" | "init" | "clean" | "remove" | "rm" => {
            prog!(ev; C::Write, "creates or removes files")
        }
        "metadata" | "tree" | "version" | "--version" | "-V" | "verify-project" | "pkgid"
        | "locate-project" | "help" | "" => prog!(ev; C::Read, "reads the package"),
        _ => prog!(ev; C::Execution, "builds and runs code (build scripts, tests, binaries)"),
    }
}

fn npm(name: &str, args: &[String], ev: &mut dyn FnMut(Category, Source, String)) {
    let operands: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sub = operands.first().copied().unwrap_or("");
    if matches!(name, "npx" | "pnpx" | "bunx") || matches!(sub, "dlx" | "exec" | "x") {
        prog!(ev; C::Execution, format!("`{name}` runs a package"));
        prog!(ev; C::Install, format!("`{name}` fetches the package it runs"));
        prog!(ev; C::Network, format!("`{name}` fetches the package it runs"));
        return;
    }
    match sub {
        "install" | "i" | "ci" | "add" | "update" | "up" | "upgrade" | "link" | "isntall"
        | "in" | "rebuild" | "dedupe" | "prune" => {
            prog!(ev; C::Install, format!("`{name} {sub}` installs packages (and runs their install scripts)"));
            prog!(ev; C::Network, format!("`{name} {sub}` downloads packages"));
        }
        "" if name == "yarn" || name == "bun" || name == "pnpm" => {
            prog!(ev; C::Install, format!("`{name}` installs packages"));
            prog!(ev; C::Network, format!("`{name}` downloads packages"));
        }
        "publish" | "unpublish" | "deprecate" | "dist-tag" => {
            for c in [C::SupplyChain, C::Publish, C::Network] {
                prog!(ev; c, format!("`{name} {sub}` publishes to a package registry"));
            }
        }
        "login" | "adduser" | "logout" | "token" | "owner" | "access" | "whoami" => {
            prog!(ev; C::Credential, format!("`{name} {sub}` handles registry credentials"));
            prog!(ev; C::Network, format!("`{name} {sub}` talks to the registry"));
        }
        "view" | "info" | "search" | "audit" | "ping" | "outdated" | "show" => {
            prog!(ev; C::Network, format!("`{name} {sub}` queries the registry"));
        }
        "ls" | "list" | "why" | "explain" | "help" | "-v" | "--version" | "version"
            if !(sub == "version" && operands.len() > 1) =>
        {
            prog!(ev; C::Read, format!("`{name} {sub}` reads package information"));
        }
        "version" => {
            prog!(ev; C::RepositoryWrite, format!("`{name} version` commits and tags a release"))
        }
        "config" | "set" | "get" => {
            if operands
                .get(1)
                .is_some_and(|a| *a == "set" || *a == "delete" || *a == "edit")
                || sub == "set"
            {
                prog!(ev; C::Write, format!("`{name} config` changes configuration"));
            } else {
                prog!(ev; C::Read, format!("`{name} config` reads configuration"));
            }
            if args
                .iter()
                .any(|a| a.contains("_auth") || a.contains("token"))
            {
                prog!(ev; C::Credential, format!("`{name} config` touches a registry token"));
            }
        }
        "pack" => prog!(ev; C::Write, format!("`{name} pack` writes a tarball")),
        "uninstall" | "remove" | "rm" | "un" => {
            prog!(ev; C::Write, format!("`{name} {sub}` removes packages"))
        }
        "init" | "create" => {
            prog!(ev; C::Write, format!("`{name} {sub}` creates a package"));
            if operands.len() > 1 {
                prog!(ev; C::Install, format!("`{name} {sub}` fetches an initialiser"));
                prog!(ev; C::Execution, format!("`{name} {sub}` runs an initialiser"));
            }
        }
        _ => prog!(ev; C::Execution, format!("`{name} {sub}` runs a package script")),
    }
}

fn docker(args: &[String], ev: &mut dyn FnMut(Category, Source, String)) {
    let operands: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut sub = operands.first().copied().unwrap_or("");
    if matches!(
        sub,
        "container" | "image" | "compose" | "buildx" | "system" | "volume" | "network"
    ) {
        let second = operands.get(1).copied().unwrap_or("");
        if sub == "system" && second == "prune"
            || sub == "volume" && matches!(second, "prune" | "rm")
        {
            ev(
                C::Destructive,
                Source::Program,
                "prunes docker data".to_string(),
            );
            return;
        }
        sub = match (sub, second) {
            ("compose", "up" | "run" | "exec" | "start") => "run",
            ("compose", "push") | ("image", "push") => "push",
            ("compose", "pull") | ("image", "pull") => "pull",
            ("buildx", "build") | ("compose", "build") => "build",
            (_, s) => s,
        };
    }
    match sub {
        "push" => {
            prog!(ev; C::SupplyChain, "pushes an image to a registry");
            prog!(ev; C::Publish, "pushes an image to a registry");
            prog!(ev; C::Network, "talks to a registry");
        }
        "pull" | "search" => {
            prog!(ev; C::Download, "pulls an image");
            prog!(ev; C::Network, "talks to a registry");
        }
        "login" | "logout" => {
            prog!(ev; C::Credential, "handles registry credentials");
            prog!(ev; C::Network, "talks to a registry");
        }
        "build" => {
            prog!(ev; C::Execution, "builds an image (runs its steps)");
            prog!(ev; C::Network, "fetches base images");
        }
        "ps" | "images" | "inspect" | "logs" | "version" | "info" | "ls" | "top" | "stats"
        | "history" | "port" | "diff" | "events" | "" => {
            prog!(ev; C::Read, "reads container state")
        }
        "rm" | "rmi" | "kill" | "stop" | "restart" | "pause" | "unpause" => {
            prog!(ev; C::ProcessControl, "stops or removes containers")
        }
        "prune" => prog!(ev; C::Destructive, "prunes docker data"),
        "cp" | "save" | "export" | "tag" | "commit" | "load" | "import" => {
            prog!(ev; C::Write, "copies images or files")
        }
        _ => prog!(ev; C::Execution, "runs a container"),
    }
    let privileged = args.iter().any(|a| {
        a == "--privileged"
            || a.starts_with("--pid=host")
            || a.starts_with("--cap-add")
            || a.starts_with("--security-opt")
            || a.starts_with("--userns=host")
            || a.contains("docker.sock")
            || a.starts_with("/:/")
            || a.starts_with("/:")
    });
    if privileged {
        ev(
            C::Privilege,
            Source::Argument,
            "container gets host privileges".to_string(),
        );
    }
}

fn kubectl(name: &str, args: &[String], ev: &mut dyn FnMut(Category, Source, String)) {
    let sub = first_operand(args).unwrap_or("");
    prog!(ev; C::Network, format!("`{name}` talks to a cluster"));
    match sub {
        "get" | "describe" | "logs" | "top" | "version" | "explain" | "api-resources" | "list"
        | "status" | "history" | "show" | "search" | "template" => {
            prog!(ev; C::Read, format!("`{name} {sub}` reads cluster state"))
        }
        "delete" | "uninstall" | "drain" => {
            prog!(ev; C::Destructive, format!("`{name} {sub}` deletes cluster resources"))
        }
        "install" | "upgrade" | "repo" => {
            prog!(ev; C::Install, format!("`{name} {sub}` installs a chart"));
            prog!(ev; C::Execution, format!("`{name} {sub}` changes the cluster"));
        }
        "push" => {
            prog!(ev; C::Publish, format!("`{name} push` publishes a chart"));
            prog!(ev; C::SupplyChain, format!("`{name} push` publishes a chart"));
        }
        "config" => {
            prog!(ev; C::Credential, format!("`{name} config` handles cluster credentials"));
            prog!(ev; C::SecretAccess, format!("`{name} config` handles cluster credentials"));
        }
        _ => prog!(ev; C::Execution, format!("`{name} {sub}` changes or runs in the cluster")),
    }
    if args
        .iter()
        .any(|a| a == "secret" || a == "secrets" || a.starts_with("secret/"))
    {
        ev(
            C::SecretAccess,
            Source::Argument,
            "touches cluster secrets".to_string(),
        );
    }
}

fn http_client(name: &str, args: &[String], ev: &mut dyn FnMut(Category, Source, String)) {
    ev(
        C::Network,
        Source::Program,
        format!("`{name}` talks to the network"),
    );
    let upload = if name == "wget" {
        args.iter().any(|a| {
            a.starts_with("--post-data")
                || a.starts_with("--post-file")
                || a.starts_with("--body-data")
                || a.starts_with("--body-file")
                || a.starts_with("--method")
        })
    } else if name == "curl" {
        let mut upload = false;
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            if a.starts_with("--data")
                || a == "-d"
                || (a.starts_with("-d") && !a.starts_with("--"))
                || a.starts_with("--form")
                || a == "-F"
                || a.starts_with("-F")
                || a == "-T"
                || a.starts_with("--upload-file")
                || a.starts_with("--json")
            {
                upload = true;
            }
            if (a == "-X" || a == "--request")
                && args.get(i + 1).is_some_and(|m| {
                    matches!(m.to_ascii_uppercase().as_str(), "POST" | "PUT" | "PATCH")
                })
            {
                upload = true;
            }
            if a.starts_with("-X") && a.len() > 2 && matches!(&a[2..], "POST" | "PUT" | "PATCH") {
                upload = true;
            }
            i += 1;
        }
        upload
    } else {
        args.iter().any(|a| {
            matches!(
                a.as_str(),
                "POST" | "PUT" | "PATCH" | "post" | "put" | "--form" | "-f"
            ) || (!a.contains("://") && (a.contains(":=") || a.contains("=@") || a.contains("@")))
        })
    };
    if upload {
        ev(
            C::Exfiltration,
            Source::Argument,
            format!("`{name}` uploads data"),
        );
    } else {
        ev(C::Download, Source::Program, format!("`{name}` downloads"));
    }
    let writes = args.iter().enumerate().any(|(i, a)| {
        (name == "curl"
            && (a == "-o"
                || a == "--output"
                || a == "-O"
                || a == "--remote-name"
                || a.starts_with("-o") && a.len() > 2 && !a.starts_with("--")))
            || (name == "wget"
                && !(a == "-O" && args.get(i + 1).is_some_and(|t| t == "-"))
                && !args.iter().any(|x| x == "-qO-" || x == "-O-"))
            || (name != "curl"
                && name != "wget"
                && (a == "-o" || a == "--output" || a == "-d" || a == "--download"))
    });
    if writes {
        ev(
            C::Write,
            Source::Program,
            format!("`{name}` saves what it downloads"),
        );
    }
}

fn sed_executes(script: &str) -> bool {
    // GNU sed: the `e` command, the `e` flag of `s`, `w FILE` (write handled as write).
    let t = script.trim();
    t == "e"
        || t.starts_with("e ")
        || t.contains(";e")
        || t.contains("; e")
        || (t.starts_with('s') && {
            let flags: String = t
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            flags.contains('e') && t.len() > flags.len() + 2
        })
}

/// Paths whose recursive deletion destroys the system or the user's data.
fn dangerous_target(a: &str) -> bool {
    let a = a.trim_end_matches('/');
    if a.is_empty()
        || matches!(
            a,
            "~" | "*" | "." | ".." | "./*" | "~/*" | "/*" | ".*" | "$HOME" | "../*"
        )
    {
        return true;
    }
    if a.starts_with("~/") || a.starts_with("$HOME") {
        return true;
    }
    if let Some(rest) = a.strip_prefix('/') {
        // Anything absolute except under temporary directories.
        return !(rest.starts_with("tmp/") || rest.starts_with("var/tmp/"));
    }
    a.starts_with("../")
}

fn benign_device(target: &str) -> bool {
    matches!(
        target,
        "/dev/null"
            | "/dev/stdout"
            | "/dev/stderr"
            | "/dev/stdin"
            | "/dev/tty"
            | "/dev/zero"
            | "/dev/random"
            | "/dev/urandom"
    ) || target.starts_with("/dev/fd/")
}

/// Variable names that hold secrets.
pub(super) fn secret_variable(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "ACCESS_KEY",
        "CREDENTIAL",
        "AUTH",
        "SESSION_KEY",
    ]
    .iter()
    .any(|n| up.contains(n))
}

/// Secret and credential files: `(needle, is_credential)`; a needle ending in `/` matches a
/// directory anywhere in the path, one starting with `/` an absolute prefix, others a file name.
const SECRET_PATHS: &[(&str, bool)] = &[
    (".ssh/", true),
    (".aws/", true),
    (".docker/config.json", true),
    (".kube/", true),
    (".config/gh/", true),
    (".config/gcloud/", true),
    (".azure/", true),
    (".gnupg/", true),
    (".password-store/", true),
    (".cargo/credentials", true),
    (".terraform.d/credentials", true),
    ("Library/Keychains/", true),
    (".local/share/keyrings/", true),
    (".config/hub", true),
    ("/etc/shadow", false),
    ("/etc/gshadow", false),
    ("/etc/sudoers", false),
    ("/etc/ssl/private/", true),
    ("/var/run/secrets/", true),
    ("/run/secrets/", true),
];

const SECRET_FILES: &[(&str, bool)] = &[
    (".npmrc", true),
    (".pypirc", true),
    (".netrc", true),
    ("_netrc", true),
    (".git-credentials", true),
    (".pgpass", true),
    (".my.cnf", true),
    (".vault-token", true),
    (".dockercfg", true),
    ("credentials", true),
    ("credentials.json", true),
    ("credentials.toml", true),
    ("application_default_credentials.json", true),
    ("id_rsa", true),
    ("id_dsa", true),
    ("id_ecdsa", true),
    ("id_ed25519", true),
    (".env", false),
    (".envrc", false),
    (".bash_history", false),
    (".zsh_history", false),
    (".python_history", false),
    (".psql_history", false),
    (".mysql_history", false),
    ("secrets.yml", false),
    ("secrets.yaml", false),
    ("secrets.json", false),
    ("secrets.toml", false),
    ("master.key", true),
    ("htpasswd", true),
    (".htpasswd", true),
];

#[rustfmt::skip]
const KEY_EXTENSIONS: &[&str] = &[
    ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".ppk", ".asc", ".gpg",
];

/// Whether `path` names a secret; `Some(true)` for a credential.
pub(super) fn secret_path(path: &str) -> Option<bool> {
    let path = path.trim_matches(|c| c == '"' || c == '\'');
    let path = path
        .strip_prefix("$HOME")
        .map(|p| format!("~{p}"))
        .unwrap_or_else(|| path.to_string());
    if path.ends_with(".pub") || path.ends_with("known_hosts") {
        return None;
    }
    for (needle, credential) in SECRET_PATHS {
        let hit = if needle.starts_with('/') {
            path.starts_with(needle) || path.contains(&format!("/..{needle}"))
        } else if let Some(dir) = needle.strip_suffix('/') {
            path.contains(needle)
                || path.ends_with(dir)
                    && (path.len() == dir.len() || path[..path.len() - dir.len()].ends_with('/'))
        } else {
            path.contains(needle)
        };
        if hit {
            return Some(*credential);
        }
    }
    if path.starts_with("/proc/") && path.ends_with("/environ") {
        return Some(false);
    }
    let file = path.rsplit('/').next().unwrap_or(&path);
    if file.is_empty() {
        return None;
    }
    // A glob can name a secret (`cat .en*`) if it spells enough of it; `*` alone does not match
    // dot files.
    let literal = file.chars().filter(|c| !"*?[]".contains(*c)).count();
    let glob = file.contains(['*', '?', '[']) && literal >= 2;
    for (name, credential) in SECRET_FILES {
        let dots_agree = file.starts_with('.') == name.starts_with('.');
        if file == *name || (glob && dots_agree && glob_match(file, name)) {
            return Some(*credential);
        }
    }
    if (file.starts_with(".env.") || file.ends_with(".env"))
        && !file.ends_with(".example")
        && !file.ends_with(".sample")
        && !file.ends_with(".template")
        && !file.ends_with(".dist")
    {
        return Some(false);
    }
    if file.starts_with("id_")
        && (file.contains("rsa")
            || file.contains("ed25519")
            || file.contains("ecdsa")
            || file.contains("dsa"))
    {
        return Some(true);
    }
    if KEY_EXTENSIONS.iter().any(|e| file.ends_with(e)) {
        return Some(true);
    }
    if file.contains("secret") && !file.ends_with(".rs") && !file.ends_with(".md") {
        return Some(false);
    }
    None
}

/// Files whose change outlives the session (read when written).
#[rustfmt::skip]
const PERSISTENCE_PATHS: &[&str] = &[
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv",
    ".zprofile", ".zlogin", ".kshrc", ".cshrc", ".tcshrc", ".config/fish/", "/etc/profile",
    "/etc/bash.bashrc", "/etc/environment", "/etc/cron", "/var/spool/cron", "/etc/crontab",
    "/etc/anacrontab", ".git/hooks/", ".husky/", "/etc/systemd/", ".config/systemd/",
    "/lib/systemd/", "/usr/lib/systemd/", "/etc/init.d/", "/etc/rc.local", "LaunchAgents/",
    "LaunchDaemons/", ".ssh/authorized_keys", ".ssh/rc", ".config/autostart/",
    "/etc/ld.so.preload", ".gitconfig", ".config/git/", "sitecustomize.py", "usercustomize.py",
    "/etc/sudoers", "/etc/passwd", "/etc/xdg/autostart/", ".vimrc", ".inputrc", ".xinitrc",
    ".xprofile", "/etc/update-motd.d/", ".config/nvim/", ".tmux.conf", "/etc/apt/apt.conf.d/",
    ".direnvrc",
];

pub(super) fn persistence_path(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    PERSISTENCE_PATHS.iter().any(|p| {
        let p_trim = p.trim_end_matches('/');
        path.contains(p) || path.ends_with(p_trim)
    }) || path.ends_with(".service")
        || path.ends_with(".timer")
        || path.ends_with(".plist")
        || (path.ends_with(".pth") && path.contains("site-packages"))
}

/// Persistence paths that hold shell code (their literal content is classified too).
pub(super) fn shell_script_path(path: &str) -> bool {
    #[rustfmt::skip]
    const SCRIPTS: &[&str] = &[
        ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv",
        ".zprofile", ".zlogin", ".kshrc", "/etc/profile", "/etc/bash.bashrc", ".git/hooks/",
        ".husky/", "/etc/init.d/", "/etc/rc.local", ".direnvrc", "/etc/update-motd.d/",
    ];
    SCRIPTS.iter().any(|p| path.contains(p))
}

fn outside_workspace(path: &str) -> bool {
    if path.contains("://") {
        return false;
    }
    if benign_device(path) {
        return false;
    }
    path.starts_with('/')
        || path.starts_with('~')
        || path == ".."
        || path.starts_with("../")
        || path.contains("/../")
        || path.ends_with("/..")
        || path.starts_with("$HOME")
}

/// Checks one word (argument, assignment value, code token) for paths that cross a boundary.
fn path_evidence(
    word: &str,
    writes: bool,
    source: Source,
    ev: &mut dyn FnMut(Category, Source, String),
) {
    let mut candidates: Vec<&str> = vec![word];
    for sep in ['=', '@', ':', ','] {
        for part in word.split(sep).skip(1) {
            candidates.push(part);
        }
    }
    let mut seen_secret = false;
    let mut seen_outside = false;
    for c in candidates {
        let c = c.trim_start_matches('@');
        if c.is_empty() {
            continue;
        }
        if !seen_secret {
            if let Some(credential) = secret_path(c) {
                seen_secret = true;
                ev(C::SecretAccess, source, format!("names the secret `{c}`"));
                if credential {
                    ev(C::Credential, source, format!("names the credential `{c}`"));
                }
            }
        }
        if c.starts_with("/dev/tcp/") || c.starts_with("/dev/udp/") {
            ev(C::Network, source, format!("opens `{c}`"));
        }
        if writes && persistence_path(c) {
            ev(C::Persistence, source, format!("writes `{c}`"));
        }
        if !seen_outside
            && source != Source::Assignment
            && outside_workspace(c)
            && c == word.trim_start_matches('@')
        {
            seen_outside = true;
            ev(
                C::OutsideWorkspace,
                source,
                format!("names `{c}`, outside the working tree"),
            );
        }
    }
}

fn redirect_evidence(
    cmd: &SimpleCommand,
    kind: RedirectKind,
    target: &str,
    ev: &mut dyn FnMut(Category, Source, String),
) {
    match kind {
        RedirectKind::Duplicate | RedirectKind::HereDocument | RedirectKind::HereString => return,
        _ => {}
    }
    if benign_device(target) {
        return;
    }
    let writes = matches!(
        kind,
        RedirectKind::Write | RedirectKind::Append | RedirectKind::ReadWrite
    );
    if target.starts_with("/dev/tcp/") || target.starts_with("/dev/udp/") {
        ev(
            C::Network,
            Source::Redirect,
            format!("redirects to `{target}`"),
        );
        if writes {
            ev(
                C::Exfiltration,
                Source::Redirect,
                format!("sends output to `{target}`"),
            );
        } else {
            ev(
                C::Download,
                Source::Redirect,
                format!("reads from `{target}`"),
            );
        }
        let interactive_shell =
            normalize::is_shell(cmd.program()) && cmd.argv.iter().any(|a| a == "-i");
        if cmd.program().is_empty() || interactive_shell {
            ev(
                C::RemoteShell,
                Source::Redirect,
                format!("binds a shell's descriptors to `{target}`"),
            );
        }
        return;
    }
    if writes {
        ev(C::Write, Source::Redirect, format!("writes `{target}`"));
        if persistence_path(target) {
            ev(
                C::Persistence,
                Source::Redirect,
                format!("writes `{target}`"),
            );
        }
        if target.starts_with("/dev/") {
            ev(
                C::Destructive,
                Source::Redirect,
                format!("writes the device `{target}`"),
            );
        }
    } else {
        ev(C::Read, Source::Redirect, format!("reads `{target}`"));
    }
    if let Some(credential) = secret_path(target) {
        ev(
            C::SecretAccess,
            Source::Redirect,
            format!("redirects the secret `{target}`"),
        );
        if credential {
            ev(
                C::Credential,
                Source::Redirect,
                format!("redirects the credential `{target}`"),
            );
        }
    }
    if outside_workspace(target) {
        ev(
            C::OutsideWorkspace,
            Source::Redirect,
            format!("redirects `{target}`, outside the working tree"),
        );
    }
}

fn code_evidence(code: &str, ev: &mut dyn FnMut(Category, Source, String)) {
    let mut seen = BTreeSet::new();
    for (needle, category, reason) in CODE_NEEDLES {
        if code.contains(needle) && seen.insert((*category, *reason)) {
            ev(*category, Source::Code, format!("code {reason}"));
        }
    }
    let network = seen.iter().any(|(c, _)| *c == C::Network);
    let runs_shell = code.contains("/bin/sh")
        || code.contains("/bin/bash")
        || code.contains("pty.spawn")
        || code.contains("cmd.exe");
    let dup = code.contains("dup2")
        || code.contains("fileno")
        || code.contains("STDIN")
        || code.contains("stdio");
    if network && runs_shell && (dup || code.contains("exec")) {
        ev(
            C::RemoteShell,
            Source::Code,
            "code connects a shell to a socket".to_string(),
        );
    }
    // Paths inside the code: split on characters that cannot be in a path.
    let mut seen_paths = BTreeSet::new();
    for token in code.split(|c: char| !(c.is_ascii_alphanumeric() || "._/~-$".contains(c))) {
        if token.len() < 4 || !seen_paths.insert(token) {
            continue;
        }
        if let Some(credential) = secret_path(token) {
            ev(
                C::SecretAccess,
                Source::Code,
                format!("code names the secret `{token}`"),
            );
            if credential {
                ev(
                    C::Credential,
                    Source::Code,
                    format!("code names the credential `{token}`"),
                );
            }
        }
        if token.starts_with("/dev/tcp/") {
            ev(C::Network, Source::Code, format!("code opens `{token}`"));
        }
    }
}

/// `*` and `?` glob matching (`[...]` counts as one character), iterative.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = {
        let mut out = Vec::new();
        let mut in_class = false;
        for c in pattern.chars() {
            match c {
                '[' if !in_class => {
                    in_class = true;
                    out.push('?');
                }
                ']' if in_class => in_class = false,
                _ if in_class => {}
                _ => out.push(c),
            }
        }
        out
    };
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}
