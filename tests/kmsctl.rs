//! `kmsctl` driven as a user drives it: the built binary, temp stores, real files. Every
//! command's happy path and refusals (one `kmsctl: ...` line on stderr, the documented exit
//! code, nothing half-written); rotation by time and by use count through `maintain` and
//! lazily, exactly once under two concurrent `maintain` processes; deletion with a 0-day
//! window carried out by `maintain`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kmsctl");

struct T {
    dir: tempfile::TempDir,
    store: PathBuf,
}

impl T {
    fn new() -> T {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("kms.db");
        T { dir, store }
    }

    fn init() -> T {
        let t = T::new();
        t.ok(&["init"]);
        t
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ps(&self, name: &str) -> String {
        self.p(name).display().to_string()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("KMS_STORE", &self.store)
            .env("KMS_MIN_DELETION_DAYS", "0")
            .env_remove("KMS_PASSPHRASE")
            .env_remove("KMS_MASTER_KEY_FILE")
            .env_remove("KMS_SECRET")
            .env_remove("KMS_BACKUP_PASSPHRASE")
            .env_remove("KMS_NEW_SECRET")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn ok_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let o = self.run(args, env);
        assert!(
            o.status.success(),
            "kmsctl {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_env(args, &[])
    }

    /// Runs a command expected to fail with `code`; returns its one-line message.
    fn err_env(&self, args: &[&str], env: &[(&str, &str)], code: i32) -> String {
        let o = self.run(args, env);
        let e = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(code), "kmsctl {args:?}: {e}");
        assert!(e.starts_with("kmsctl: "), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
        e
    }

    fn err(&self, args: &[&str], code: i32) -> String {
        self.err_env(args, &[], code)
    }

    /// As an identity with its secret in KMS_SECRET.
    fn as_id(&self, who: &str, secret: &str, args: &[&str]) -> Output {
        let mut a = vec!["--identity", who];
        a.extend_from_slice(args);
        self.run(&a, &[("KMS_SECRET", secret)])
    }

    /// One use of a key (an envelope encryption of a small file, output discarded).
    fn use_key(&self, key: &str) {
        let f = self.p("use.txt");
        std::fs::write(&f, b"x").unwrap();
        let o = self.run(&["encrypt", "--key", key, "-i", f.to_str().unwrap()], &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn primary(&self, key: &str) -> u32 {
        let j = self.ok(&["key", "describe", key, "--json"]);
        let i = j.find("\"primary_version\":").unwrap() + 18;
        j[i..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn identity(&self, name: &str, roles: &str, secret: &str) {
        let f = self.p(&format!("{name}.secret"));
        std::fs::write(&f, format!("{secret}\n")).unwrap();
        let mut a = vec![
            "identity",
            "create",
            name,
            "--new-secret-file",
            f.to_str().unwrap(),
        ];
        if !roles.is_empty() {
            a.extend(["--roles", roles]);
        }
        self.ok(&a);
    }
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

const ALL_COMMANDS: &[&str] = &[
    "init",
    "status",
    "identity create",
    "identity list",
    "identity disable",
    "identity enable",
    "identity unlock",
    "identity set-secret",
    "identity delete",
    "policy grant",
    "policy revoke",
    "policy show",
    "key create",
    "key import",
    "key import-wrapped",
    "key list",
    "key describe",
    "key versions",
    "key rotate",
    "key enable",
    "key disable",
    "key suspend",
    "key deactivate",
    "key compromised",
    "key schedule-deletion",
    "key cancel-deletion",
    "key set-rotation",
    "key set-min-version",
    "key destroy-version",
    "key export-wrapped",
    "encrypt",
    "decrypt",
    "secret put",
    "secret get",
    "secret list",
    "secret versions",
    "secret delete",
    "audit tail",
    "audit query",
    "audit export",
    "audit verify",
    "audit checkpoint",
    "report",
    "backup",
    "restore",
    "maintain",
    "master-key rotate",
];

#[test]
fn help_everywhere_and_usage_errors() {
    let t = T::new();
    let top = t.ok(&["--help"]);
    for c in ALL_COMMANDS {
        assert!(top.contains(c), "{c} missing from --help");
        let mut a: Vec<&str> = c.split(' ').collect();
        a.push("--help");
        let h = t.ok(&a);
        assert!(h.contains(&format!("kmsctl [GLOBAL OPTIONS] {c}")), "{h}");
    }
    assert!(t.ok(&["key", "--help"]).contains("key schedule-deletion"));
    t.err(&[], 2);
    t.err(&["frobnicate"], 2);
    t.err(&["key"], 2);
    t.err(&["key", "create", "x", "--bogus"], 2);
    t.err(&["--store"], 2);
    // No store yet: not found.
    let e = t.err(&["status"], 3);
    assert!(e.contains("kmsctl init"), "{e}");
}

#[test]
fn init_status_and_passphrase_stores() {
    let t = T::new();
    let out = t.ok(&["init"]);
    assert!(out.contains("store created"), "{out}");
    assert!(t.p("kms.db.key").exists() && t.p("kms.db.owner").exists());
    let e = t.err(&["init"], 4);
    assert!(e.contains("already exists"), "{e}");
    let s = t.ok(&["status"]);
    assert!(
        s.contains("master key   keyfile") && s.contains("sqlite:"),
        "{s}"
    );
    let j = t.ok(&["status", "--json"]);
    assert!(
        j.contains("\"master_key\":\"keyfile\"") && j.contains("\"audit_head\":{"),
        "{j}"
    );

    // Passphrase store: opens with KMS_PASSPHRASE only.
    let p = T::new();
    let pass = [("KMS_PASSPHRASE", "correct horse")];
    p.ok_env(&["init", "--passphrase"], &pass);
    assert!(!p.p("kms.db.key").exists());
    let s = p.ok_env(&["status"], &pass);
    assert!(s.contains("passphrase"), "{s}");
    p.err_env(&["status"], &[("KMS_PASSPHRASE", "wrong horse")], 5);
    p.err(&["status"], 5);
    // --store overrides KMS_STORE.
    let other = t.ps("other.db");
    t.ok(&["--store", &other, "init"]);
    assert!(t.ok(&["status", "--store", &other]).contains("other.db"));
}

#[test]
fn identities_and_policy() {
    let t = T::init();
    t.ok(&["key", "create", "app"]);
    t.identity("alice", "user", "alice-secret");
    t.identity("bob", "", "bob-secret");
    let gen = t.ok(&[
        "identity",
        "create",
        "carol",
        "--roles",
        "auditor",
        "--generate",
    ]);
    let carol = gen.trim().to_string();
    assert_eq!(carol.len(), 48);
    let list = t.ok(&["identity", "list", "--json"]);
    assert!(
        list.contains("\"name\":\"alice\",\"roles\":[\"user\"]"),
        "{list}"
    );
    assert!(!list.contains("alice-secret"));
    t.err(&["identity", "create", "alice", "--generate"], 4);
    t.err(
        &[
            "identity",
            "create",
            "dave",
            "--roles",
            "admin,user",
            "--generate",
        ],
        2,
    );

    // alice (user role) encrypts; cannot manage; a wrong secret is refused.
    let msg = t.p("m.txt");
    std::fs::write(&msg, b"hi").unwrap();
    let ms = msg.to_str().unwrap();
    let o = t.as_id(
        "alice",
        "alice-secret",
        &["encrypt", "--key", "app", "-i", ms],
    );
    assert!(o.status.success());
    let o = t.as_id("alice", "alice-secret", &["key", "create", "mine"]);
    assert_eq!(code(&o), Some(6), "{}", String::from_utf8_lossy(&o.stderr));
    let o = t.as_id("alice", "nope", &["key", "list"]);
    assert_eq!(code(&o), Some(5));
    // Secret from a file works as well as from KMS_SECRET.
    let f = t.ps("alice.secret");
    t.ok(&["--identity", "alice", "--secret-file", &f, "key", "list"]);
    // carol the auditor reads the trail with her generated secret.
    let o = t.as_id("carol", &carol, &["audit", "tail", "-n", "3"]);
    assert!(o.status.success());

    // bob has nothing until granted.
    let o = t.as_id("bob", "bob-secret", &["encrypt", "--key", "app", "-i", ms]);
    assert_eq!(code(&o), Some(6));
    let g = t.ok(&[
        "policy",
        "grant",
        "bob",
        "--key",
        "app",
        "--actions",
        "generate-data-key,decrypt",
        "--expires",
        "+1d",
        "--json",
    ]);
    let gid: String = g.chars().filter(|c| c.is_ascii_digit()).collect();
    let o = t.as_id("bob", "bob-secret", &["encrypt", "--key", "app", "-i", ms]);
    assert!(o.status.success());
    let show = t.ok(&["policy", "show", "app"]);
    assert!(
        show.contains("bob") && show.contains("decrypt,generate-data-key"),
        "{show}"
    );
    assert!(t
        .ok(&["policy", "show", "--json"])
        .contains("\"identity\":\"bob\""));
    t.ok(&["policy", "revoke", &gid]);
    t.err(&["policy", "revoke", &gid], 3);
    t.err(&["policy", "grant", "bob", "--key", "app"], 2);
    t.err(&["policy", "grant", "nobody", "--actions", "encrypt"], 3);
    let o = t.as_id("bob", "bob-secret", &["encrypt", "--key", "app", "-i", ms]);
    assert_eq!(code(&o), Some(6));

    // Disable, enable, lockout and unlock, new secret, delete.
    t.ok(&["identity", "disable", "alice"]);
    let o = t.as_id("alice", "alice-secret", &["key", "list"]);
    assert_eq!(code(&o), Some(5));
    t.ok(&["identity", "enable", "alice"]);
    for _ in 0..3 {
        t.run(
            &["--identity", "bob", "key", "list"],
            &[("KMS_SECRET", "wrong"), ("KMS_LOCKOUT_THRESHOLD", "3")],
        );
    }
    let o = t.as_id("bob", "bob-secret", &["key", "list"]);
    assert_eq!(code(&o), Some(5));
    assert!(String::from_utf8_lossy(&o.stderr).contains("locked"));
    t.ok(&["identity", "unlock", "bob"]);
    // Authenticated again (bob holds no role, so listing is denied, not unauthenticated).
    assert_eq!(
        code(&t.as_id("bob", "bob-secret", &["key", "list"])),
        Some(6)
    );
    t.ok_env(
        &["identity", "set-secret", "bob"],
        &[("KMS_NEW_SECRET", "bob-new-secret")],
    );
    assert_eq!(
        code(&t.as_id("bob", "bob-secret", &["key", "list"])),
        Some(5)
    );
    assert_eq!(
        code(&t.as_id("bob", "bob-new-secret", &["key", "list"])),
        Some(6)
    );
    t.ok(&["identity", "delete", "bob"]);
    t.err(&["identity", "delete", "bob"], 3);
    // A user cannot manage identities.
    let o = t.as_id("alice", "alice-secret", &["identity", "disable", "carol"]);
    assert_eq!(code(&o), Some(6));
}

#[test]
fn key_lifecycle_and_refusals() {
    let t = T::init();
    let out = t.ok(&[
        "key",
        "create",
        "app",
        "--tag",
        "team=pay",
        "--description",
        "payments",
    ]);
    assert!(out.contains("created: active"), "{out}");
    t.err(&["key", "create", "app"], 4);
    t.err(&["key", "create", "x", "--spec", "DES"], 2);
    t.err(&["key", "describe", "nope"], 3);
    let list = t.ok(&["key", "list", "--json"]);
    assert!(list.contains("\"name\":\"app\"") && list.contains("\"state\":\"active\""));
    assert!(t.ok(&["key", "list", "--tag", "team=pay"]).contains("app"));
    assert!(!t
        .ok(&["key", "list", "--state", "suspended"])
        .contains("app"));
    assert!(t.ok(&["key", "describe", "app"]).contains("payments"));

    let f = t.p("f.txt");
    std::fs::write(&f, b"data").unwrap();
    let fs = f.to_str().unwrap();
    let ct1 = t.ps("f.v1");
    t.ok(&["encrypt", "--key", "app", "-i", fs, "-o", &ct1]);
    assert!(t
        .ok(&["key", "rotate", "app"])
        .contains("primary version 2"));
    let v = t.ok(&["key", "versions", "app", "--json"]);
    assert!(
        v.contains("\"version\":1,") && v.contains("\"uses\":1"),
        "{v}"
    );
    assert!(t.ok(&["key", "versions", "app"]).contains("primary"));

    // Disable: no encryption (state error); enable again; suspend is the same.
    t.ok(&["key", "disable", "app"]);
    t.err(&["encrypt", "--key", "app", "-i", fs], 7);
    t.err(&["key", "disable", "app"], 7);
    t.ok(&["key", "enable", "app"]);
    t.ok(&["key", "suspend", "app"]);
    t.ok(&["key", "enable", "app"]);
    // Version floor and version destruction.
    t.ok(&["key", "set-min-version", "app", "2"]);
    t.err(&["decrypt", "-i", &ct1], 7);
    t.err(&["key", "set-min-version", "app", "9"], 2);
    t.ok(&["key", "destroy-version", "app", "1"]);
    t.err(&["key", "destroy-version", "app", "2"], 2);
    t.err(&["key", "set-min-version", "app", "x"], 2);
    // Compromised: decrypt only.
    let ct2 = t.ps("f.v2");
    t.ok(&["encrypt", "--key", "app", "-i", fs, "-o", &ct2]);
    t.ok(&["key", "compromised", "app"]);
    t.err(&["encrypt", "--key", "app", "-i", fs], 7);
    assert_eq!(t.ok(&["decrypt", "-i", &ct2]), "data");
    // Deactivate is final; deletion scheduled and cancelled.
    t.ok(&["key", "create", "b"]);
    t.ok(&["key", "deactivate", "b"]);
    t.err(&["key", "enable", "b"], 7);
    let s = t.ok(&["key", "schedule-deletion", "b", "--days", "10"]);
    assert!(s.contains("scheduled for deletion"), "{s}");
    t.ok(&["key", "cancel-deletion", "b"]);
    t.err(&["key", "cancel-deletion", "b"], 7);
    t.err(&["key", "schedule-deletion", "b", "--days", "5000"], 2);

    // Rotation schedule.
    let r = t.ok(&[
        "key",
        "set-rotation",
        "app",
        "--period",
        "90d",
        "--after-uses",
        "1000",
    ]);
    assert!(
        r.contains("period 90d") && r.contains("after uses 1000"),
        "{r}"
    );
    t.err(&["key", "set-rotation", "app", "--period", "soon"], 2);
    t.err(&["key", "set-rotation", "app"], 2);
    let e = t.err(
        &["key", "set-rotation", "app", "--after-bytes", "1000000"],
        10,
    );
    assert!(e.contains("not bytes"), "{e}");
    t.ok(&["key", "set-rotation", "app", "--none"]);
    assert!(t
        .ok(&["key", "describe", "app", "--json"])
        .contains("\"rotation_period\":null"));

    // Import (raw AES material), export wrapped under a wrapping key, import it back.
    let raw = t.p("raw.key");
    std::fs::write(&raw, [7u8; 32]).unwrap();
    t.ok(&[
        "key",
        "import",
        "byok",
        "--spec",
        "AES-256",
        "--file",
        raw.to_str().unwrap(),
        "--exportable",
    ]);
    t.err(
        &["key", "import", "bad", "--spec", "AES-256", "--file", fs],
        2,
    );
    t.err(&["key", "import", "bad", "--file", fs], 2);
    t.err(&["key", "rotate", "byok"], 2);
    t.ok(&[
        "key",
        "rotate",
        "byok",
        "--material-file",
        raw.to_str().unwrap(),
    ]);
    t.ok(&["key", "create", "kek", "--usage", "wrap,unwrap"]);
    let wrapped = t.ps("byok.wrapped");
    t.ok(&[
        "key",
        "export-wrapped",
        "byok",
        "--wrapping-key",
        "kek",
        "-o",
        &wrapped,
    ]);
    assert!(std::fs::read(&wrapped).unwrap().len() > 32);
    t.err(
        &[
            "key",
            "export-wrapped",
            "b",
            "--wrapping-key",
            "kek",
            "-o",
            &t.ps("x"),
        ],
        7,
    );
    assert!(!t.p("x").exists());
    t.ok(&["key", "import-wrapped", "byok2", "--file", &wrapped]);
    assert!(t.ok(&["key", "describe", "byok2"]).contains("imported"));
}

#[test]
fn encrypt_and_decrypt_files_and_pipes_without_half_written_outputs() {
    let t = T::init();
    t.ok(&["key", "create", "app"]);
    // A few MiB through files, with a context.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let plain = t.p("big.bin");
    std::fs::write(&plain, &big).unwrap();
    let enc = t.ps("big.enc");
    let dec = t.ps("big.out");
    t.ok(&[
        "encrypt",
        "--key",
        "app",
        "-i",
        plain.to_str().unwrap(),
        "-o",
        &enc,
        "--context",
        "dept=pay",
        "--context",
        "env=prod",
    ]);
    t.ok(&[
        "decrypt",
        "-i",
        &enc,
        "-o",
        &dec,
        "--context",
        "env=prod",
        "--context",
        "dept=pay",
    ]);
    assert_eq!(std::fs::read(&dec).unwrap(), big);
    // Pipes: stdin to stdout.
    let mut c = t.cmd(&["encrypt", "--key", "app"]);
    c.stdin(std::fs::File::open(&plain).unwrap());
    let o = c.output().unwrap();
    assert!(o.status.success());
    let piped = t.p("piped.enc");
    std::fs::write(&piped, &o.stdout).unwrap();
    let mut c = t.cmd(&["decrypt"]);
    c.stdin(std::fs::File::open(&piped).unwrap());
    let o = c.output().unwrap();
    assert!(o.status.success());
    assert_eq!(o.stdout, big);

    // Wrong context: refused, no output file appears; an existing target is not clobbered.
    let out = t.ps("never.out");
    t.err(
        &["decrypt", "-i", &enc, "-o", &out, "--context", "dept=pay"],
        8,
    );
    assert!(!Path::new(&out).exists());
    std::fs::write(&dec, b"keep me").unwrap();
    let mut bad = std::fs::read(&enc).unwrap();
    let n = bad.len();
    bad[n - 100] ^= 1;
    let badp = t.ps("bad.enc");
    std::fs::write(&badp, &bad).unwrap();
    t.err(
        &[
            "decrypt",
            "-i",
            &badp,
            "-o",
            &dec,
            "--context",
            "dept=pay",
            "--context",
            "env=prod",
        ],
        8,
    );
    assert_eq!(std::fs::read(&dec).unwrap(), b"keep me");
    // Truncated: refused.
    std::fs::write(&badp, &std::fs::read(&enc).unwrap()[..n / 2]).unwrap();
    t.err(
        &[
            "decrypt",
            "-i",
            &badp,
            "-o",
            &dec,
            "--context",
            "dept=pay",
            "--context",
            "env=prod",
        ],
        8,
    );
    assert_eq!(std::fs::read(&dec).unwrap(), b"keep me");
    // No temp files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    t.err(&["encrypt", "-i", &enc], 2);
    t.err(&["encrypt", "--key", "nope", "-i", &enc], 3);
    t.err(&["encrypt", "--key", "app", "-i", &t.ps("missing")], 3);
    t.err(&["encrypt", "--key", "app", "-i", &enc, "-o", &enc], 2);
}

#[test]
fn secrets() {
    let t = T::init();
    t.ok(&["key", "create", "sk"]);
    assert!(t
        .ok(&[
            "secret",
            "put",
            "db/password",
            "--key",
            "sk",
            "--value",
            "hunter2"
        ])
        .contains("version 1"));
    let f = t.p("v2");
    std::fs::write(&f, b"hunter3").unwrap();
    t.ok(&[
        "secret",
        "put",
        "db/password",
        "--key",
        "sk",
        "--file",
        f.to_str().unwrap(),
    ]);
    let mut c = t.cmd(&["secret", "put", "api", "--key", "sk"]);
    c.stdin(std::fs::File::open(&f).unwrap());
    assert!(c.output().unwrap().status.success());
    assert_eq!(t.ok(&["secret", "get", "db/password"]), "hunter3");
    assert_eq!(
        t.ok(&["secret", "get", "db/password", "--version", "1"]),
        "hunter2"
    );
    let o = t.ps("out");
    t.ok(&["secret", "get", "api", "-o", &o]);
    assert_eq!(std::fs::read(&o).unwrap(), b"hunter3");
    let l = t.ok(&["secret", "list", "--json"]);
    assert!(
        l.contains("\"name\":\"db/password\",\"version\":2") && !l.contains("hunter"),
        "{l}"
    );
    let v = t.ok(&["secret", "versions", "db/password"]);
    assert_eq!(v.lines().count(), 3, "{v}");
    // A user without a grant cannot read it.
    t.identity("eve", "", "eve-secret");
    let o = t.as_id("eve", "eve-secret", &["secret", "get", "api"]);
    assert_eq!(code(&o), Some(6));
    assert!(o.stdout.is_empty());
    t.ok(&["secret", "delete", "db/password"]);
    t.err(&["secret", "get", "db/password"], 3);
    t.err(&["secret", "put", "x", "--value", "v"], 2);
    t.err(
        &[
            "secret", "put", "x", "--key", "sk", "--value", "v", "--file", "y",
        ],
        2,
    );
}

#[test]
fn audit_commands_and_tamper_detection() {
    let t = T::init();
    t.ok(&["key", "create", "app"]);
    t.ok(&["key", "rotate", "app"]);
    t.identity("aud", "auditor", "aud-secret");
    let tail = t.ok(&["audit", "tail", "-n", "2"]);
    assert_eq!(tail.lines().count(), 3, "{tail}");
    let q = t.ok(&[
        "audit", "query", "--key", "app", "--action", "rotate", "--json",
    ]);
    assert!(
        q.contains("\"action\":\"rotate\"") && !q.contains("\"action\":\"create\""),
        "{q}"
    );
    let q = t.ok(&[
        "audit",
        "query",
        "--identity",
        "owner",
        "--since",
        "1h",
        "--until",
        "2999-01-01",
    ]);
    assert!(q.contains("create-identity"), "{q}");
    assert_eq!(
        t.ok(&["audit", "query", "--until", "2000-01-01T00:00:00Z"])
            .lines()
            .count(),
        1
    );
    t.err(&["audit", "query", "--since", "yesterday-ish"], 2);
    let ex = t.ps("trail.jsonl");
    t.ok(&["audit", "export", "-o", &ex]);
    let lines = std::fs::read_to_string(&ex).unwrap();
    assert!(lines.lines().count() >= 5 && lines.lines().all(|l| l.starts_with("{\"seq\":")));
    // Checkpoint and verify with the auditor's key.
    let ck = t.p("cp.key");
    std::fs::write(&ck, [5u8; 32]).unwrap();
    let cks = ck.to_str().unwrap();
    t.ok(&["audit", "checkpoint", "--checkpoint-key-file", cks]);
    t.err(&["audit", "checkpoint"], 2);
    let v = t.ok(&["audit", "verify", "--checkpoint-key-file", cks]);
    assert!(
        v.contains("audit chain ok") && v.contains("1 checkpoints"),
        "{v}"
    );
    let wrong = t.p("wrong.key");
    std::fs::write(&wrong, [6u8; 32]).unwrap();
    t.err(
        &[
            "audit",
            "verify",
            "--checkpoint-key-file",
            wrong.to_str().unwrap(),
        ],
        8,
    );
    assert!(t
        .as_id("aud", "aud-secret", &["audit", "verify"])
        .status
        .success());
    // A key user may not read the trail.
    t.identity("u", "user", "u-secret");
    assert_eq!(code(&t.as_id("u", "u-secret", &["audit", "tail"])), Some(6));
    // Tamper with a record directly in the database (an event row; usage records are in
    // batches): verify fails with exit 8.
    let db = rusqlite::Connection::open(&t.store).unwrap();
    let seq: i64 = db
        .query_row("SELECT min(seq) FROM audit WHERE seq > 2", [], |r| r.get(0))
        .unwrap();
    let n = db
        .execute("UPDATE audit SET detail = 'forged' WHERE seq = ?1", [seq])
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let e = t.err(&["audit", "verify"], 8);
    assert!(e.contains(&format!("record {seq}")), "{e}");
}

#[test]
fn report_table_json_csv() {
    let t = T::init();
    t.ok(&["key", "create", "app", "--rotation-period", "30d"]);
    t.ok(&["key", "create", "other"]);
    t.identity("alice", "user", "alice-secret");
    t.identity("bob", "", "bob-secret");
    t.ok(&[
        "policy",
        "grant",
        "bob",
        "--key",
        "app",
        "--actions",
        "decrypt",
    ]);
    let f = t.p("m");
    std::fs::write(&f, b"x").unwrap();
    t.use_key("app");
    let r = t.ok(&["report"]);
    assert!(
        r.contains("WHO_MAY_USE") && r.contains("alice (role: user)"),
        "{r}"
    );
    let j = t.ok(&["report", "--json"]);
    assert!(
        j.contains("\"name\":\"app\"") && j.contains("\"uses\":1"),
        "{j}"
    );
    assert!(j.contains("bob (grant"), "{j}");
    let c = t.ok(&["report", "--csv"]);
    let mut lines = c.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,name,spec,state,versions,created,last_rotated,next_rotation,uses,who_may_use"
    );
    let app = lines.find(|l| l.contains(",app,")).unwrap();
    assert!(app.contains("bob (grant") && !app.starts_with('"'), "{app}");
    let other = c.lines().find(|l| l.contains(",other,")).unwrap();
    assert!(!other.contains("bob"), "{other}");
}

#[test]
fn backup_and_restore() {
    let t = T::init();
    t.ok(&["key", "create", "app"]);
    t.identity("alice", "user", "alice-secret");
    t.ok(&["secret", "put", "s", "--key", "app", "--value", "v1"]);
    let f = t.p("data");
    std::fs::write(&f, b"precious").unwrap();
    let enc = t.ps("data.enc");
    t.ok(&[
        "encrypt",
        "--key",
        "app",
        "-i",
        f.to_str().unwrap(),
        "-o",
        &enc,
    ]);
    let bpass = [("KMS_BACKUP_PASSPHRASE", "backup pass")];
    let bak = t.ps("store.kmsbak");
    let out = t.ok_env(&["backup", "-o", &bak], &bpass);
    assert!(out.contains("1 keys"), "{out}");
    t.err_env(&["backup", "-o", &bak], &bpass, 4);
    t.err(&["backup"], 2);
    t.ok_env(&["restore", &bak, "--verify-only"], &bpass);
    t.err_env(
        &["restore", &bak, "--verify-only"],
        &[("KMS_BACKUP_PASSPHRASE", "no")],
        8,
    );
    // Restore into the same (non-empty) store is refused.
    let e = t.err_env(&["restore", &bak], &bpass, 4);
    assert!(e.contains("empty"), "{e}");

    // A fresh store elsewhere.
    let dst = T::init();
    // Corrupted file: refused with exit 8, nothing written.
    let mut raw = std::fs::read(&bak).unwrap();
    let mid = raw.len() / 2;
    raw[mid] ^= 0x40;
    let badp = dst.ps("bad.kmsbak");
    std::fs::write(&badp, &raw).unwrap();
    let e = dst.err_env(&["restore", &badp], &bpass, 8);
    assert!(e.contains("backup"), "{e}");
    dst.err_env(&["restore", &dst.ps("missing.kmsbak")], &bpass, 3);
    assert_eq!(dst.ok(&["key", "list"]).lines().count(), 1);
    // The real one.
    let out = dst.ok_env(&["restore", &bak], &bpass);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(dst.ok(&["decrypt", "-i", &enc]), "precious");
    assert_eq!(dst.ok(&["secret", "get", "s"]), "v1");
    let o = dst.as_id("alice", "alice-secret", &["decrypt", "-i", &enc]);
    assert!(o.status.success());
    assert!(dst.ok(&["audit", "verify"]).contains("audit chain ok"));
    assert!(dst
        .ok(&["audit", "query", "--action", "restore"])
        .contains("restored from backup"));

    // A backup key file works too; the wrong kind of secret is named.
    let kf = t.p("backup.key");
    std::fs::write(&kf, "ab".repeat(32)).unwrap();
    let bak2 = t.ps("store2.kmsbak");
    t.ok(&["backup", "-o", &bak2, "--key-file", kf.to_str().unwrap()]);
    let e = t.err_env(&["restore", &bak2, "--verify-only"], &bpass, 2);
    assert!(e.contains("key file"), "{e}");
    t.ok(&[
        "restore",
        &bak2,
        "--verify-only",
        "--key-file",
        kf.to_str().unwrap(),
    ]);
    // Only a security officer may back up.
    let o = t.run(
        &["--identity", "alice", "backup", "-o", &t.ps("x.kmsbak")],
        &[
            ("KMS_SECRET", "alice-secret"),
            ("KMS_BACKUP_PASSPHRASE", "p"),
        ],
    );
    assert_eq!(code(&o), Some(6));
    assert!(!t.p("x.kmsbak").exists());
}

fn count_rotations(t: &T, key: &str) -> usize {
    t.ok(&["audit", "query", "--key", key, "--action", "rotate"])
        .lines()
        .filter(|l| l.contains("automatic rotation"))
        .count()
}

#[test]
fn rotation_by_time_and_by_uses_through_maintain_and_lazily() {
    let t = T::init();
    t.ok(&["key", "create", "timed", "--rotation-period", "1s"]);
    t.ok(&["key", "create", "counted", "--rotate-after-uses", "2"]);
    t.ok(&["key", "create", "lazy-timed", "--rotation-period", "1s"]);
    t.ok(&["key", "create", "lazy-counted"]);
    t.ok(&["key", "set-rotation", "lazy-counted", "--after-uses", "2"]);
    for k in ["counted", "lazy-counted"] {
        t.use_key(k);
        t.use_key(k);
    }
    std::thread::sleep(std::time::Duration::from_millis(1300));
    // Lazy: the next use rotates first, then encrypts under the new version.
    for k in ["lazy-timed", "lazy-counted"] {
        t.use_key(k);
        assert_eq!(t.primary(k), 2, "{k}");
        assert_eq!(count_rotations(&t, k), 1, "{k}");
    }
    // maintain: what is due elsewhere.
    let m = t.ok(&["maintain", "--json"]);
    assert!(m.contains("\"rotated\":["), "{m}");
    assert_eq!(t.primary("timed"), 2);
    assert_eq!(t.primary("counted"), 2);
    assert_eq!(count_rotations(&t, "counted"), 1);
    // The counted key's new version starts at zero uses: nothing more due.
    let m = t.ok(&["maintain"]);
    assert!(!m.contains("counted"));
    assert_eq!(t.primary("counted"), 2);
}

#[test]
fn two_concurrent_maintain_processes_rotate_each_key_once() {
    let t = T::init();
    let names: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
    for n in &names {
        t.ok(&["key", "create", n, "--rotation-period", "1s"]);
    }
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let a = t
        .cmd(&["maintain", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let b = t
        .cmd(&["maintain", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(oa.status.success() && ob.status.success());
    // Between them, each key was rotated by exactly one of the two processes.
    let rotated = |o: &Output| -> Vec<u64> {
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        let i = s.find("\"rotated\":[").unwrap() + 11;
        let j = i + s[i..].find(']').unwrap();
        s[i..j]
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let mut both = rotated(&oa);
    both.extend(rotated(&ob));
    both.sort();
    assert_eq!(both, (1..=names.len() as u64).collect::<Vec<_>>());
    for n in &names {
        assert_eq!(t.primary(n), 2, "{n}");
        assert_eq!(count_rotations(&t, n), 1, "{n}");
    }
    let all = t.ok(&["audit", "query", "--action", "rotate", "--json"]);
    assert_eq!(
        all.matches("automatic rotation").count(),
        names.len(),
        "{all}"
    );
    assert!(t.ok(&["audit", "verify"]).contains("audit chain ok"));
}

#[test]
fn zero_day_deletion_is_carried_out_by_maintain() {
    let t = T::init();
    t.ok(&["key", "create", "doomed"]);
    let f = t.p("m");
    std::fs::write(&f, b"secret data").unwrap();
    let enc = t.ps("m.enc");
    t.ok(&[
        "encrypt",
        "--key",
        "doomed",
        "-i",
        f.to_str().unwrap(),
        "-o",
        &enc,
    ]);
    t.ok(&["key", "schedule-deletion", "doomed", "--days", "0"]);
    // Pending deletion: no use at all until destroyed or cancelled.
    t.err(&["decrypt", "-i", &enc], 7);
    let m = t.ok(&["maintain"]);
    assert!(m.contains("destroyed: keys 1"), "{m}");
    assert!(t.ok(&["maintain"]).contains("nothing due"));
    let e = t.err(&["decrypt", "-i", &enc], 7);
    assert!(e.contains("destroyed"), "{e}");
    assert!(t.ok(&["key", "list", "--all"]).contains("destroyed"));
    assert!(!t.ok(&["key", "list"]).contains("doomed"));
    let trail = t.ok(&["audit", "query", "--key", "1"]);
    assert!(trail.contains("schedule-deletion"), "{trail}");
    assert!(
        trail
            .lines()
            .any(|l| l.contains("destroy") && l.contains("deletion waiting period ended")),
        "{trail}"
    );
    // Refused when the minimum waiting period is not met.
    t.ok(&["key", "create", "k2"]);
    let o = t.run(
        &["key", "schedule-deletion", "k2", "--days", "1"],
        &[("KMS_MIN_DELETION_DAYS", "7")],
    );
    assert_eq!(code(&o), Some(2));
}

#[test]
fn master_key_rotation_keeps_data_readable() {
    let t = T::init();
    t.ok(&["key", "create", "app"]);
    let f = t.p("m");
    std::fs::write(&f, b"still here").unwrap();
    let enc = t.ps("m.enc");
    t.ok(&[
        "encrypt",
        "--key",
        "app",
        "-i",
        f.to_str().unwrap(),
        "-o",
        &enc,
    ]);
    assert!(t
        .ok(&["master-key", "rotate"])
        .contains("1 key versions re-sealed"));
    assert_eq!(t.ok(&["decrypt", "-i", &enc]), "still here");
    t.identity("u", "user", "u-secret");
    assert_eq!(
        code(&t.as_id("u", "u-secret", &["master-key", "rotate"])),
        Some(6)
    );
}

#[test]
fn objects_put_list_get_delete() {
    let t = T::init();
    let cert = t.p("cert.der");
    std::fs::write(&cert, [0x30u8, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x01]).unwrap();
    let out = t.ok(&[
        "object",
        "put",
        "--class",
        "certificate",
        "--label",
        "web",
        "--id",
        "01",
        "--file",
        cert.to_str().unwrap(),
    ]);
    assert!(out.contains("stored"), "{out}");
    let mut c = t.cmd(&[
        "object",
        "put",
        "--class",
        "data",
        "--label",
        "seed",
        "--sensitive",
    ]);
    c.stdin(std::fs::File::open(&cert).unwrap());
    assert!(c.output().unwrap().status.success());
    let list = t.ok(&["object", "list", "--class", "certificate"]);
    assert!(
        list.contains("web") && list.contains("certificate") && !list.contains("seed"),
        "{list}"
    );
    let json = t.ok(&["--json", "object", "list"]);
    assert!(
        json.contains("\"label\":\"web\",\"ext_id\":\"01\"") && json.contains("\"sensitive\":true"),
        "{json}"
    );
    let id = json
        .split("\"id\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap()
        .to_string();
    let got = t.p("got.der");
    t.ok(&["object", "get", &id, "-o", got.to_str().unwrap()]);
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&cert).unwrap());
    t.ok(&["object", "delete", &id]);
    let gone = t.run(&["object", "get", &id], &[]);
    assert_eq!(code(&gone), Some(3), "not found exits 3");
    let bad = t.run(
        &[
            "object",
            "put",
            "--class",
            "bogus",
            "--label",
            "x",
            "--file",
            cert.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&bad), Some(2), "a bad class is a usage error");
}

#[test]
fn rewrap_moves_stored_data_keys_to_the_new_version() {
    use kms::core::*;
    let t = T::init();
    t.ok(&["key", "create", "dk"]);
    // an application stored wrapped data keys (hex, one per line)
    let mut plain = Vec::new();
    let mut lines = String::new();
    {
        let mut cfg = Config::at(&t.store).unwrap();
        cfg.master =
            kms::core::seal::MasterSource::KeyFile(kms::core::config::sibling(&t.store, "key"));
        let k = Kms::open(cfg).unwrap();
        let o = k.owner().unwrap();
        let ctx = parse_context("table=users").unwrap();
        for _ in 0..25 {
            let (dk, wrapped) = k.generate_data_key(&o, "dk", 32, &ctx).unwrap();
            plain.push(dk.to_vec());
            lines.push_str(&kms::core::seal::hex(&wrapped));
            lines.push('\n');
        }
    }
    let f = t.p("keys.hex");
    std::fs::write(&f, &lines).unwrap();
    t.ok(&["key", "rotate", "dk"]);
    let g = t.p("keys2.hex");
    t.ok(&[
        "rewrap",
        "-i",
        f.to_str().unwrap(),
        "-o",
        g.to_str().unwrap(),
        "--context",
        "table=users",
    ]);
    let out = std::fs::read_to_string(&g).unwrap();
    let mut cfg = Config::at(&t.store).unwrap();
    cfg.master =
        kms::core::seal::MasterSource::KeyFile(kms::core::config::sibling(&t.store, "key"));
    let k = Kms::open(cfg).unwrap();
    let o = k.owner().unwrap();
    let ctx = parse_context("table=users").unwrap();
    let got: Vec<_> = out.lines().collect();
    assert_eq!(got.len(), 25);
    for (line, dk) in got.iter().zip(&plain) {
        let ct = kms::core::seal::unhex(line).unwrap();
        assert_eq!(
            u32::from_be_bytes(ct[9..13].try_into().unwrap()),
            2,
            "now under version 2"
        );
        assert_eq!(
            &*k.decrypt_data_key(&o, &ct, &ctx).unwrap(),
            dk,
            "same data key"
        );
    }
    // the wrong context refuses and writes nothing
    let h = t.p("keys3.hex");
    let bad = t.run(
        &[
            "rewrap",
            "-i",
            f.to_str().unwrap(),
            "-o",
            h.to_str().unwrap(),
            "--context",
            "table=other",
        ],
        &[],
    );
    assert!(!bad.status.success());
    assert!(!h.exists(), "nothing half-written");
}
