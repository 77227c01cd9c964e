//! A throw-away PostgreSQL server for tests: initdb in a temp folder, a Unix socket in that
//! folder and 127.0.0.1 on a free port, stopped on drop (or, for a server shared by a whole
//! test binary, by a watchdog when the test process exits). Needs Debian's `postgresql`
//! package (initdb, pg_ctl, postgres, pg_basebackup). As root, the server runs as the
//! `postgres` user (initdb refuses root).
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The folder with initdb, pg_ctl and postgres: `$KMS_TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<major>/bin`, else `pg_config --bindir`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KMS_TEST_PG_BIN").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    if let Some((_, b)) = found.pop() {
        return b;
    }
    if let Ok(o) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install Debian's \
         `postgresql` package (apt-get install -y postgresql) or set KMS_TEST_PG_BIN"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server.
pub struct PgServer {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub sock: PathBuf,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
    running: bool,
}

static DBS: AtomicU64 = AtomicU64::new(0);

impl PgServer {
    /// initdb + start, with `conf` lines appended to postgresql.conf.
    pub fn start(conf: &[&str]) -> PgServer {
        let mut s = PgServer::empty();
        s.run(
            "initdb",
            &[
                "-D",
                s.data.to_str().unwrap(),
                "-U",
                "kms",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ],
        );
        s.configure(conf);
        s.pg_start();
        s
    }

    /// A streaming standby of `primary` (pg_basebackup -R), started.
    pub fn standby_of(primary: &PgServer, conf: &[&str]) -> PgServer {
        let mut s = PgServer::empty();
        s.run(
            "pg_basebackup",
            &[
                "-D",
                s.data.to_str().unwrap(),
                "-h",
                primary.sock.to_str().unwrap(),
                "-p",
                &primary.port.to_string(),
                "-U",
                "kms",
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        );
        s.configure(conf);
        s.pg_start();
        s
    }

    fn empty() -> PgServer {
        let bin = bin_dir();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("kms-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir(&data).unwrap();
        std::fs::create_dir(&sock).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .arg(&sock)
                .status()
                .unwrap();
            assert!(st.success(), "chown to the postgres user failed");
        }
        PgServer {
            dir,
            data,
            sock,
            port: free_port(),
            bin,
            as_postgres,
            running: false,
        }
    }

    fn configure(&self, conf: &[&str]) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))
            .unwrap();
        writeln!(f, "\n# kms tests").unwrap();
        writeln!(f, "port = {}", self.port).unwrap();
        writeln!(f, "unix_socket_directories = '{}'", self.sock.display()).unwrap();
        writeln!(f, "listen_addresses = '127.0.0.1'").unwrap();
        writeln!(f, "max_connections = 300").unwrap();
        writeln!(f, "shared_buffers = 32MB").unwrap();
        for l in conf {
            writeln!(f, "{l}").unwrap();
        }
    }

    /// A command from the server's bin folder, run as the server's user.
    pub fn cmd(&self, prog: &str) -> Command {
        let path = self.bin.join(prog);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, prog: &str, args: &[&str]) {
        let out = self.cmd(prog).args(args).output().unwrap_or_else(|e| {
            panic!("{prog}: {e} (is Debian's `postgresql` package installed?)")
        });
        assert!(
            out.status.success(),
            "{prog} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_start(&mut self) {
        let log = self.dir.path().join("server.log");
        if self.as_postgres && !log.exists() {
            std::fs::write(&log, b"").unwrap();
            let _ = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&log)
                .status();
        }
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "120",
                "start",
            ],
        );
        self.running = true;
    }

    /// Stops the server (fast shutdown).
    pub fn stop(&mut self) {
        if self.running {
            let _ = self
                .cmd("pg_ctl")
                .args([
                    "-D",
                    self.data.to_str().unwrap(),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ])
                .output();
            self.running = false;
        }
    }

    /// Kills the server abruptly (immediate shutdown: no checkpoint, clients cut off).
    pub fn kill(&mut self) {
        if self.running {
            let _ = self
                .cmd("pg_ctl")
                .args([
                    "-D",
                    self.data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ])
                .output();
            self.running = false;
        }
    }

    /// Sets a server parameter (ALTER SYSTEM) and reloads the configuration.
    pub fn set(&self, name: &str, value: &str) {
        let mut c = self.client("postgres");
        c.batch_execute(&format!("ALTER SYSTEM SET {name} = '{value}'"))
            .unwrap();
        c.batch_execute("SELECT pg_reload_conf()").unwrap();
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) {
        self.run(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-w", "promote"],
        );
    }

    /// The postmaster's pid.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops the server when the process `pid` (this test process) exits, however it
    /// exits: for servers shared by every test of a binary, which no one drops.
    pub fn stop_with_process(mut self) -> PgServer {
        let me = std::process::id();
        let data = self.data.display().to_string();
        let dir = self.dir.path().display().to_string();
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; \
             kill -QUIT $(head -1 '{data}/postmaster.pid') 2>/dev/null; sleep 2; rm -rf '{dir}'"
        );
        // setsid -f: detached, survives this process; returns at once.
        Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("watchdog");
        self.running = false; // the watchdog owns the shutdown now
        self
    }

    /// libpq key-value form over the Unix socket.
    pub fn socket_url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=kms dbname={db}",
            self.sock.display(),
            self.port
        )
    }

    /// URL form over TCP on 127.0.0.1.
    pub fn tcp_url(&self, db: &str) -> String {
        format!("postgresql://kms@127.0.0.1:{}/{db}", self.port)
    }

    pub fn client(&self, db: &str) -> postgres::Client {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            match postgres::Client::connect(&self.socket_url(db), postgres::NoTls) {
                Ok(c) => return c,
                Err(e) if Instant::now() > until => panic!("connect: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Creates a new, empty database and returns its name.
    pub fn create_db(&self) -> String {
        let name = format!(
            "kms_{}_{}",
            std::process::id(),
            DBS.fetch_add(1, Ordering::Relaxed)
        );
        self.client("postgres")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        name
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The path of the log of `s` (for failure messages).
pub fn log_of(s: &PgServer) -> PathBuf {
    s.dir.path().join("server.log")
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
