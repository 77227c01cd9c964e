//! The main job: a short tour of libkms on the embedded default store. It creates a key,
//! uses it, rotates it, disables it, schedules its deletion and prints the audit trail.
//!
//! Run with `cargo run --release --example tour` (store: `KMS_STORE`, or
//! `$XDG_DATA_HOME/kms/kms.db`, created with its master key file on first use).

use kms::core::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("tour: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let (kms, owner) = Kms::open_default_owner()?;
    println!("store: {}", kms.store().describe());
    let name = format!("tour-{}", now());
    let key = kms.create_key(
        &owner,
        &KeyRequest {
            spec: Some(KeySpec::Aes256),
            name: Some(name.clone()),
            description: "created by the tour".into(),
            tags: vec![("purpose".into(), "tour".into())],
            ..Default::default()
        },
    )?;
    println!("created key {} ({}), state {}", key.id, name, key.state);

    let ctx = parse_context("app=tour,record=42")?;
    let ct1 = kms.encrypt(&owner, &name, b"card number 4111-1111-1111-1111", &ctx)?;
    println!(
        "encrypted 31 bytes -> {} bytes of ciphertext (version 1)",
        ct1.len()
    );
    let pt = kms.decrypt(&owner, &ct1, &ctx)?;
    println!("decrypted: {}", String::from_utf8_lossy(&pt));
    match kms.decrypt(&owner, &ct1, &parse_context("app=tour,record=43")?) {
        Err(e) => println!("decrypt with the wrong context refused: {e}"),
        Ok(_) => return Err(Error::internal("wrong context accepted")),
    }

    let (dk, wrapped) = kms.generate_data_key(&owner, &name, 32, &ctx)?;
    println!(
        "data key: {} bytes in the clear (kept in memory), {} bytes wrapped",
        dk.len(),
        wrapped.len()
    );

    let v = kms.rotate_key(&owner, &name)?;
    let ct2 = kms.encrypt(&owner, &name, b"after rotation", &ctx)?;
    println!(
        "rotated to version {v}; new ciphertexts use it, the old one still decrypts: {}",
        String::from_utf8_lossy(&kms.decrypt(&owner, &ct1, &ctx)?)
    );
    let _ = ct2;

    kms.disable_key(&owner, &name)?;
    match kms.encrypt(&owner, &name, b"x", &ctx) {
        Err(e) => println!("disabled: {e}"),
        Ok(_) => return Err(Error::internal("disabled key encrypted")),
    }
    let k = kms.schedule_deletion(&owner, &name, None)?;
    println!(
        "scheduled for deletion: state {}, destroyed after {} (unix time)",
        k.state,
        k.deletion_date.unwrap_or(0)
    );

    println!(
        "\naudit trail of key {} (in time order; #n is the position in the hash chain):",
        key.id
    );
    let mut recs = kms.audit_query(
        &owner,
        &AuditFilter {
            key_id: Some(key.id),
            ..Default::default()
        },
    )?;
    // Usage records reach the chain in batches, so chain order and time order can differ.
    recs.sort_by_key(|r| (r.time, r.seq));
    let t0 = recs.first().map(|r| r.time).unwrap_or(0);
    for r in &recs {
        println!(
            "  +{:>7.3} ms  #{:<5} {:<18} {:<7} v{:<3} {:<7} {} {}",
            (r.time - t0) as f64 / 1000.0,
            r.seq,
            r.action,
            r.identity,
            r.key_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            r.outcome.name(),
            r.error,
            r.detail
        );
    }
    let rep = kms.audit_verify(&owner, None)?;
    println!(
        "\naudit chain: {} records, verified {}",
        rep.records,
        if rep.ok() {
            "intact".to_string()
        } else {
            format!("BROKEN: {:?}", rep.problem)
        }
    );
    Ok(())
}
