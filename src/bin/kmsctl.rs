//! `kmsctl`: the admin command line of libkms, a client of `kms::core` (never of the C API).
//! Every decision is the core's; this file parses, authenticates, calls and prints.
//! Exit codes are listed in `util.rs` and docs/kmsctl.md.

#[path = "kmsctl/admin.rs"]
mod admin;
#[path = "kmsctl/args.rs"]
mod args;
#[path = "kmsctl/data.rs"]
mod data;
#[path = "kmsctl/keys.rs"]
mod keys;
#[path = "kmsctl/tty.rs"]
mod tty;
#[path = "kmsctl/util.rs"]
mod util;

use std::path::PathBuf;

use args::{flag, sval, val, Args, Cmd, Parsed};
use kms::core::{Caller, Config, Kms};
use util::{fail, secret_from, R};

/// The open store and the authenticated caller of one invocation.
pub struct Ctx {
    pub global: Args,
    pub path: PathBuf,
    kms: Option<Kms>,
    caller: Option<Caller>,
}

impl Ctx {
    pub fn json(&self) -> bool {
        self.global.has("json")
    }

    pub fn quiet(&self) -> bool {
        self.global.has("quiet")
    }

    /// The configuration for the store (KMS_* variables apply; `--store` wins).
    pub fn config(&self) -> R<Config> {
        Ok(Config::at(&self.path)?)
    }

    /// Opens the existing store (never creates one: that is `init`).
    pub fn kms(&mut self) -> R<Kms> {
        if let Some(k) = &self.kms {
            return Ok(k.clone());
        }
        let k = Kms::open_existing(self.config()?).map_err(|e| {
            if e.kind() == kms::core::ErrorKind::NotFound {
                fail(
                    util::EXIT_NOT_FOUND,
                    format!(
                        "{} (create one with 'kmsctl init', or set --store / KMS_STORE)",
                        e.message()
                    ),
                )
            } else {
                e.into()
            }
        })?;
        self.kms = Some(k.clone());
        Ok(k)
    }

    /// The caller: the store owner by default, else `--identity` with its secret.
    pub fn caller(&mut self) -> R<(Kms, Caller)> {
        let k = self.kms()?;
        if let Some(c) = &self.caller {
            return Ok((k, c.clone()));
        }
        let keyring = self.global.get("keyring").unwrap_or("default").to_string();
        let c = match self.global.get("identity") {
            None => {
                if keyring != "default" {
                    return Err(util::usage(
                        "--keyring needs --identity (the owner lives in the default keyring)",
                    ));
                }
                k.owner()?
            }
            Some(name) => {
                let secret = zeroize::Zeroizing::new(secret_from(
                    "KMS_SECRET",
                    self.global.get("secret-file"),
                    &format!("Secret for {name}: "),
                    false,
                )?);
                k.authenticate(&keyring, name, secret.as_bytes())?
            }
        };
        self.caller = Some(c.clone());
        Ok((k, c))
    }
}

const KEY_CREATE_OPTS: &[args::Opt] = &[
    val("spec", "SPEC", "AES-256 (default), AES-128, HMAC-SHA256/384/512, EC-P256, EC-P384, ED25519, RSA-2048/3072/4096, SECRET"),
    val("usage", "LIST", "usages, comma separated (encrypt,decrypt,sign,verify,mac,wrap,unwrap,derive); default: the spec's"),
    val("description", "TEXT", "free text"),
    val("tag", "K=V", "a tag (repeatable)"),
    val("rotation-period", "DURATION", "rotate automatically every DURATION (90d, 12h, ...)"),
    val("rotate-after-uses", "N", "rotate automatically after N uses of the primary version"),
    flag("exportable", "allow export-wrapped"),
    flag("pre-active", "create pre-active (enable later)"),
    val("activation-date", "TIME", "become active at TIME (YYYY-MM-DD[THH:MM:SS]Z or @SECONDS)"),
];

const AUDIT_FILTERS: &[args::Opt] = &[
    val("key", "KEY", "only records about this key (id or name)"),
    val(
        "identity",
        "NAME",
        "only records of this identity (after the command: a filter)",
    ),
    val(
        "action",
        "ACTION",
        "only this action (encrypt, rotate, destroy, ...)",
    ),
    val(
        "since",
        "TIME",
        "from TIME (YYYY-MM-DD[THH:MM:SS]Z, @SECONDS, or 7d/12h ago)",
    ),
    val("until", "TIME", "before TIME"),
    val("limit", "N", "at most N records"),
];

const BACKUP_SECRET: &[args::Opt] = &[
    flag(
        "passphrase",
        "protect with a passphrase (KMS_BACKUP_PASSPHRASE or a prompt); the default",
    ),
    val(
        "key-file",
        "PATH",
        "protect with a 32-byte backup key file (raw or 64 hex digits)",
    ),
    sval(
        "output",
        'o',
        "FILE",
        "backup file (written atomically; required)",
    ),
];

const RESTORE_OPTS: &[args::Opt] = &[
    flag(
        "passphrase",
        "the backup is protected by a passphrase (KMS_BACKUP_PASSPHRASE or a prompt)",
    ),
    val(
        "key-file",
        "PATH",
        "the backup is protected by this backup key file",
    ),
    flag("verify-only", "verify the file completely, write nothing"),
];

const CRYPT_OPTS: &[args::Opt] = &[
    sval("input", 'i', "FILE", "input file (default: stdin)"),
    sval(
        "output",
        'o',
        "FILE",
        "output file, written atomically (default: stdout)",
    ),
    val(
        "context",
        "K=V",
        "encryption context pair (repeatable); decrypt needs the same",
    ),
];

/// Every command. The parser, the help and the dispatcher read this table.
pub static COMMANDS: &[Cmd] = &[
    Cmd {
        name: "init",
        args: "",
        about: "create a new store (master key file beside it, or a passphrase)",
        opts: &[
            flag(
                "passphrase",
                "protect the master key with KMS_PASSPHRASE (or a prompt) instead of a key file",
            ),
            val(
                "key-file",
                "PATH",
                "master key file to create (default: STORE.key, or KMS_MASTER_KEY_FILE)",
            ),
        ],
    },
    Cmd {
        name: "status",
        args: "",
        about: "store path, backend, keyrings, key counts, audit head, master key mode",
        opts: &[],
    },
    Cmd {
        name: "identity create",
        args: "NAME",
        about: "create an identity",
        opts: &[
            val(
                "roles",
                "LIST",
                "admin,user,auditor,security-officer (comma separated; none = grants only)",
            ),
            flag(
                "combined",
                "allow more than one role (separation of duties is the default)",
            ),
            val(
                "new-secret-file",
                "PATH",
                "the new identity's secret (else KMS_NEW_SECRET, or a prompt)",
            ),
            flag("generate", "generate a secret and print it once on stdout"),
        ],
    },
    Cmd {
        name: "identity list",
        args: "",
        about: "list identities with roles and state",
        opts: &[],
    },
    Cmd {
        name: "identity disable",
        args: "NAME",
        about: "disable an identity",
        opts: &[],
    },
    Cmd {
        name: "identity enable",
        args: "NAME",
        about: "enable a disabled identity",
        opts: &[],
    },
    Cmd {
        name: "identity unlock",
        args: "NAME",
        about: "clear a lockout after failed authentications",
        opts: &[],
    },
    Cmd {
        name: "identity set-secret",
        args: "NAME",
        about: "set an identity's secret",
        opts: &[
            val(
                "new-secret-file",
                "PATH",
                "the new secret (else KMS_NEW_SECRET, or a prompt)",
            ),
            flag("generate", "generate a secret and print it once on stdout"),
        ],
    },
    Cmd {
        name: "identity delete",
        args: "NAME",
        about: "delete an identity and its grants",
        opts: &[],
    },
    Cmd {
        name: "policy grant",
        args: "IDENTITY",
        about: "grant actions on a key (or every key) to an identity; prints the grant id",
        opts: &[
            val("key", "KEY", "the key (default: every key of the keyring)"),
            val(
                "actions",
                "LIST",
                "actions, comma separated (encrypt,decrypt,generate-data-key,get-secret,...)",
            ),
            val(
                "expires",
                "TIME",
                "expiry (YYYY-MM-DD[THH:MM:SS]Z, @SECONDS) or +DURATION from now",
            ),
            val("max-uses", "N", "at most N uses"),
            val(
                "context",
                "K=V",
                "required encryption context pair (repeatable)",
            ),
        ],
    },
    Cmd {
        name: "policy revoke",
        args: "GRANT_ID",
        about: "revoke a grant",
        opts: &[],
    },
    Cmd {
        name: "policy show",
        args: "[KEY]",
        about: "identities with roles and the grants (of one key)",
        opts: &[],
    },
    Cmd {
        name: "key create",
        args: "NAME",
        about: "create a key with generated material",
        opts: KEY_CREATE_OPTS,
    },
    Cmd {
        name: "key import",
        args: "NAME",
        about: "import key material (raw bytes for symmetric specs, PKCS#8 DER otherwise)",
        opts: &[
            val("file", "PATH", "the material (required)"),
            val("spec", "SPEC", "key spec (required)"),
            val("usage", "LIST", "usages (default: the spec's)"),
            val("description", "TEXT", "free text"),
            flag("exportable", "allow export-wrapped"),
        ],
    },
    Cmd {
        name: "key import-wrapped",
        args: "NAME",
        about: "import a key made by export-wrapped (unwrapped with a key of this store)",
        opts: &[val("file", "PATH", "the wrapped key (required)")],
    },
    Cmd {
        name: "key list",
        args: "",
        about: "list keys",
        opts: &[
            val("state", "STATE", "only keys in this state"),
            val("spec", "SPEC", "only keys of this spec"),
            val("tag", "K=V", "only keys with this tag"),
            flag("all", "include destroyed keys"),
        ],
    },
    Cmd {
        name: "key describe",
        args: "KEY",
        about: "a key's metadata and versions",
        opts: &[],
    },
    Cmd {
        name: "key versions",
        args: "KEY",
        about: "a key's versions with use counts",
        opts: &[],
    },
    Cmd {
        name: "key rotate",
        args: "KEY",
        about: "add a version and make it primary",
        opts: &[val(
            "material-file",
            "PATH",
            "new material (keys with imported material)",
        )],
    },
    Cmd {
        name: "key enable",
        args: "KEY",
        about: "activate a pre-active or suspended key",
        opts: &[],
    },
    Cmd {
        name: "key disable",
        args: "KEY",
        about: "suspend an active key (reversible with enable)",
        opts: &[],
    },
    Cmd {
        name: "key suspend",
        args: "KEY",
        about: "suspend an active key (same as disable)",
        opts: &[],
    },
    Cmd {
        name: "key deactivate",
        args: "KEY",
        about: "deactivate (decrypt/verify only, final)",
        opts: &[],
    },
    Cmd {
        name: "key compromised",
        args: "KEY",
        about: "mark compromised (decrypt/verify only)",
        opts: &[],
    },
    Cmd {
        name: "key schedule-deletion",
        args: "KEY",
        about: "schedule destruction after a waiting period",
        opts: &[val(
            "days",
            "N",
            "waiting period in days (default 30; minimum KMS_MIN_DELETION_DAYS, 7)",
        )],
    },
    Cmd {
        name: "key cancel-deletion",
        args: "KEY",
        about: "cancel a scheduled deletion",
        opts: &[],
    },
    Cmd {
        name: "key set-rotation",
        args: "KEY",
        about: "set (replace) the automatic rotation schedule",
        opts: &[
            val(
                "period",
                "DURATION",
                "rotate every DURATION (90d, 12h, 30m, seconds)",
            ),
            val(
                "after-uses",
                "N",
                "rotate after N uses of the primary version",
            ),
            val(
                "after-bytes",
                "N",
                "not supported: the core counts uses, not bytes",
            ),
            flag("none", "no automatic rotation"),
        ],
    },
    Cmd {
        name: "key set-min-version",
        args: "KEY VERSION",
        about: "refuse decryption with versions below VERSION",
        opts: &[],
    },
    Cmd {
        name: "key destroy-version",
        args: "KEY VERSION",
        about: "wipe one non-primary version's material for good",
        opts: &[],
    },
    Cmd {
        name: "key export-wrapped",
        args: "KEY",
        about: "export a key version wrapped under another key (AES-KWP)",
        opts: &[
            val(
                "wrapping-key",
                "KEY",
                "the wrapping key (wrap usage; required)",
            ),
            val("version", "N", "version (default: primary)"),
            sval("output", 'o', "FILE", "output file (default: stdout)"),
        ],
    },
    Cmd {
        name: "encrypt",
        args: "",
        about: "envelope-encrypt a file or stdin (streaming, any size)",
        opts: &[
            val("key", "KEY", "the key (required)"),
            sval("input", 'i', "FILE", "input file (default: stdin)"),
            sval(
                "output",
                'o',
                "FILE",
                "output file, written atomically (default: stdout)",
            ),
            val(
                "context",
                "K=V",
                "encryption context pair (repeatable); decrypt needs the same",
            ),
        ],
    },
    Cmd {
        name: "decrypt",
        args: "",
        about: "decrypt what encrypt made (the key comes from the header)",
        opts: CRYPT_OPTS,
    },
    Cmd {
        name: "rewrap",
        args: "",
        about: "re-encrypt many wrapped data keys or ciphertexts (hex, one per line) under the primary version, without their plaintext leaving the library",
        opts: &[
            sval("input", 'i', "FILE", "input file (default: stdin)"),
            sval("output", 'o', "FILE", "output file, written atomically (default: stdout)"),
            val("context", "K=V", "encryption context pair (repeatable): the one the lines were made with"),
            val("key", "KEY", "re-encrypt under this key's primary version (default: each line's own key)"),
        ],
    },
    Cmd {
        name: "secret put",
        args: "NAME",
        about: "store a new version of a secret under a key",
        opts: &[
            val("key", "KEY", "the protecting key (required)"),
            val(
                "value",
                "TEXT",
                "the value (visible to ps: prefer --file or stdin)",
            ),
            val(
                "file",
                "PATH",
                "read the value from a file ('-' = stdin, the default)",
            ),
        ],
    },
    Cmd {
        name: "secret get",
        args: "NAME",
        about: "print a secret's value",
        opts: &[
            val("version", "N", "version (default: latest)"),
            sval(
                "output",
                'o',
                "FILE",
                "write to a file (0600) instead of stdout",
            ),
        ],
    },
    Cmd {
        name: "secret list",
        args: "",
        about: "list secrets (latest versions)",
        opts: &[],
    },
    Cmd {
        name: "secret versions",
        args: "NAME",
        about: "list a secret's versions",
        opts: &[],
    },
    Cmd {
        name: "secret delete",
        args: "NAME",
        about: "delete every version of a secret",
        opts: &[],
    },
    Cmd {
        name: "object put",
        args: "",
        about: "store a certificate, data object or public key (the PKCS#11 objects)",
        opts: &[
            val(
                "class",
                "CLASS",
                "certificate, data or public-key (required)",
            ),
            val("label", "LABEL", "the label (PKCS#11 CKA_LABEL; required)"),
            val("id", "HEX", "the external id (PKCS#11 CKA_ID), in hex"),
            val(
                "file",
                "PATH",
                "read the value from a file ('-' = stdin, the default)",
            ),
            flag(
                "sensitive",
                "seal the value at rest and keep it out of listings",
            ),
        ],
    },
    Cmd {
        name: "object list",
        args: "",
        about: "list certificates, data objects, public keys and secrets (no values)",
        opts: &[
            val(
                "class",
                "CLASS",
                "only this class (certificate, data, public-key, secret)",
            ),
            val("label", "LABEL", "only this label"),
        ],
    },
    Cmd {
        name: "object get",
        args: "ID",
        about: "write an object's value (a certificate's DER) to stdout or a file",
        opts: &[sval(
            "output",
            'o',
            "FILE",
            "write to a file (0600) instead of stdout",
        )],
    },
    Cmd {
        name: "object delete",
        args: "ID",
        about: "delete an object",
        opts: &[],
    },
    Cmd {
        name: "audit tail",
        args: "",
        about: "the newest audit records",
        opts: &[sval("lines", 'n', "N", "how many (default 20)")],
    },
    Cmd {
        name: "audit query",
        args: "",
        about: "audit records matching filters",
        opts: AUDIT_FILTERS,
    },
    Cmd {
        name: "audit export",
        args: "",
        about: "audit records as JSON lines",
        opts: &[
            val("key", "KEY", "only records about this key"),
            val(
                "identity",
                "NAME",
                "only records of this identity (after the command: a filter)",
            ),
            val("action", "ACTION", "only this action"),
            val("since", "TIME", "from TIME"),
            val("until", "TIME", "before TIME"),
            sval(
                "output",
                'o',
                "FILE",
                "output file, written atomically (default: stdout)",
            ),
        ],
    },
    Cmd {
        name: "audit verify",
        args: "",
        about: "verify the hash chain (and checkpoint signatures)",
        opts: &[val(
            "checkpoint-key-file",
            "PATH",
            "auditor's checkpoint key: also check checkpoint MACs",
        )],
    },
    Cmd {
        name: "audit checkpoint",
        args: "",
        about: "sign the chain head with the auditor's checkpoint key",
        opts: &[val(
            "checkpoint-key-file",
            "PATH",
            "auditor's checkpoint key (at least 16 bytes; required)",
        )],
    },
    Cmd {
        name: "report",
        args: "",
        about: "key inventory: spec, state, versions, dates, uses, who may use it",
        opts: &[
            flag("csv", "CSV output"),
            flag("all", "include destroyed keys"),
        ],
    },
    Cmd {
        name: "backup",
        args: "",
        about: "write a wrapped, integrity-checked backup of the whole store",
        opts: BACKUP_SECRET,
    },
    Cmd {
        name: "restore",
        args: "FILE",
        about: "restore a backup into an empty, freshly initialised store",
        opts: RESTORE_OPTS,
    },
    Cmd {
        name: "maintain",
        args: "",
        about: "run what is due: activations, rotations, deletions (safe from cron on many hosts)",
        opts: &[val(
            "checkpoint-key-file",
            "PATH",
            "also sign an audit checkpoint",
        )],
    },
    Cmd {
        name: "master-key rotate",
        args: "",
        about: "new store master key; re-seal every key version",
        opts: &[],
    },
];

fn run(cmd: &'static Cmd, ctx: &mut Ctx, a: &Args) -> R {
    let (group, sub) = cmd.name.split_once(' ').unwrap_or((cmd.name, ""));
    match group {
        "init" => admin::init(ctx, cmd, a),
        "status" => admin::status(ctx, cmd, a),
        "identity" => admin::identity(ctx, cmd, sub, a),
        "policy" => admin::policy(ctx, cmd, sub, a),
        "audit" => admin::audit(ctx, cmd, sub, a),
        "report" => admin::report(ctx, cmd, a),
        "backup" => admin::backup(ctx, cmd, a),
        "restore" => admin::restore(ctx, cmd, a),
        "maintain" => admin::maintain(ctx, cmd, a),
        "master-key" => admin::master_key(ctx, cmd, a),
        "key" => keys::key(ctx, cmd, sub, a),
        "encrypt" => data::encrypt(ctx, cmd, a),
        "decrypt" => data::decrypt(ctx, cmd, a),
        "secret" => data::secret(ctx, cmd, sub, a),
        "object" => data::object(ctx, cmd, sub, a),
        "rewrap" => data::rewrap(ctx, cmd, a),
        _ => Err(util::usage(format!("unknown command '{}'", cmd.name))),
    }
}

fn main() {
    let argv: Vec<_> = std::env::args_os().skip(1).collect();
    let code = match args::parse(COMMANDS, argv) {
        Ok(Parsed::Help(text)) => {
            print!("{text}");
            0
        }
        Ok(Parsed::Run(cmd, global, a)) => {
            let path = global
                .get("store")
                .map(PathBuf::from)
                .unwrap_or_else(Config::default_store_path);
            let mut ctx = Ctx {
                global,
                path,
                kms: None,
                caller: None,
            };
            let res = run(cmd, &mut ctx, &a);
            if let Some(k) = &ctx.kms {
                let _ = k.flush();
            }
            match res {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("kmsctl: {}", e.msg);
                    e.code
                }
            }
        }
        Err(e) => {
            eprintln!("kmsctl: {}", e.msg);
            e.code
        }
    };
    std::process::exit(code);
}
