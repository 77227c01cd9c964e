//! Helpers of the command line: errors and exit codes, tables, times and durations, the
//! progress bar, atomic output files and secret prompts.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use kms::core::{Error, ErrorKind};

/// An error as the user sees it: one line and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub msg: String,
}

pub const EXIT_INTERNAL: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_NOT_FOUND: i32 = 3;
pub const EXIT_EXISTS: i32 = 4;
pub const EXIT_AUTH: i32 = 5;
pub const EXIT_DENIED: i32 = 6;
pub const EXIT_STATE: i32 = 7;
pub const EXIT_INTEGRITY: i32 = 8;
pub const EXIT_STORE: i32 = 9;
pub const EXIT_LIMIT: i32 = 10;

/// The exit code of each core error kind (exhaustive: a new kind must be placed here).
pub fn exit_code(k: ErrorKind) -> i32 {
    match k {
        ErrorKind::InvalidArgument => EXIT_USAGE,
        ErrorKind::NotFound => EXIT_NOT_FOUND,
        ErrorKind::AlreadyExists => EXIT_EXISTS,
        ErrorKind::AuthenticationFailed | ErrorKind::IdentityLocked | ErrorKind::WrongMasterKey => {
            EXIT_AUTH
        }
        ErrorKind::AccessDenied => EXIT_DENIED,
        ErrorKind::KeyState | ErrorKind::KeyUsage => EXIT_STATE,
        ErrorKind::InvalidCiphertext | ErrorKind::VerificationFailed | ErrorKind::Integrity => {
            EXIT_INTEGRITY
        }
        ErrorKind::Store | ErrorKind::AuditUnavailable => EXIT_STORE,
        ErrorKind::LimitExceeded | ErrorKind::Unsupported => EXIT_LIMIT,
        ErrorKind::Crypto | ErrorKind::Internal => EXIT_INTERNAL,
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> CliError {
        let msg = match e.kind() {
            // Messages of these kinds do not always say what class of refusal they are.
            ErrorKind::AccessDenied if !e.message().contains("denied") => {
                format!("access denied: {}", e.message())
            }
            _ => e.message().to_string(),
        };
        CliError {
            code: exit_code(e.kind()),
            msg,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError {
            code: EXIT_STORE,
            msg: format!("i/o: {e}"),
        }
    }
}

pub fn usage(msg: impl Into<String>) -> CliError {
    CliError {
        code: EXIT_USAGE,
        msg: msg.into(),
    }
}

pub fn fail(code: i32, msg: impl Into<String>) -> CliError {
    CliError {
        code,
        msg: msg.into(),
    }
}

pub type R<T = ()> = Result<T, CliError>;

// ------------------------------------------------------------------ output

/// JSON string escaping (the core's helper).
pub fn js(s: &str) -> String {
    format!("\"{}\"", kms::core::json::esc(s))
}

pub fn js_opt(s: Option<&str>) -> String {
    s.map(js).unwrap_or_else(|| "null".into())
}

/// Prints rows under headers with aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// A CSV field (quoted when needed).
pub fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

// ------------------------------------------------------------------ time

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn fmt_time(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

pub fn fmt_opt_time(secs: Option<i64>) -> String {
    secs.map(fmt_time).unwrap_or_else(|| "-".into())
}

/// A duration: `90d`, `12h`, `30m`, `45s`, `2w` or plain seconds. Returns seconds.
pub fn parse_duration(s: &str) -> R<i64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        Some((i, 'w')) => (&s[..i], 7 * 86_400),
        _ => (s, 1),
    };
    let n: i64 = num.parse().map_err(|_| {
        usage(format!(
            "'{s}' is not a duration (e.g. 90d, 12h, 30m, 3600)"
        ))
    })?;
    if n <= 0 {
        return Err(usage(format!("duration '{s}' must be positive")));
    }
    n.checked_mul(mult)
        .ok_or_else(|| usage(format!("duration '{s}' is too large")))
}

pub fn fmt_duration(secs: i64) -> String {
    for (unit, n) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs % n == 0 && secs >= n {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// A point in time: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[Z]`, `@SECONDS`, or a duration
/// meaning that long ago (`1h`, `7d`). Returns seconds since the epoch.
pub fn parse_time(s: &str) -> R<i64> {
    let t = s.trim();
    if let Some(n) = t.strip_prefix('@') {
        return n.parse().map_err(|_| usage(format!("'{s}' is not a time")));
    }
    if t.len() >= 10 && t.as_bytes()[4] == b'-' {
        let bad = || usage(format!("'{s}' is not a time (YYYY-MM-DD[THH:MM:SS]Z)"));
        let y: i64 = t[0..4].parse().map_err(|_| bad())?;
        let m: u32 = t[5..7].parse().map_err(|_| bad())?;
        let d: u32 = t[8..10].parse().map_err(|_| bad())?;
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(bad());
        }
        let mut secs = days_from_civil(y, m, d) * 86_400;
        let rest = t[10..].trim_start_matches(['T', ' ']).trim_end_matches('Z');
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.len() < 2 || parts.len() > 3 {
                return Err(bad());
            }
            let h: i64 = parts[0].parse().map_err(|_| bad())?;
            let mi: i64 = parts[1].parse().map_err(|_| bad())?;
            let se: i64 = match parts.get(2) {
                Some(p) => p.parse().map_err(|_| bad())?,
                None => 0,
            };
            secs += h * 3600 + mi * 60 + se;
        }
        return Ok(secs);
    }
    Ok(kms::core::now() - parse_duration(t)?)
}

// ------------------------------------------------------------------ progress

/// A progress bar on stderr when it is a terminal; silent otherwise.
pub struct Progress {
    on: bool,
    label: &'static str,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    pub fn new(label: &'static str, quiet: bool) -> Progress {
        Progress {
            on: !quiet && std::io::stderr().is_terminal(),
            label,
            last: None,
            drawn: false,
        }
    }

    pub fn update(&mut self, done: u64, total: u64) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        if let Some(t) = self.last {
            if now.duration_since(t).as_millis() < 80 && done < total {
                return;
            }
        }
        self.last = Some(now);
        let frac = if total == 0 {
            1.0
        } else {
            (done.min(total) as f64) / (total as f64)
        };
        let width = 30;
        let full = (frac * width as f64) as usize;
        let bar: String = "#".repeat(full) + &"-".repeat(width - full);
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r{} [{bar}] {:>3}% ({done}/{total})",
            self.label,
            (frac * 100.0) as u32
        );
        let _ = e.flush();
        self.drawn = true;
    }

    pub fn finish(&mut self) {
        if self.drawn {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r{}\r", " ".repeat(70));
            let _ = e.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

// ------------------------------------------------------------------ files

/// An output that becomes visible only on success: a temp file beside the target, renamed
/// over it by `commit`; removed when dropped uncommitted. `-` or none is stdout.
pub enum Output {
    Stdout(std::io::Stdout),
    File {
        tmp: PathBuf,
        target: PathBuf,
        file: Option<std::fs::File>,
    },
}

impl Output {
    pub fn open(path: Option<&str>, private: bool) -> R<Output> {
        match path {
            None | Some("-") => Ok(Output::Stdout(std::io::stdout())),
            Some(p) => {
                let target = PathBuf::from(p);
                let dir = target
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let name = target
                    .file_name()
                    .ok_or_else(|| usage(format!("'{p}' is not a file path")))?
                    .to_string_lossy()
                    .to_string();
                let tmp = dir.join(format!(".{name}.kmsctl-{}.tmp", std::process::id()));
                let mut o = std::fs::OpenOptions::new();
                o.write(true).create_new(true);
                #[cfg(unix)]
                if private {
                    use std::os::unix::fs::OpenOptionsExt;
                    o.mode(0o600);
                }
                #[cfg(not(unix))]
                let _ = private;
                let file = o.open(&tmp).map_err(|e| {
                    fail(EXIT_STORE, format!("cannot write {}: {e}", tmp.display()))
                })?;
                Ok(Output::File {
                    tmp,
                    target,
                    file: Some(file),
                })
            }
        }
    }

    pub fn commit(mut self) -> R {
        if let Output::File { tmp, target, file } = &mut self {
            if let Some(f) = file.take() {
                f.sync_all()?;
            }
            std::fs::rename(&*tmp, &*target).map_err(|e| {
                fail(
                    EXIT_STORE,
                    format!("cannot write {}: {e}", target.display()),
                )
            })?;
        } else {
            std::io::stdout().flush()?;
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Stdout(s) => s.write(buf),
            Output::File { file, .. } => match file {
                Some(f) => f.write(buf),
                None => Err(std::io::Error::other("output already closed")),
            },
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(s) => s.flush(),
            Output::File { file, .. } => match file {
                Some(f) => f.flush(),
                None => Ok(()),
            },
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Output::File { tmp, file, .. } = self {
            if file.is_some() {
                drop(file.take());
                let _ = std::fs::remove_file(&*tmp);
            }
        }
    }
}

/// Opens an input: a file, or stdin for none or `-`.
pub fn input(path: Option<&str>) -> R<(Box<dyn std::io::Read>, Option<u64>)> {
    match path {
        None | Some("-") => Ok((Box::new(std::io::stdin().lock()), None)),
        Some(p) => {
            let f = std::fs::File::open(p)
                .map_err(|e| fail(EXIT_NOT_FOUND, format!("cannot read {p}: {e}")))?;
            let len = f.metadata().ok().map(|m| m.len());
            Ok((Box::new(f), len))
        }
    }
}

pub fn read_file(p: &str) -> R<Vec<u8>> {
    std::fs::read(p).map_err(|e| fail(EXIT_NOT_FOUND, format!("cannot read {p}: {e}")))
}

/// A reader that reports bytes read to a progress bar.
pub struct Counting<'a> {
    pub inner: Box<dyn std::io::Read + 'a>,
    pub done: u64,
    pub total: u64,
    pub bar: Progress,
}

impl std::io::Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.bar.update(self.done, self.total);
        Ok(n)
    }
}

// ------------------------------------------------------------------ secrets

/// Reads a secret: from the environment variable, else the file, else a no-echo prompt on
/// a terminal. Trailing newlines of files are dropped.
pub fn secret_from(env: &str, file: Option<&str>, prompt: &str, confirm: bool) -> R<String> {
    if let Some(p) = file {
        let v = std::fs::read_to_string(p)
            .map_err(|e| fail(EXIT_NOT_FOUND, format!("cannot read secret file {p}: {e}")))?;
        return Ok(v.trim_end_matches(['\n', '\r']).to_string());
    }
    if let Ok(v) = std::env::var(env) {
        if !v.is_empty() {
            return Ok(v);
        }
    }
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            EXIT_AUTH,
            format!("no secret given: set {env} or pass a file (no terminal to prompt on)"),
        ));
    }
    let a = crate::tty::prompt_hidden(prompt)?;
    if confirm {
        let b = crate::tty::prompt_hidden("Again: ")?;
        if a != b {
            return Err(usage("the two entries differ"));
        }
    }
    Ok(a)
}
