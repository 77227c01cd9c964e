//! Identities, grants, keyrings and the audit trail as operations: create, disable, unlock,
//! set secret, grant, revoke; audit query, export, verify and checkpoints; master key rotation.

use crate::core::audit::{self, VerifyReport};
use crate::core::ciphertext::Context;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::*;
use crate::core::objects::{seal_object_with, unseal_object_with};
use crate::core::seal::MasterSource;
use crate::core::service::{hash_secret, Caller, Kms};
use crate::core::store::{self, Tx};
use crate::core::types::*;

/// A new grant.
#[derive(Clone, Debug, Default)]
pub struct GrantRequest {
    pub identity: String,
    /// None = every key of the keyring.
    pub key: Option<String>,
    pub actions: ActionSet,
    pub expires: Option<i64>,
    pub max_uses: Option<u64>,
    pub context: Vec<(String, String)>,
}

fn check_identity_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 {
        return Err(Error::invalid("identity name must be 1 to 128 bytes"));
    }
    if name.contains(':') || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid(
            "identity name must not contain ':', spaces or control characters",
        ));
    }
    Ok(())
}

fn check_secret(secret: &[u8]) -> Result<()> {
    if secret.len() < 4 || secret.len() > 1024 {
        return Err(Error::invalid("identity secret must be 4 to 1024 bytes"));
    }
    Ok(())
}

impl Kms {
    /// Creates an identity. More than one role needs `combined_roles` (separation of duties
    /// holds unless the policy says otherwise explicitly).
    pub fn create_identity(
        &self,
        c: &Caller,
        name: &str,
        secret: &[u8],
        roles: Roles,
        combined_roles: bool,
    ) -> Result<()> {
        check_identity_name(name)?;
        check_secret(secret)?;
        if roles.0 & !Roles::ALL_BITS != 0 {
            return Err(Error::invalid("unknown role bits"));
        }
        if roles.count() > 1 && !combined_roles {
            return Err(Error::invalid(format!(
                "identity {name} would hold roles {} together: separation of duties requires combined_roles to be set explicitly",
                roles.names().join("+")
            )));
        }
        let phc = hash_secret(secret, self.inner.cfg.identity_kdf)?;
        self.manage_id(c, Action::ManageIdentities, None, |tx, _, audit| {
            tx.identity_insert(&IdentityRecord {
                id: 0,
                keyring: c.keyring,
                name: name.to_string(),
                phc: phc.clone(),
                roles,
                combined_roles,
                disabled: false,
                failures: 0,
                locked: false,
                created: now(),
            })?;
            audit.action = "create-identity".into();
            audit.detail = format!("identity={name} roles={}", roles.names().join("+"));
            Ok(())
        })
    }

    fn edit_identity(
        &self,
        c: &Caller,
        name: &str,
        what: &str,
        f: impl Fn(&mut IdentityRecord) -> Result<()>,
    ) -> Result<()> {
        self.manage_id(c, Action::ManageIdentities, None, |tx, _, audit| {
            let mut i = tx
                .identity_get(c.keyring, name)?
                .ok_or_else(|| Error::not_found(format!("no identity '{name}'")))?;
            f(&mut i)?;
            tx.identity_update(&i)?;
            audit.action = what.into();
            audit.detail = format!("identity={name}");
            Ok(())
        })
    }

    pub fn disable_identity(&self, c: &Caller, name: &str) -> Result<()> {
        if name == c.identity {
            return Err(Error::invalid("an identity cannot disable itself"));
        }
        self.edit_identity(c, name, "disable-identity", |i| {
            i.disabled = true;
            Ok(())
        })
    }

    pub fn enable_identity(&self, c: &Caller, name: &str) -> Result<()> {
        self.edit_identity(c, name, "enable-identity", |i| {
            i.disabled = false;
            Ok(())
        })
    }

    /// Clears a lockout after too many failed authentications.
    pub fn unlock_identity(&self, c: &Caller, name: &str) -> Result<()> {
        self.edit_identity(c, name, "unlock-identity", |i| {
            i.locked = false;
            i.failures = 0;
            Ok(())
        })
    }

    /// Sets an identity's secret (an administrator for another identity).
    pub fn set_identity_secret(&self, c: &Caller, name: &str, secret: &[u8]) -> Result<()> {
        check_secret(secret)?;
        let phc = hash_secret(secret, self.inner.cfg.identity_kdf)?;
        self.edit_identity(c, name, "set-secret", |i| {
            i.phc = phc.clone();
            i.failures = 0;
            Ok(())
        })
    }

    /// Changes the caller's own secret, proving the old one (PKCS#11 `C_SetPIN`).
    pub fn change_own_secret(&self, c: &Caller, old: &[u8], new: &[u8]) -> Result<()> {
        check_secret(new)?;
        let kr = c.keyring_name.clone();
        self.authenticate(&kr, &c.identity, old)?;
        let phc = hash_secret(new, self.inner.cfg.identity_kdf)?;
        self.manage_id(c, Action::Authenticate, None, |tx, _, audit| {
            let mut i = tx
                .identity_get(c.keyring, &c.identity)?
                .ok_or_else(|| Error::not_found("identity vanished"))?;
            i.phc = phc.clone();
            tx.identity_update(&i)?;
            audit.action = "change-own-secret".into();
            Ok(())
        })
    }

    pub fn delete_identity(&self, c: &Caller, name: &str) -> Result<()> {
        if name == c.identity {
            return Err(Error::invalid("an identity cannot delete itself"));
        }
        self.manage_id(c, Action::ManageIdentities, None, |tx, _, audit| {
            if tx.identity_get(c.keyring, name)?.is_none() {
                return Err(Error::not_found(format!("no identity '{name}'")));
            }
            tx.identity_delete(c.keyring, name)?;
            audit.action = "delete-identity".into();
            audit.detail = format!("identity={name}");
            Ok(())
        })
    }

    pub fn list_identities(&self, c: &Caller) -> Result<Vec<IdentityRecord>> {
        self.refresh()?;
        self.authorize(c, Action::ManageIdentities, None, &Context::new())
            .or_else(|_| self.authorize(c, Action::ReadAudit, None, &Context::new()))
            .map_err(|e| {
                self.refuse(c, Action::ManageIdentities, None, None, &Context::new(), e)
            })?;
        store::read(self.store(), |tx| tx.identity_list(c.keyring))
    }

    /// The caller's own identity record (roles, state).
    pub fn whoami(&self, c: &Caller) -> Result<IdentityRecord> {
        Ok((*self.identity(c)?).clone())
    }

    /// Grants actions on a key (or every key) to an identity. Returns the grant id.
    pub fn grant(&self, c: &Caller, g: &GrantRequest) -> Result<u64> {
        if g.actions.0 == 0 {
            return Err(Error::invalid("a grant needs at least one action"));
        }
        let key_id = match &g.key {
            Some(k) => Some(self.key(c, k)?.id),
            None => None,
        };
        let mut ctx = g.context.clone();
        ctx.sort();
        self.manage_id(c, Action::SetPolicy, key_id, |tx, _, audit| {
            if tx.identity_get(c.keyring, &g.identity)?.is_none() {
                return Err(Error::not_found(format!("no identity '{}'", g.identity)));
            }
            let id = tx.grant_insert(&GrantRecord {
                id: 0,
                keyring: c.keyring,
                identity: g.identity.clone(),
                key_id,
                actions: g.actions,
                expires: g.expires,
                max_uses: g.max_uses,
                uses: 0,
                context: ctx.clone(),
                created: now(),
            })?;
            audit.action = "grant".into();
            audit.detail = format!(
                "grant={id} identity={} actions={}",
                g.identity,
                g.actions
                    .actions()
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            Ok(id)
        })
    }

    /// Revokes a grant by id.
    pub fn revoke(&self, c: &Caller, grant_id: u64) -> Result<()> {
        let key_id = store::read(self.store(), |tx| {
            Ok(tx
                .grants_list(c.keyring, None)?
                .into_iter()
                .find(|g| g.id == grant_id)
                .map(|g| g.key_id))
        })?
        .ok_or_else(|| Error::not_found(format!("no grant {grant_id}")))?;
        self.manage_id(c, Action::SetPolicy, key_id, |tx, _, audit| {
            if !tx.grant_delete(grant_id)? {
                return Err(Error::not_found(format!("no grant {grant_id}")));
            }
            audit.action = "revoke".into();
            audit.detail = format!("grant={grant_id}");
            Ok(())
        })
    }

    /// Grants on one key, or all grants of the keyring.
    pub fn list_grants(&self, c: &Caller, key: Option<&str>) -> Result<Vec<GrantRecord>> {
        self.refresh()?;
        let k = match key {
            Some(k) => Some(self.key(c, k)?),
            None => None,
        };
        self.authorize(c, Action::SetPolicy, k.as_deref(), &Context::new())
            .or_else(|_| self.authorize(c, Action::ReadAudit, None, &Context::new()))
            .or_else(|_| self.authorize(c, Action::ManageIdentities, None, &Context::new()))
            .map_err(|e| {
                self.refuse(
                    c,
                    Action::SetPolicy,
                    k.as_ref().map(|k| k.id),
                    None,
                    &Context::new(),
                    e,
                )
            })?;
        let kid = k.map(|k| k.id);
        store::read(self.store(), |tx| tx.grants_list(c.keyring, kid))
    }

    // ------------------------------------------------------------------ audit

    fn auditor(&self, c: &Caller) -> Result<()> {
        self.refresh()?;
        // Chain everything journaled so far (here and by dead processes) before reading.
        self.inner.audit.flush()?;
        self.authorize(c, Action::ReadAudit, None, &Context::new())
            .map_err(|e| self.refuse(c, Action::ReadAudit, None, None, &Context::new(), e))?;
        Ok(())
    }

    /// Audit records matching `filter`.
    pub fn audit_query(&self, c: &Caller, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.auditor(c)?;
        let sid = self.inner.store_id;
        store::read(self.store(), |tx| audit::query(tx, &sid, filter))
    }

    /// Writes matching records as JSON lines; returns how many.
    pub fn audit_export(
        &self,
        c: &Caller,
        filter: &AuditFilter,
        out: &mut dyn std::io::Write,
    ) -> Result<u64> {
        self.auditor(c)?;
        let sid = self.inner.store_id;
        let mut f = filter.clone();
        let mut n = 0u64;
        let limit = f.limit;
        loop {
            f.limit = Some(5000.min(limit.map(|l| l - n).unwrap_or(u64::MAX)));
            if f.limit == Some(0) {
                break;
            }
            let page = store::read(self.store(), |tx| audit::query(tx, &sid, &f))?;
            let Some(last) = page.last() else { break };
            if f.descending {
                f.before_seq = Some(last.seq);
            } else {
                f.after_seq = Some(last.seq);
            }
            for r in &page {
                writeln!(out, "{}", audit::to_json_line(r))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Walks the whole chain; with the auditor's checkpoint key, checks checkpoint MACs.
    pub fn audit_verify(&self, c: &Caller, checkpoint_key: Option<&[u8]>) -> Result<VerifyReport> {
        self.auditor(c)?;
        let sid = self.inner.store_id;
        store::read(self.store(), |tx| audit::verify(tx, &sid, checkpoint_key))
    }

    /// Records a checkpoint over the current chain head, MACed with the auditor's key.
    pub fn audit_checkpoint(&self, c: &Caller, key: &[u8]) -> Result<CheckpointRecord> {
        if key.len() < 16 {
            return Err(Error::invalid("checkpoint key must be at least 16 bytes"));
        }
        self.auditor(c)?;
        let sid = self.inner.store_id;
        store::write(self.store(), |tx| audit::checkpoint(tx, &sid, key, now()))
    }

    /// Removes records older than `before_seq` (retention), anchoring the chain at the last
    /// removed record so verification still holds. A batch of usage records linked as a
    /// whole is removed whole or kept whole: when `before_seq` falls inside one, the records
    /// of that batch before it are kept ([`audit::prune_cut`]). Returns how many records
    /// were removed.
    pub fn audit_prune(&self, c: &Caller, before_seq: u64) -> Result<u64> {
        self.auditor(c)?;
        let sid = self.inner.store_id;
        self.manage_id(c, Action::ManageStore, None, |tx, _, audit| {
            let before_seq = audit::prune_cut(tx, before_seq)?;
            let last = audit::query(
                tx,
                &sid,
                &AuditFilter {
                    after_seq: Some(before_seq.saturating_sub(2)),
                    limit: Some(1),
                    ..Default::default()
                },
            )?;
            let Some(anchor) = last.into_iter().find(|r| r.seq == before_seq - 1) else {
                return Ok(0);
            };
            let mut a = anchor.seq.to_be_bytes().to_vec();
            a.extend_from_slice(&anchor.hash);
            tx.meta_put("audit_anchor", &a)?;
            audit::split_batch_at(tx, &sid, before_seq)?;
            let n = tx.audit_delete_before(before_seq)?;
            audit.action = "audit-prune".into();
            audit.detail = format!("removed {n} records before {before_seq}");
            Ok(n)
        })
    }

    // ------------------------------------------------------------------ store

    /// Creates a new key with fresh master key (KEK) and re-seals every key version under it
    /// in one transaction; other processes pick the new KEK up on their next unseal.
    pub fn rotate_master_key(&self, c: &Caller) -> Result<u64> {
        let sealer = self
            .inner
            .sealer
            .read()
            .map_err(|_| Error::internal("lock"))?;
        let n = self.manage_id(c, Action::ManageStore, None, |tx, _, audit| {
            let old = sealer.current_kek_id();
            let all = tx.sealed_all()?;
            let mut opened = Vec::with_capacity(all.len());
            for (kid, v, spec, blob) in &all {
                let m = sealer
                    .unseal(*kid, *v, *spec, blob)?
                    .ok_or_else(|| Error::integrity("sealed blob under an unknown master key"))?;
                opened.push((*kid, *v, *spec, m));
            }
            // Sensitive objects (certificates' private data, data objects) are sealed too.
            let mut objects = Vec::new();
            for kr in tx.keyring_list()? {
                for o in tx.object_list(kr.id, None, None)? {
                    if o.sensitive && o.class != crate::core::objects::SECRET_CLASS {
                        objects.push(o);
                    }
                }
            }
            let mut opened_objects = Vec::with_capacity(objects.len());
            for o in &objects {
                opened_objects.push(unseal_object_with(&sealer, o.id, &o.value)?.ok_or_else(
                    || Error::integrity("object sealed under an unknown master key"),
                )?);
            }
            sealer.install_new_kek(tx)?;
            for (kid, v, spec, m) in &opened {
                let s = sealer.seal(*kid, *v, *spec, m)?;
                tx.version_set_sealed(*kid, *v, Some(&s))?;
            }
            for (o, m) in objects.iter().zip(&opened_objects) {
                let mut o = o.clone();
                o.value = seal_object_with(&sealer, o.id, m)?;
                tx.object_update(&o)?;
            }
            for (name, _) in tx.meta_list("kek:")? {
                let id: u32 = name[4..].parse().unwrap_or(0);
                if id != sealer.current_kek_id() {
                    sealer.retire_kek(tx, id)?;
                }
            }
            audit.action = "rotate-master-key".into();
            audit.detail = format!(
                "re-sealed {} key versions (previous key {old:08x} retired)",
                opened.len()
            );
            Ok(opened.len() as u64)
        });
        drop(sealer);
        if n.is_err() {
            // The transaction rolled back: forget the uncommitted KEK.
            let s = self
                .inner
                .sealer
                .read()
                .map_err(|_| Error::internal("lock"))?;
            let _ = store::read(self.store(), |tx| s.reload(tx));
        }
        let _ = self.inner.store.sync();
        n
    }

    /// Re-wraps the master keys under a new key file or passphrase.
    pub fn change_master_secret(&self, c: &Caller, source: &MasterSource) -> Result<()> {
        let mut sealer = self
            .inner
            .sealer
            .write()
            .map_err(|_| Error::internal("lock"))?;
        self.manage_id(c, Action::ManageStore, None, |tx: &mut dyn Tx, _, audit| {
            sealer.change_wrapping(tx, source)?;
            audit.action = "change-master-secret".into();
            Ok(())
        })
    }

    /// Keyrings of the store.
    pub fn list_keyrings(&self) -> Result<Vec<KeyringRecord>> {
        store::read(self.store(), |tx| tx.keyring_list())
    }

    /// Creates a keyring with its first identity (roles given; combined roles allowed
    /// explicitly for the PKCS#11 security officer). Unauthenticated: a new, empty
    /// namespace grants nothing over existing ones. The creation is audited.
    pub fn create_keyring(
        &self,
        name: &str,
        attrs: &[u8],
        first: &str,
        secret: &[u8],
        roles: Roles,
    ) -> Result<Caller> {
        check_identity_name(first)?;
        check_secret(secret)?;
        if name.is_empty() || name.len() > 64 {
            return Err(Error::invalid("keyring name must be 1 to 64 bytes"));
        }
        let phc = hash_secret(secret, self.inner.cfg.identity_kdf)?;
        let sid = self.inner.store_id;
        let id = store::write(self.store(), |tx| {
            let now = now();
            let id = tx.keyring_create(name, attrs, now)?;
            tx.identity_insert(&IdentityRecord {
                id: 0,
                keyring: id,
                name: first.to_string(),
                phc: phc.clone(),
                roles,
                combined_roles: roles.count() > 1,
                disabled: false,
                failures: 0,
                locked: false,
                created: now,
            })?;
            let mut rec = self.record_for(
                id,
                first,
                "create-keyring",
                None,
                None,
                Outcome::Ok,
                "",
                &format!("keyring={name}"),
            );
            audit::append_in_tx(tx, &sid, std::slice::from_mut(&mut rec))?;
            Ok(id)
        })?;
        self.invalidate();
        Ok(Caller {
            keyring: id,
            keyring_name: name.to_string(),
            identity: first.to_string(),
        })
    }

    /// Replaces a keyring's front-end attributes (token label ...), by its security officer.
    pub fn set_keyring_attrs(&self, c: &Caller, attrs: &[u8]) -> Result<()> {
        self.manage_id(c, Action::ManageIdentities, None, |tx, _, audit| {
            tx.keyring_set_attrs(c.keyring, attrs)?;
            audit.action = "set-keyring-attrs".into();
            Ok(())
        })
    }

    /// Removes every key, identity and grant of a keyring and gives it a new first
    /// identity (PKCS#11 `C_InitToken` on an initialised token, proven by its SO secret).
    pub fn reset_keyring(
        &self,
        keyring: &str,
        so: &str,
        so_secret: &[u8],
        new_secret: &[u8],
    ) -> Result<Caller> {
        let c = self.authenticate(keyring, so, so_secret)?;
        let phc = hash_secret(new_secret, self.inner.cfg.identity_kdf)?;
        self.manage_id(&c, Action::ManageStore, None, |tx, _, audit| {
            let keys = tx.key_list(&KeyFilter {
                keyring: c.keyring,
                ..Default::default()
            })?;
            for mut k in keys {
                for v in tx.versions(k.id)? {
                    tx.version_set_sealed(k.id, v.version, None)?;
                }
                k.state = KeyState::Destroyed;
                k.destroyed_at = Some(now());
                k.name = None;
                tx.key_update(&k)?;
            }
            for o in tx.object_list(c.keyring, None, None)? {
                tx.object_delete(o.id)?;
            }
            for i in tx.identity_list(c.keyring)? {
                if i.name != c.identity {
                    tx.identity_delete(c.keyring, &i.name)?;
                }
            }
            for g in tx.grants_list(c.keyring, None)? {
                tx.grant_delete(g.id)?;
            }
            let mut me = tx
                .identity_get(c.keyring, &c.identity)?
                .ok_or_else(|| Error::not_found("identity vanished"))?;
            me.phc = phc.clone();
            me.failures = 0;
            tx.identity_update(&me)?;
            audit.action = "reset-keyring".into();
            Ok(())
        })?;
        let _ = self.inner.store.sync();
        Ok(c)
    }
}

/// Maps an error to whether it means "refused" (for front ends that need the distinction).
pub fn is_refusal(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::AccessDenied | ErrorKind::KeyState | ErrorKind::KeyUsage
    )
}
