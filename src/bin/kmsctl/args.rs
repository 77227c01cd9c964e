//! Command-line parsing on top of `lexopt`: a declarative table of commands and options,
//! `--help` text generated from it, global options before or after the command.

use std::collections::HashMap;

use crate::util::{usage, CliError};

/// One option of a command.
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
    /// Metavariable when the option takes a value.
    pub value: Option<&'static str>,
    pub help: &'static str,
}

pub const fn flag(long: &'static str, help: &'static str) -> Opt {
    Opt {
        long,
        short: None,
        value: None,
        help,
    }
}

pub const fn val(long: &'static str, meta: &'static str, help: &'static str) -> Opt {
    Opt {
        long,
        short: None,
        value: Some(meta),
        help,
    }
}

pub const fn sval(long: &'static str, short: char, meta: &'static str, help: &'static str) -> Opt {
    Opt {
        long,
        short: Some(short),
        value: Some(meta),
        help,
    }
}

/// One command: its words ("key create"), positional arguments, summary and options.
pub struct Cmd {
    pub name: &'static str,
    pub args: &'static str,
    pub about: &'static str,
    pub opts: &'static [Opt],
}

/// Options every command accepts (before the command, or after it unless the command has
/// an option of the same name).
pub const GLOBAL: &[Opt] = &[
    val("store", "PATH", "store file (overrides KMS_STORE)"),
    val(
        "identity",
        "NAME",
        "act as this identity (secret from KMS_SECRET, --secret-file or a prompt); default: the store owner",
    ),
    val("secret-file", "PATH", "file holding the identity's secret"),
    val("keyring", "NAME", "keyring of the identity (default: default)"),
    flag("json", "JSON output (read commands)"),
    flag("quiet", "no progress bar"),
];

/// Parsed options and positionals.
#[derive(Default, Debug)]
pub struct Args {
    pub pos: Vec<String>,
    vals: HashMap<&'static str, Vec<String>>,
}

impl Args {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vals
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.vals
            .get(name)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    pub fn has(&self, name: &str) -> bool {
        self.vals.contains_key(name)
    }

    fn push(&mut self, name: &'static str, v: String) {
        self.vals.entry(name).or_default().push(v);
    }

    /// The positional at `i`, or a usage error naming it.
    pub fn arg(&self, i: usize, what: &str, cmd: &Cmd) -> Result<&str, CliError> {
        self.pos.get(i).map(String::as_str).ok_or_else(|| {
            usage(format!(
                "'{}' needs {what} (see kmsctl {} --help)",
                cmd.name, cmd.name
            ))
        })
    }

    /// Refuses positionals beyond `n`.
    pub fn at_most(&self, n: usize, cmd: &Cmd) -> Result<(), CliError> {
        if self.pos.len() > n {
            return Err(usage(format!(
                "unexpected argument '{}' for '{}' (see kmsctl {} --help)",
                self.pos[n], cmd.name, cmd.name
            )));
        }
        Ok(())
    }
}

enum Tok {
    Long(String),
    Short(char),
    Val(String),
}

fn next(p: &mut lexopt::Parser) -> Result<Option<Tok>, CliError> {
    use lexopt::Arg;
    Ok(match p.next().map_err(|e| usage(e.to_string()))? {
        None => None,
        Some(Arg::Long(l)) => Some(Tok::Long(l.to_string())),
        Some(Arg::Short(c)) => Some(Tok::Short(c)),
        Some(Arg::Value(v)) => Some(Tok::Val(
            v.into_string()
                .map_err(|_| usage("arguments must be valid UTF-8"))?,
        )),
    })
}

fn find<'a>(opts: &'a [Opt], t: &Tok) -> Option<&'a Opt> {
    match t {
        Tok::Long(l) => opts.iter().find(|o| o.long == l),
        Tok::Short(c) => opts.iter().find(|o| o.short == Some(*c)),
        Tok::Val(_) => None,
    }
}

fn shown(t: &Tok) -> String {
    match t {
        Tok::Long(l) => format!("--{l}"),
        Tok::Short(c) => format!("-{c}"),
        Tok::Val(v) => v.clone(),
    }
}

fn take(p: &mut lexopt::Parser, o: &Opt, into: &mut Args) -> Result<(), CliError> {
    match o.value {
        Some(meta) => {
            let v = p
                .value()
                .map_err(|_| usage(format!("--{} needs a value ({meta})", o.long)))?
                .into_string()
                .map_err(|_| usage("arguments must be valid UTF-8"))?;
            into.push(o.long, v);
        }
        None => into.push(o.long, String::new()),
    }
    Ok(())
}

/// What the command line asks for.
pub enum Parsed {
    Run(&'static Cmd, Args, Args),
    Help(String),
}

/// Parses the process arguments against `cmds`.
pub fn parse(cmds: &'static [Cmd], argv: Vec<std::ffi::OsString>) -> Result<Parsed, CliError> {
    let mut p = lexopt::Parser::from_args(argv);
    let mut global = Args::default();
    let mut words: Vec<String> = Vec::new();
    let mut help = false;
    let cmd = loop {
        let Some(t) = next(&mut p)? else {
            break None;
        };
        match &t {
            Tok::Long(l) if l == "help" => help = true,
            Tok::Short('h') => help = true,
            Tok::Long(l) if l == "version" => {
                return Ok(Parsed::Help(format!(
                    "kmsctl {}\n",
                    env!("CARGO_PKG_VERSION")
                )))
            }
            Tok::Val(w) => {
                words.push(w.clone());
                let joined = words.join(" ");
                if let Some(c) = cmds.iter().find(|c| c.name == joined) {
                    break Some(c);
                }
                if !cmds
                    .iter()
                    .any(|c| c.name.starts_with(&format!("{joined} ")))
                {
                    return Err(usage(format!(
                        "unknown command '{joined}' (see kmsctl --help)"
                    )));
                }
            }
            other => match find(GLOBAL, other) {
                Some(o) => take(&mut p, o, &mut global)?,
                None => {
                    return Err(usage(format!(
                        "unknown option '{}' (see kmsctl --help)",
                        shown(other)
                    )))
                }
            },
        }
    };
    let Some(cmd) = cmd else {
        let prefix = words.join(" ");
        if words.is_empty() && !help {
            return Err(usage("no command given (see kmsctl --help)"));
        }
        if !help && !words.is_empty() {
            return Err(usage(format!(
                "'{prefix}' needs a subcommand (see kmsctl {prefix} --help)"
            )));
        }
        return Ok(Parsed::Help(overview(cmds, &prefix)));
    };
    let mut args = Args::default();
    while let Some(t) = next(&mut p)? {
        match &t {
            Tok::Long(l) if l == "help" => help = true,
            Tok::Short('h') => help = true,
            Tok::Val(v) => args.pos.push(v.clone()),
            other => {
                if let Some(o) = find(cmd.opts, other) {
                    take(&mut p, o, &mut args)?;
                } else if let Some(o) = find(GLOBAL, other) {
                    take(&mut p, o, &mut global)?;
                } else {
                    return Err(usage(format!(
                        "unknown option '{}' for '{}' (see kmsctl {} --help)",
                        shown(other),
                        cmd.name,
                        cmd.name
                    )));
                }
            }
        }
    }
    if help {
        return Ok(Parsed::Help(cmd_help(cmd)));
    }
    Ok(Parsed::Run(cmd, global, args))
}

fn opt_lines(opts: &[Opt], out: &mut String) {
    for o in opts {
        let mut left = String::new();
        if let Some(s) = o.short {
            left.push_str(&format!("-{s}, "));
        }
        left.push_str(&format!("--{}", o.long));
        if let Some(m) = o.value {
            left.push_str(&format!(" {m}"));
        }
        out.push_str(&format!("  {left:<28} {}\n", o.help));
    }
}

fn cmd_help(c: &Cmd) -> String {
    let mut s = format!(
        "{}\n\nUsage: kmsctl [GLOBAL OPTIONS] {} [OPTIONS] {}\n",
        c.about, c.name, c.args
    );
    if !c.opts.is_empty() {
        s.push_str("\nOptions:\n");
        opt_lines(c.opts, &mut s);
    }
    s.push_str("\nGlobal options:\n");
    opt_lines(GLOBAL, &mut s);
    s.push_str("  -h, --help                   this help\n");
    s
}

fn overview(cmds: &[Cmd], prefix: &str) -> String {
    let mut s = if prefix.is_empty() {
        "kmsctl: administer a libkms key store\n\nUsage: kmsctl [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\nCommands:\n".to_string()
    } else {
        format!("Usage: kmsctl [GLOBAL OPTIONS] {prefix} COMMAND [OPTIONS] [ARGS]\n\nCommands:\n")
    };
    for c in cmds
        .iter()
        .filter(|c| prefix.is_empty() || c.name.starts_with(&format!("{prefix} ")))
    {
        s.push_str(&format!("  {:<28} {}\n", c.name, c.about));
    }
    s.push_str("\nGlobal options:\n");
    opt_lines(GLOBAL, &mut s);
    s.push_str("  -h, --help                   help (on every command)\n");
    s.push_str("\nExit codes: 0 ok, 1 internal, 2 usage or invalid argument, 3 not found, 4 already exists,\n5 authentication, 6 access denied, 7 key state or usage, 8 integrity or bad ciphertext,\n9 store or I/O, 10 limit or unsupported. See docs/kmsctl.md.\n");
    s
}
