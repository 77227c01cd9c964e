//! Key management: create, import, describe, list, rotate, lifecycle changes, deletion,
//! version floors, export of wrapped material, and the maintenance pass.

use std::sync::Arc;

use crate::core::ciphertext::Context;
use crate::core::crypto;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::hot::HotDescribed;
use crate::core::json::{esc, opt_num};
use crate::core::lifecycle::{self, LifecycleOp};
use crate::core::model::*;
use crate::core::policy::{self, Decision};
use crate::core::service::{Caller, Kms};
use crate::core::store::{self, Tx};
use crate::core::types::*;

/// What a new key should be.
#[derive(Clone, Debug, Default)]
pub struct KeyRequest {
    pub spec: Option<KeySpec>,
    /// Empty = the spec's default usages.
    pub usage: Usage,
    pub name: Option<String>,
    pub description: String,
    pub tags: Vec<(String, String)>,
    /// Seconds since the epoch; in the future the key starts PreActive.
    pub activation_date: Option<i64>,
    /// Start PreActive with no date (enabled explicitly later).
    pub pre_active: bool,
    pub rotation_period: Option<i64>,
    pub rotate_after_uses: Option<u64>,
    pub exportable: bool,
    pub ext_id: Vec<u8>,
    pub attrs: Vec<u8>,
}

/// A key with its versions, as `describe` returns it.
#[derive(Clone, Debug)]
pub struct KeyInfo {
    pub key: KeyRecord,
    pub versions: Vec<VersionInfo>,
}

/// A version's public facts.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionInfo {
    pub version: u32,
    pub created: i64,
    pub destroyed: bool,
    pub uses: u64,
    pub primary: bool,
    /// Public key (SubjectPublicKeyInfo DER) of an asymmetric key version; public data,
    /// so describing a key (any role) shows it (PKCS#11 public key attributes).
    pub public: Option<Vec<u8>>,
}

/// What a maintenance pass did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MaintainReport {
    pub rotated: Vec<u64>,
    pub destroyed: Vec<u64>,
    pub activated: Vec<u64>,
}

/// Format byte of an exported (wrapped) key.
const EXPORT_FORMAT: u8 = 0x11;

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 {
        return Err(Error::invalid("key name must be 1 to 256 bytes"));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            "key name must not be all digits (digits name key ids)",
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "key name must not contain control characters",
        ));
    }
    Ok(())
}

impl KeyInfo {
    /// A JSON object describing the key (no material).
    pub fn to_json(&self) -> String {
        let k = &self.key;
        let tags: Vec<String> = k
            .tags
            .iter()
            .map(|(a, b)| format!("\"{}\":\"{}\"", esc(a), esc(b)))
            .collect();
        let usages: Vec<String> = k.usage.names().iter().map(|u| format!("\"{u}\"")).collect();
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|v| {
                format!(
                    "{{\"version\":{},\"created\":{},\"destroyed\":{},\"uses\":{},\"primary\":{}}}",
                    v.version, v.created, v.destroyed, v.uses, v.primary
                )
            })
            .collect();
        format!(
            "{{\"id\":{},\"name\":{},\"spec\":\"{}\",\"usage\":[{}],\"state\":\"{}\",\"compromised\":{},\"primary_version\":{},\"min_decrypt_version\":{},\"exportable\":{},\"origin\":\"{}\",\"created\":{},\"activation_date\":{},\"rotation_period\":{},\"rotate_after_uses\":{},\"last_rotated\":{},\"next_rotation\":{},\"deletion_date\":{},\"destroyed_at\":{},\"owner\":\"{}\",\"description\":\"{}\",\"tags\":{{{}}},\"versions\":[{}]}}",
            k.id,
            crate::core::json::opt_str(k.name.as_deref()),
            k.spec.name(),
            usages.join(","),
            k.state.name(),
            k.compromised,
            k.primary_version,
            k.min_decrypt_version,
            k.exportable,
            k.origin.name(),
            k.created,
            opt_num(k.activation_date),
            opt_num(k.rotation_period),
            opt_num(k.rotate_after_uses),
            k.last_rotated,
            opt_num(k.next_rotation()),
            opt_num(k.deletion_date),
            opt_num(k.destroyed_at),
            esc(&k.owner),
            esc(&k.description),
            tags.join(","),
            versions.join(",")
        )
    }
}

/// A key's description for [`Kms::describe_key_cached`]: the key and its versions, with use
/// counts left at 0 (they change with every use).
fn describe_without_uses(k: &KeyRecord, versions: &[VersionRecord]) -> KeyInfo {
    KeyInfo {
        key: k.clone(),
        versions: versions
            .iter()
            .map(|v| VersionInfo {
                version: v.version,
                created: v.created,
                destroyed: v.destroyed,
                uses: 0,
                primary: v.version == k.primary_version,
                public: v.public.clone(),
            })
            .collect(),
    }
}

impl Kms {
    /// Creates a key with freshly generated material (version 1).
    pub fn create_key(&self, c: &Caller, req: &KeyRequest) -> Result<KeyRecord> {
        self.new_key(c, req, None, Action::Create)
    }

    /// Imports caller-supplied material (BYOK): raw bytes for symmetric specs, PKCS#8 DER
    /// for EC, Ed25519 and RSA.
    pub fn import_key(&self, c: &Caller, req: &KeyRequest, material: &[u8]) -> Result<KeyRecord> {
        self.new_key(c, req, Some(material), Action::Import)
    }

    fn new_key(
        &self,
        c: &Caller,
        req: &KeyRequest,
        material: Option<&[u8]>,
        action: Action,
    ) -> Result<KeyRecord> {
        let spec = req
            .spec
            .ok_or_else(|| Error::invalid("a key spec is required"))?;
        let usage = if req.usage.is_empty() {
            spec.default_usages()
        } else {
            req.usage
        };
        if !spec.allowed_usages().contains(usage) {
            return Err(Error::invalid(format!(
                "a {} key cannot be used for {}",
                spec.name(),
                usage.names().join(",")
            )));
        }
        if let Some(n) = &req.name {
            check_name(n)?;
        }
        if let Some(p) = req.rotation_period {
            if p <= 0 {
                return Err(Error::invalid("rotation period must be positive"));
            }
        }
        if req.rotate_after_uses == Some(0) {
            return Err(Error::invalid("rotation after 0 uses is not allowed"));
        }
        let secret = match material {
            Some(m) => crypto::validate_import(spec, m)?,
            None => crypto::generate(spec)?,
        };
        let public = if spec.is_symmetric() {
            None
        } else {
            Some(crypto::public_key_spki(spec, &secret)?)
        };
        let now = now();
        let state = match req.activation_date {
            Some(t) if t > now => KeyState::PreActive,
            _ if req.pre_active => KeyState::PreActive,
            _ => KeyState::Active,
        };
        let sealer = self
            .inner
            .sealer
            .read()
            .map_err(|_| Error::internal("lock"))?;
        let rec = KeyRecord {
            id: 0,
            keyring: c.keyring,
            name: req.name.clone(),
            spec,
            usage,
            state,
            prior_state: None,
            compromised: false,
            primary_version: 1,
            min_decrypt_version: 1,
            exportable: req.exportable,
            origin: if material.is_some() {
                Origin::Imported
            } else {
                Origin::Generated
            },
            created: now,
            activation_date: req.activation_date,
            rotation_period: req.rotation_period,
            rotate_after_uses: req.rotate_after_uses,
            last_rotated: now,
            deletion_date: None,
            destroyed_at: None,
            owner: c.identity.clone(),
            description: req.description.clone(),
            tags: {
                let mut t = req.tags.clone();
                t.sort();
                t
            },
            ext_id: req.ext_id.clone(),
            attrs: req.attrs.clone(),
        };
        self.manage_id(c, action, None, |tx, _, audit| {
            let id = tx.key_insert(&rec)?;
            let sealed = sealer.seal(id, 1, spec.code(), &secret)?;
            tx.version_insert(&VersionRecord {
                key_id: id,
                version: 1,
                created: now,
                destroyed: false,
                sealed: Some(sealed),
                public: public.clone(),
                uses: 0,
            })?;
            audit.key_id = Some(id);
            audit.key_version = Some(1);
            audit.detail = format!("spec={} state={}", spec.name(), state.name());
            let mut out = rec.clone();
            out.id = id;
            Ok(out)
        })
    }

    /// The key's metadata and versions.
    pub fn describe_key(&self, c: &Caller, key: &str) -> Result<KeyInfo> {
        self.refresh()?;
        let k = self
            .key(c, key)
            .map_err(|e| self.refuse(c, Action::Describe, None, None, &Context::new(), e))?;
        self.authorize(c, Action::Describe, Some(&k), &Context::new())
            .map_err(|e| self.refuse(c, Action::Describe, Some(k.id), None, &Context::new(), e))?;
        let (key, versions) = store::read(self.store(), |tx| {
            let key = tx
                .key_get(k.id)?
                .ok_or_else(|| Error::not_found(format!("no key {}", k.id)))?;
            Ok((key, tx.versions(k.id)?))
        })?;
        let versions = versions
            .iter()
            .map(|v| VersionInfo {
                version: v.version,
                created: v.created,
                destroyed: v.destroyed,
                uses: v.uses,
                primary: v.version == key.primary_version,
                public: v.public.clone(),
            })
            .collect();
        Ok(KeyInfo { key, versions })
    }

    /// [`Kms::describe_key`] for front ends that look a key up on every operation (the
    /// PKCS#11 `C_*Init` calls): the same policy check and refusal audit, but the key and its
    /// versions come from the core's cache, which is dropped on every change made here and
    /// whenever another process changed the store. Use counts change with every use, so they
    /// are not filled in (every `uses` is 0); `describe_key` has the exact figures.
    pub fn describe_key_cached(&self, c: &Caller, key_id: u64) -> Result<Arc<KeyInfo>> {
        self.refresh()?;
        // A repeated look, from this thread's copy (see `hot`): policy is decided again
        // each time; anything but an allowance goes the shared way, which records it.
        let hot = self.inner.hot.with_described(c, key_id, |d| {
            let allowed = policy::decide(
                &d.ident,
                &d.grants,
                Action::Describe,
                Some(&d.key),
                &Context::new(),
                now(),
            );
            matches!(allowed, Decision::Allow { .. }).then(|| d.info.clone())
        });
        if let Some(info) = hot.flatten() {
            return Ok(info);
        }
        let k = self
            .key_by_id(c, key_id)
            .map_err(|e| self.refuse(c, Action::Describe, None, None, &Context::new(), e))?;
        self.authorize(c, Action::Describe, Some(&k), &Context::new())
            .map_err(|e| self.refuse(c, Action::Describe, Some(k.id), None, &Context::new(), e))?;
        // Only a description built from this very key record (the one just authorised).
        if let Some(info) = self.inner.cache.read().ok().and_then(|m| {
            let info = m
                .described
                .get(&k.id)
                .filter(|(rec, _)| Arc::ptr_eq(rec, &k))
                .map(|(_, info)| info.clone())?;
            // keep a copy for this thread's next look, with what the policy check reads
            let ident = m.identities.get(&c.keyring)?.get(&c.identity)?;
            let grants = m.grants.get(&c.keyring)?.get(&c.identity)?;
            let d = HotDescribed::new(c, k.clone(), ident.clone(), grants.clone(), &info);
            self.inner
                .hot
                .fill_described(self.inner.hot.generation(), d);
            Some(info)
        }) {
            return Ok(info);
        }
        let versions = store::read(self.store(), |tx| tx.versions(k.id))?;
        let info = Arc::new(describe_without_uses(&k, &versions));
        if let Ok(mut m) = self.cache_write() {
            m.described.insert(k.id, (k.clone(), info.clone()));
        }
        Ok(info)
    }

    /// Keys of the caller's keyring matching `filter` (its keyring field is ignored).
    pub fn list_keys(&self, c: &Caller, filter: &KeyFilter) -> Result<Vec<KeyRecord>> {
        self.refresh()?;
        self.authorize(c, Action::List, None, &Context::new())
            .map_err(|e| self.refuse(c, Action::List, None, None, &Context::new(), e))?;
        let mut f = filter.clone();
        f.keyring = c.keyring;
        // A lookup-sized answer (a search by label or id, as PKCS#11 C_FindObjectsInit
        // makes) goes on to use its keys: read their versions in the same transaction and
        // keep records and descriptions cached, as a lookup by id would (a long listing is
        // not cached).
        let (list, versions) = store::read(self.store(), |tx| {
            let list = tx.key_list(&f)?;
            let mut versions = Vec::new();
            if list.len() <= 16 {
                for k in &list {
                    versions.push(tx.versions(k.id)?);
                }
            }
            Ok((list, versions))
        })?;
        if !versions.is_empty() {
            if let Ok(mut m) = self.cache_write() {
                for (k, vs) in list.iter().zip(versions) {
                    let rec = m
                        .keys
                        .entry(k.id)
                        .or_insert_with(|| Arc::new(k.clone()))
                        .clone();
                    if m.described
                        .get(&k.id)
                        .is_some_and(|(r, _)| Arc::ptr_eq(r, &rec))
                    {
                        continue;
                    }
                    let info = Arc::new(describe_without_uses(&rec, &vs));
                    m.described.insert(k.id, (rec, info));
                }
            }
        }
        Ok(list)
    }

    /// Adds a version with new material and makes it primary. Returns the new version.
    pub fn rotate_key(&self, c: &Caller, key: &str) -> Result<u32> {
        self.manage(c, Action::Rotate, Some(key), |tx, k, audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            let v = self.add_version(tx, k, None)?;
            audit.key_version = Some(v);
            Ok(v)
        })
    }

    /// Rotates an imported key with new caller-supplied material.
    pub fn rotate_key_with_material(&self, c: &Caller, key: &str, material: &[u8]) -> Result<u32> {
        self.manage(c, Action::Rotate, Some(key), |tx, k, audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            let v = self.add_version(tx, k, Some(material))?;
            audit.key_version = Some(v);
            audit.detail = "imported material".into();
            Ok(v)
        })
    }

    fn add_version(
        &self,
        tx: &mut dyn Tx,
        k: &mut KeyRecord,
        material: Option<&[u8]>,
    ) -> Result<u32> {
        if !matches!(
            k.state,
            KeyState::Active | KeyState::Suspended | KeyState::PreActive
        ) {
            return Err(Error::new(
                ErrorKind::KeyState,
                format!("key {} is {}: cannot rotate", k.label(), k.state),
            ));
        }
        let secret = match material {
            Some(m) => crypto::validate_import(k.spec, m)?,
            None if k.origin == Origin::Imported => {
                return Err(Error::invalid(format!(
                    "key {} holds imported material: rotate it with new material",
                    k.label()
                )))
            }
            None => crypto::generate(k.spec)?,
        };
        let public = if k.spec.is_symmetric() {
            None
        } else {
            Some(crypto::public_key_spki(k.spec, &secret)?)
        };
        let latest = tx.versions(k.id)?.last().map(|v| v.version).unwrap_or(0);
        let v = latest + 1;
        let sealed = self
            .inner
            .sealer
            .read()
            .map_err(|_| Error::internal("lock"))?
            .seal(k.id, v, k.spec.code(), &secret)?;
        let now = now();
        tx.version_insert(&VersionRecord {
            key_id: k.id,
            version: v,
            created: now,
            destroyed: false,
            sealed: Some(sealed),
            public,
            uses: 0,
        })?;
        k.primary_version = v;
        k.last_rotated = now;
        Ok(v)
    }

    /// Rotates a key whose automatic rotation is due, exactly once across processes: the
    /// due condition is checked again inside the write transaction.
    /// Returns whether this call rotated (false when another process got there first).
    pub(crate) fn rotate_due(&self, c: &Caller, key_id: u64, observed_uses: u64) -> Result<bool> {
        let now = now();
        let sid = self.inner.store_id;
        let done = store::write(self.store(), |tx| {
            let Some(mut k) = tx.key_get(key_id)? else {
                return Ok(None);
            };
            if !is_due(tx, &k, now, observed_uses)? {
                return Ok(None);
            }
            let v = self.add_version(tx, &mut k, None)?;
            tx.key_update(&k)?;
            let mut rec = self.record_for(
                k.keyring,
                &c.identity,
                "rotate",
                Some(k.id),
                Some(v),
                Outcome::Ok,
                "",
                "automatic rotation (due)",
            );
            crate::core::audit::append_in_tx(tx, &sid, std::slice::from_mut(&mut rec))?;
            Ok(Some(v))
        })?;
        self.invalidate();
        Ok(done.is_some())
    }

    /// Applies a lifecycle change (enable, disable, deactivate, cancel deletion, destroy).
    pub fn set_key_state(&self, c: &Caller, key: &str, op: LifecycleOp) -> Result<KeyRecord> {
        if op == LifecycleOp::ScheduleDeletion {
            return self.schedule_deletion(c, key, None);
        }
        let out = self.manage(c, op.policy_action(), Some(key), |tx, k, audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            if op == LifecycleOp::Destroy {
                let due = k.deletion_date.map(|d| d <= now()).unwrap_or(false);
                if !due {
                    return Err(Error::new(
                        ErrorKind::KeyState,
                        format!(
                            "key {} is not pending deletion past its waiting period",
                            k.label()
                        ),
                    ));
                }
            }
            let to = lifecycle::next_state(&k.label(), k.state, op, k.prior_state)?;
            audit.detail = format!("{} -> {}", k.state, to);
            apply_state(tx, k, to)?;
            Ok(k.clone())
        })?;
        if op == LifecycleOp::Destroy {
            let _ = self.inner.store.sync();
        }
        Ok(out)
    }

    pub fn enable_key(&self, c: &Caller, key: &str) -> Result<KeyRecord> {
        self.set_key_state(c, key, LifecycleOp::Enable)
    }

    pub fn disable_key(&self, c: &Caller, key: &str) -> Result<KeyRecord> {
        self.set_key_state(c, key, LifecycleOp::Disable)
    }

    /// Suspends an active key (reversible with enable). Same as disable on an active key.
    pub fn suspend_key(&self, c: &Caller, key: &str) -> Result<KeyRecord> {
        self.set_key_state(c, key, LifecycleOp::Disable)
    }

    pub fn deactivate_key(&self, c: &Caller, key: &str) -> Result<KeyRecord> {
        self.set_key_state(c, key, LifecycleOp::Deactivate)
    }

    pub fn cancel_deletion(&self, c: &Caller, key: &str) -> Result<KeyRecord> {
        self.set_key_state(c, key, LifecycleOp::CancelDeletion)
    }

    /// Schedules destruction after `days` (the store's default when None).
    pub fn schedule_deletion(&self, c: &Caller, key: &str, days: Option<u32>) -> Result<KeyRecord> {
        let days = days.unwrap_or(self.inner.cfg.default_deletion_days);
        if days < self.inner.cfg.min_deletion_days {
            return Err(Error::invalid(format!(
                "deletion waiting period of {days} days is below the minimum of {}",
                self.inner.cfg.min_deletion_days
            )));
        }
        if days > 3650 {
            return Err(Error::invalid("deletion waiting period above 3650 days"));
        }
        self.manage(c, Action::ScheduleDeletion, Some(key), |tx, k, audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            let to =
                lifecycle::next_state(&k.label(), k.state, LifecycleOp::ScheduleDeletion, None)?;
            k.prior_state = Some(k.state);
            k.deletion_date = Some(now() + days as i64 * 86_400);
            audit.detail = format!("{} -> {} in {days} days", k.state, to);
            apply_state(tx, k, to)?;
            Ok(k.clone())
        })
    }

    /// Marks a key compromised: it decrypts and verifies only, whatever its state.
    pub fn mark_compromised(&self, c: &Caller, key: &str) -> Result<KeyRecord> {
        self.manage(c, Action::Disable, Some(key), |_tx, k, audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            if k.state == KeyState::Destroyed {
                return Err(Error::new(
                    ErrorKind::KeyState,
                    format!("key {} is destroyed", k.label()),
                ));
            }
            k.compromised = true;
            audit.action = "mark-compromised".into();
            Ok(k.clone())
        })
    }

    /// Refuses decryption with versions below `version`.
    pub fn set_min_decrypt_version(
        &self,
        c: &Caller,
        key: &str,
        version: u32,
    ) -> Result<KeyRecord> {
        self.manage(c, Action::Update, Some(key), |_tx, k, audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            if version == 0 || version > k.primary_version {
                return Err(Error::invalid(format!(
                    "minimum decryption version must be between 1 and {}",
                    k.primary_version
                )));
            }
            k.min_decrypt_version = version;
            audit.action = "set-min-decrypt-version".into();
            audit.detail = format!("min_decrypt_version={version}");
            Ok(k.clone())
        })
    }

    /// Wipes one non-primary version's material for good.
    pub fn destroy_version(&self, c: &Caller, key: &str, version: u32) -> Result<()> {
        self.manage(c, Action::Destroy, Some(key), |tx, k, audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            if version == k.primary_version {
                return Err(Error::invalid(
                    "the primary version cannot be destroyed; rotate first",
                ));
            }
            if tx.version_get(k.id, version)?.is_none() {
                return Err(Error::not_found(format!(
                    "key {} has no version {version}",
                    k.label()
                )));
            }
            tx.version_set_sealed(k.id, version, None)?;
            audit.action = "destroy-version".into();
            audit.key_version = Some(version);
            Ok(())
        })?;
        let _ = self.inner.store.sync();
        Ok(())
    }

    /// Sets automatic rotation: every `period` seconds and/or after `after_uses` uses.
    pub fn set_rotation(
        &self,
        c: &Caller,
        key: &str,
        period: Option<i64>,
        after_uses: Option<u64>,
    ) -> Result<KeyRecord> {
        if period.map(|p| p <= 0).unwrap_or(false) || after_uses == Some(0) {
            return Err(Error::invalid(
                "rotation period and use count must be positive",
            ));
        }
        self.manage(c, Action::Update, Some(key), |_tx, k, audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            k.rotation_period = period;
            k.rotate_after_uses = after_uses;
            audit.action = "set-rotation".into();
            audit.detail = format!("period={period:?} after_uses={after_uses:?}");
            Ok(k.clone())
        })
    }

    /// Updates descriptive fields (name, description, tags, external id, front-end attrs).
    pub fn update_key(
        &self,
        c: &Caller,
        key: &str,
        f: &dyn Fn(&mut KeyRecord),
    ) -> Result<KeyRecord> {
        self.manage(c, Action::Update, Some(key), |_tx, k, _audit| {
            let k = k.ok_or_else(|| Error::internal("no key"))?;
            let before = k.clone();
            f(k);
            if let Some(n) = &k.name {
                check_name(n)?;
            }
            // Only descriptive fields may change here.
            if k.spec != before.spec
                || k.state != before.state
                || k.primary_version != before.primary_version
                || k.id != before.id
                || k.keyring != before.keyring
                || (k.exportable && !before.exportable)
            {
                return Err(Error::invalid("only descriptive key fields may be updated"));
            }
            Ok(k.clone())
        })
    }

    /// Exports a key version wrapped (AES key wrap with padding) under another key of the
    /// store that has the wrap usage. Only keys created exportable.
    pub fn export_wrapped(
        &self,
        c: &Caller,
        key: &str,
        version: Option<u32>,
        wrapping_key: &str,
    ) -> Result<Vec<u8>> {
        self.refresh()?;
        let k = self.key(c, key)?;
        self.authorize(c, Action::Export, Some(&k), &Context::new())
            .map_err(|e| self.refuse(c, Action::Export, Some(k.id), None, &Context::new(), e))?;
        if !k.exportable {
            return Err(self.refuse(
                c,
                Action::Export,
                Some(k.id),
                None,
                &Context::new(),
                Error::usage(format!("key {} was not created exportable", k.label())),
            ));
        }
        let v = version.unwrap_or(k.primary_version);
        let material = self.material(&k, v)?;
        let spec = k.spec;
        let kid = k.id;
        self.use_key(
            c,
            crate::core::service::KeySel::Ref(wrapping_key),
            None,
            Action::Wrap,
            Usage::WRAP,
            &Context::new(),
            |wk, wv, wm| {
                let mut out = vec![EXPORT_FORMAT];
                out.extend_from_slice(&wk.id.to_be_bytes());
                out.extend_from_slice(&wv.to_be_bytes());
                out.extend_from_slice(&spec.code().to_be_bytes());
                out.extend_from_slice(&kid.to_be_bytes());
                out.extend(crypto::aes_kwp_wrap(wm, &material.material)?);
                Ok(out)
            },
        )
    }

    /// Imports a key exported by [`Kms::export_wrapped`] (from this store or another that
    /// shares the wrapping key).
    pub fn import_wrapped(
        &self,
        c: &Caller,
        req: &KeyRequest,
        wrapped: &[u8],
    ) -> Result<KeyRecord> {
        if wrapped.len() < 1 + 8 + 4 + 4 + 8 + 16 || wrapped[0] != EXPORT_FORMAT {
            return Err(Error::bad_ciphertext("not an exported key"));
        }
        let wk = u64::from_be_bytes(
            wrapped[1..9]
                .try_into()
                .map_err(|_| Error::bad_ciphertext("short"))?,
        );
        let wv = u32::from_be_bytes(
            wrapped[9..13]
                .try_into()
                .map_err(|_| Error::bad_ciphertext("short"))?,
        );
        let spec = KeySpec::from_code(u32::from_be_bytes(
            wrapped[13..17]
                .try_into()
                .map_err(|_| Error::bad_ciphertext("short"))?,
        ))?;
        let body = wrapped[25..].to_vec();
        let material = self.use_key(
            c,
            crate::core::service::KeySel::Id(wk),
            Some(wv),
            Action::Unwrap,
            Usage::UNWRAP,
            &Context::new(),
            |_, _, wm| crypto::aes_kwp_unwrap(wm, &body),
        )?;
        let mut r = req.clone();
        r.spec = Some(spec);
        self.import_key(c, &r, &material)
    }

    /// Runs what is due: activations, rotations by time or use, destructions whose waiting
    /// period has ended. Safe to run from many processes at once.
    pub fn maintain(&self, c: &Caller) -> Result<MaintainReport> {
        self.maintain_with_progress(c, &mut |_, _| {})
    }

    /// [`Kms::maintain`], calling `progress(keys done, keys total)` as it goes.
    pub fn maintain_with_progress(
        &self,
        c: &Caller,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<MaintainReport> {
        self.refresh()?;
        self.authorize(c, Action::Maintain, None, &Context::new())
            .map_err(|e| self.refuse(c, Action::Maintain, None, None, &Context::new(), e))?;
        let now = now();
        let keys = store::read(self.store(), |tx| {
            let mut all = Vec::new();
            let mut after = 0;
            loop {
                let page = tx.key_list(&KeyFilter {
                    keyring: c.keyring,
                    after_id: after,
                    limit: Some(5000),
                    ..Default::default()
                })?;
                let Some(last) = page.last() else { break };
                after = last.id;
                all.extend(page);
            }
            Ok(all)
        })?;
        let mut rep = MaintainReport::default();
        let total = keys.len() as u64;
        for (i, k) in keys.into_iter().enumerate() {
            progress(i as u64, total);
            if k.state == KeyState::PreActive
                && k.activation_date.map(|d| d <= now).unwrap_or(false)
                && self.system_transition(
                    c,
                    k.id,
                    LifecycleOp::Enable,
                    "activation date reached",
                )?
            {
                rep.activated.push(k.id);
            }
            if k.state == KeyState::PendingDeletion
                && k.deletion_date.map(|d| d <= now).unwrap_or(false)
            {
                if self.system_transition(
                    c,
                    k.id,
                    LifecycleOp::Destroy,
                    "deletion waiting period ended",
                )? {
                    rep.destroyed.push(k.id);
                }
                continue;
            }
            if matches!(k.state, KeyState::Active) && k.origin == Origin::Generated {
                let due = store::read(self.store(), |tx| is_due(tx, &k, now, 0))?;
                if due && self.rotate_due(c, k.id, 0)? {
                    rep.rotated.push(k.id);
                }
            }
        }
        progress(total, total);
        if !rep.destroyed.is_empty() {
            let _ = self.inner.store.sync();
        }
        Ok(rep)
    }

    /// A transition made by the maintenance pass, re-checked inside the transaction so two
    /// concurrent passes do it once. Returns whether this call made it.
    fn system_transition(
        &self,
        c: &Caller,
        key_id: u64,
        op: LifecycleOp,
        why: &str,
    ) -> Result<bool> {
        let now = now();
        let sid = self.inner.store_id;
        let done = store::write(self.store(), |tx| {
            let Some(mut k) = tx.key_get(key_id)? else {
                return Ok(false);
            };
            let still_due = match op {
                LifecycleOp::Enable => {
                    k.state == KeyState::PreActive
                        && k.activation_date.map(|d| d <= now).unwrap_or(false)
                }
                LifecycleOp::Destroy => {
                    k.state == KeyState::PendingDeletion
                        && k.deletion_date.map(|d| d <= now).unwrap_or(false)
                }
                _ => false,
            };
            if !still_due {
                return Ok(false);
            }
            let to = lifecycle::next_state(&k.label(), k.state, op, k.prior_state)?;
            let detail = format!("{} -> {} ({why})", k.state, to);
            apply_state(tx, &mut k, to)?;
            tx.key_update(&k)?;
            let mut rec = self.record_for(
                k.keyring,
                &c.identity,
                op.action().name(),
                Some(k.id),
                None,
                Outcome::Ok,
                "",
                &detail,
            );
            crate::core::audit::append_in_tx(tx, &sid, std::slice::from_mut(&mut rec))?;
            Ok(true)
        })?;
        self.invalidate();
        Ok(done)
    }
}

/// Sets the state and does what entering it implies (destruction wipes every version).
fn apply_state(tx: &mut dyn Tx, k: &mut KeyRecord, to: KeyState) -> Result<()> {
    if to == KeyState::Destroyed {
        for v in tx.versions(k.id)? {
            tx.version_set_sealed(k.id, v.version, None)?;
        }
        k.destroyed_at = Some(now());
        k.rotation_period = None;
        k.rotate_after_uses = None;
    }
    if k.state == KeyState::PendingDeletion && to != KeyState::Destroyed {
        k.deletion_date = None;
        k.prior_state = None;
    }
    k.state = to;
    Ok(())
}

/// Whether automatic rotation is due, from stored facts (time, or persisted use count).
/// `observed_uses` is the count a handle saw in memory (usage records reach the store in
/// batches, so the stored count may lag by one batch).
fn is_due(tx: &mut dyn Tx, k: &KeyRecord, now: i64, observed_uses: u64) -> Result<bool> {
    if k.state != KeyState::Active || k.origin == Origin::Imported {
        return Ok(false);
    }
    if let Some(next) = k.next_rotation() {
        if now >= next {
            return Ok(true);
        }
    }
    if let Some(limit) = k.rotate_after_uses {
        if let Some(v) = tx.version_get(k.id, k.primary_version)? {
            if v.uses.max(observed_uses) >= limit {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
