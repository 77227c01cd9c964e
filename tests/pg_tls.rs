//! TLS to PostgreSQL when the connection string asks for it: `sslmode=require` connects over
//! TLS and checks the server certificate against KMS_PG_CA_FILE; a certificate from another
//! CA is refused. The server is a throw-away one from Debian's `postgresql` package with a
//! certificate made here by the `openssl` command.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "pg/mod.rs"]
mod pg;

use std::path::Path;
use std::process::Command;

use kms::core::*;

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl) is needed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn make_ca_and_server(dir: &Path, name: &str) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}-server.key"),
            "-out",
            &format!("{name}-server.csr"),
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}-server.csr"),
            "-CA",
            &format!("{name}-ca.pem"),
            "-CAkey",
            &format!("{name}-ca.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}-server.pem"),
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
        dir,
    );
}

#[test]
fn sslmode_require_uses_tls_and_checks_the_server_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    make_ca_and_server(d, "good");
    make_ca_and_server(d, "other");
    // the server (running as the postgres user when tests run as root) reads its key and cert
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(
            d.join("good-server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(d.join("good-server.key"))
            .status();
        std::fs::set_permissions(
            d.join("good-server.pem"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let conf = [
        "ssl = on".to_string(),
        format!("ssl_cert_file = '{}'", d.join("good-server.pem").display()),
        format!("ssl_key_file = '{}'", d.join("good-server.key").display()),
    ];
    let conf_refs: Vec<&str> = conf.iter().map(String::as_str).collect();
    let server = pg::PgServer::start(&conf_refs);
    let db = server.create_db();
    let url = format!(
        "host=127.0.0.1 port={} user=kms dbname={db} sslmode=require",
        server.port
    );
    let work = tempfile::tempdir().unwrap();
    std::env::set_var("KMS_MASTER_KEY_FILE", work.path().join("master.key"));
    std::env::set_var("KMS_OWNER_SECRET_FILE", work.path().join("owner.secret"));

    // a certificate from another CA is refused
    std::env::set_var("KMS_PG_CA_FILE", d.join("other-ca.pem"));
    let e = Kms::open(Config::at(&url).unwrap())
        .err()
        .expect("untrusted server certificate");
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");

    // the right CA: the store works, over TLS
    std::env::set_var("KMS_PG_CA_FILE", d.join("good-ca.pem"));
    let k = Kms::open(Config::at(&url).unwrap()).unwrap();
    let o = k.owner().unwrap();
    k.create_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Aes256),
            name: Some("tls".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let ct = k.encrypt(&o, "tls", b"over tls", &Context::new()).unwrap();
    assert_eq!(&*k.decrypt(&o, &ct, &Context::new()).unwrap(), b"over tls");
    let mut admin = server.client("postgres");
    let tls_conns: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = $1 AND s.ssl",
            &[&db],
        )
        .unwrap()
        .get(0);
    let plain_conns: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = $1 AND NOT s.ssl",
            &[&db],
        )
        .unwrap()
        .get(0);
    assert!(tls_conns >= 1, "the store's connections use TLS");
    assert_eq!(plain_conns, 0, "no connection of the store is in the clear");
    drop(k);
}
