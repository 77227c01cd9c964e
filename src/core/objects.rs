//! Stored objects that are not keys: X.509 certificates and data objects (sealed when
//! sensitive), and versioned application secrets encrypted under a chosen key.

use crate::core::ciphertext::Context;
use crate::core::crypto::Secret;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::*;
use crate::core::ops;
use crate::core::seal::Sealer;
use crate::core::service::{Caller, KeySel, Kms};
use crate::core::store;
use crate::core::types::*;

/// Object class of application secrets.
pub const SECRET_CLASS: &str = "secret";
/// Marker bit of object ids in the sealing associated data (keeps them apart from keys).
const OBJECT_SEAL_BIT: u64 = 1 << 63;
/// Spec code used in the sealing associated data of object values.
const OBJECT_SEAL_SPEC: u32 = 0x4f42;
/// Largest object value.
pub const MAX_OBJECT: usize = 1024 * 1024;

/// A new certificate or data object.
#[derive(Clone, Debug, Default)]
pub struct ObjectRequest {
    pub class: String,
    pub label: String,
    pub ext_id: Vec<u8>,
    pub value: Vec<u8>,
    /// Sealed at rest and readable only through `get_object` by identities with a role.
    pub sensitive: bool,
    pub attrs: Vec<u8>,
}

/// One version of an application secret (the value is not included).
#[derive(Clone, Debug, PartialEq)]
pub struct SecretInfo {
    pub name: String,
    pub version: u32,
    pub key_id: u64,
    pub created: i64,
    pub deleted: bool,
}

/// Seals an object value under the current master key (object ids are kept apart from key
/// ids in the associated data).
pub(crate) fn seal_object_with(s: &Sealer, id: u64, value: &[u8]) -> Result<Vec<u8>> {
    s.seal(id | OBJECT_SEAL_BIT, 1, OBJECT_SEAL_SPEC, value)
}

/// Opens a sealed object value; `None` when it names a master key not loaded yet.
pub(crate) fn unseal_object_with(s: &Sealer, id: u64, blob: &[u8]) -> Result<Option<Secret>> {
    s.unseal(id | OBJECT_SEAL_BIT, 1, OBJECT_SEAL_SPEC, blob)
}

fn check_class(class: &str) -> Result<()> {
    match class {
        "certificate" | "data" | "public-key" => Ok(()),
        SECRET_CLASS => Err(Error::invalid(
            "application secrets are written with put_secret",
        )),
        other => Err(Error::invalid(format!("unknown object class '{other}'"))),
    }
}

fn secret_context(name: &str, version: u32) -> Context {
    let mut c = Context::new();
    c.insert("kms:secret".into(), name.to_string());
    c.insert("kms:version".into(), version.to_string());
    c
}

impl Kms {
    fn seal_object(&self, id: u64, value: &[u8]) -> Result<Vec<u8>> {
        seal_object_with(
            &*self
                .inner
                .sealer
                .read()
                .map_err(|_| Error::internal("lock"))?,
            id,
            value,
        )
    }

    fn unseal_object(&self, id: u64, blob: &[u8]) -> Result<Secret> {
        let s = self
            .inner
            .sealer
            .read()
            .map_err(|_| Error::internal("lock"))?;
        if let Some(v) = unseal_object_with(&s, id, blob)? {
            return Ok(v);
        }
        store::read(self.store(), |tx| s.reload(tx))?;
        unseal_object_with(&s, id, blob)?
            .ok_or_else(|| Error::integrity("object sealed under an unknown master key"))
    }

    /// Stores a certificate or data object in the caller's keyring.
    pub fn create_object(&self, c: &Caller, req: &ObjectRequest) -> Result<ObjectRecord> {
        check_class(&req.class)?;
        if req.value.len() > MAX_OBJECT || req.label.len() > 1024 || req.ext_id.len() > 1024 {
            return Err(Error::invalid("object value, label or id too large"));
        }
        self.manage_id(c, Action::WriteObject, None, |tx, _, audit| {
            let mut o = ObjectRecord {
                id: 0,
                keyring: c.keyring,
                class: req.class.clone(),
                label: req.label.clone(),
                ext_id: req.ext_id.clone(),
                value: Vec::new(),
                sensitive: req.sensitive,
                attrs: req.attrs.clone(),
                created: now(),
                version: 0,
                key_id: None,
                deleted: false,
            };
            o.id = tx.object_insert(&o)?;
            if req.sensitive {
                o.value = self.seal_object(o.id, &req.value)?;
            } else {
                o.value = req.value.clone();
            }
            tx.object_update(&o)?;
            audit.action = "create-object".into();
            audit.detail = format!("object={} class={}", o.id, o.class);
            o.value = req.value.clone();
            Ok(o)
        })
    }

    /// An object with its value (unsealed when sensitive). An application secret read this
    /// way (a PKCS#11 data object) is decrypted under the same policy as `get_secret`.
    pub fn get_object(&self, c: &Caller, id: u64) -> Result<ObjectRecord> {
        self.refresh()?;
        let found = store::read(self.store(), |tx| tx.object_get(id))?
            .filter(|o| o.keyring == c.keyring && !o.deleted);
        if let Some(mut o) = found.clone().filter(|o| o.class == SECRET_CLASS) {
            o.value = self.get_secret(c, &o.label, Some(o.version))?.to_vec();
            return Ok(o);
        }
        self.authorize(c, Action::Describe, None, &Context::new())
            .map_err(|e| self.refuse(c, Action::Describe, None, None, &Context::new(), e))?;
        let mut o = found.ok_or_else(|| Error::not_found(format!("no object {id}")))?;
        if o.sensitive {
            o.value = self.unseal_object(o.id, &o.value)?.to_vec();
        }
        Ok(o)
    }

    /// Objects of the caller's keyring (values of sensitive objects are left empty),
    /// including each application secret's latest version (class `secret`).
    pub fn list_objects(
        &self,
        c: &Caller,
        class: Option<&str>,
        label: Option<&str>,
    ) -> Result<Vec<ObjectRecord>> {
        self.refresh()?;
        self.authorize(c, Action::List, None, &Context::new())
            .map_err(|e| self.refuse(c, Action::List, None, None, &Context::new(), e))?;
        let mut v = store::read(self.store(), |tx| tx.object_list(c.keyring, class, label))?;
        // Application secrets appear once, as their latest live version.
        let mut latest: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        for o in v.iter().filter(|o| o.class == SECRET_CLASS && !o.deleted) {
            let e = latest.entry(o.label.clone()).or_insert(0);
            *e = (*e).max(o.version);
        }
        v.retain(|o| o.class != SECRET_CLASS || latest.get(&o.label) == Some(&o.version));
        for o in v.iter_mut().filter(|o| o.sensitive) {
            o.value.clear();
        }
        Ok(v)
    }

    /// Changes an object's label, id or front-end attributes (not its class or value).
    pub fn update_object(
        &self,
        c: &Caller,
        id: u64,
        f: &dyn Fn(&mut ObjectRecord),
    ) -> Result<ObjectRecord> {
        self.manage_id(c, Action::WriteObject, None, |tx, _, audit| {
            let mut o = tx
                .object_get(id)?
                .filter(|o| o.keyring == c.keyring && !o.deleted && o.class != SECRET_CLASS)
                .ok_or_else(|| Error::not_found(format!("no object {id}")))?;
            let (class, value, sensitive) = (o.class.clone(), o.value.clone(), o.sensitive);
            f(&mut o);
            if o.class != class || o.value != value || o.sensitive != sensitive {
                return Err(Error::invalid(
                    "an object's class, value and sensitivity cannot change",
                ));
            }
            tx.object_update(&o)?;
            audit.action = "update-object".into();
            audit.detail = format!("object={id}");
            Ok(o)
        })
    }

    pub fn delete_object(&self, c: &Caller, id: u64) -> Result<()> {
        self.manage_id(c, Action::WriteObject, None, |tx, _, audit| {
            tx.object_get(id)?
                .filter(|o| o.keyring == c.keyring && o.class != SECRET_CLASS)
                .ok_or_else(|| Error::not_found(format!("no object {id}")))?;
            tx.object_delete(id)?;
            audit.action = "delete-object".into();
            audit.detail = format!("object={id}");
            Ok(())
        })
    }

    // ------------------------------------------------------------ application secrets

    /// Stores a new version of the secret `name`, encrypted under `key` (which must allow
    /// encryption). Returns the version number.
    pub fn put_secret(&self, c: &Caller, name: &str, key: &str, value: &[u8]) -> Result<u32> {
        if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "secret name must be 1 to 256 printable bytes",
            ));
        }
        if value.len() > MAX_OBJECT {
            return Err(Error::invalid("secret value larger than 1 MiB"));
        }
        let version = store::read(self.store(), |tx| {
            Ok(tx
                .object_list(c.keyring, Some(SECRET_CLASS), Some(name))?
                .iter()
                .map(|o| o.version)
                .max()
                .unwrap_or(0))
        })? + 1;
        let ctx = secret_context(name, version);
        let (key_id, ct) = self.use_key(
            c,
            KeySel::Ref(key),
            None,
            Action::PutSecret,
            Usage::ENCRYPT,
            &ctx,
            |k, v, m| Ok((k.id, ops::seal_message(k, v, m, value, &ctx)?)),
        )?;
        let sid = self.inner.store_id;
        let res = store::write(self.store(), |tx| {
            let taken = tx
                .object_list(c.keyring, Some(SECRET_CLASS), Some(name))?
                .iter()
                .any(|o| o.version >= version);
            if taken {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("secret '{name}' version {version} was written concurrently; retry"),
                ));
            }
            tx.object_insert(&ObjectRecord {
                id: 0,
                keyring: c.keyring,
                class: SECRET_CLASS.into(),
                label: name.to_string(),
                ext_id: Vec::new(),
                value: ct.clone(),
                sensitive: true,
                attrs: Vec::new(),
                created: now(),
                version,
                key_id: Some(key_id),
                deleted: false,
            })?;
            let mut rec = self.record_for(
                c.keyring,
                &c.identity,
                "store-secret",
                Some(key_id),
                None,
                Outcome::Ok,
                "",
                &format!("secret={name} version={version}"),
            );
            crate::core::audit::append_in_tx(tx, &sid, std::slice::from_mut(&mut rec))?;
            Ok(())
        });
        res.map(|_| version)
    }

    /// Reads a secret (the latest version when `version` is None). The caller needs
    /// decrypt rights on the protecting key (role or grant, e.g. `get-secret`).
    pub fn get_secret(&self, c: &Caller, name: &str, version: Option<u32>) -> Result<Secret> {
        self.refresh()?;
        let all = store::read(self.store(), |tx| {
            tx.object_list(c.keyring, Some(SECRET_CLASS), Some(name))
        })?;
        let o = match version {
            Some(v) => all.into_iter().find(|o| o.version == v),
            None => all
                .into_iter()
                .filter(|o| !o.deleted)
                .max_by_key(|o| o.version),
        }
        .filter(|o| !o.deleted)
        .ok_or_else(|| {
            Error::not_found(format!(
                "no secret '{name}'{}",
                version.map(|v| format!(" version {v}")).unwrap_or_default()
            ))
        })?;
        let ctx = secret_context(name, o.version);
        let (h, _) = crate::core::ciphertext::Header::parse(&o.value)?;
        self.use_key(
            c,
            KeySel::Id(h.key_id),
            Some(h.version),
            Action::GetSecret,
            Usage::DECRYPT,
            &ctx,
            |k, _, m| ops::open_message(k, m, &o.value, &ctx),
        )
    }

    /// Names and versions of the keyring's secrets (no values). Needs a role.
    pub fn list_secrets(&self, c: &Caller, name: Option<&str>) -> Result<Vec<SecretInfo>> {
        self.refresh()?;
        self.authorize(c, Action::List, None, &Context::new())
            .map_err(|e| self.refuse(c, Action::List, None, None, &Context::new(), e))?;
        let all = store::read(self.store(), |tx| {
            tx.object_list(c.keyring, Some(SECRET_CLASS), name)
        })?;
        Ok(all
            .into_iter()
            .map(|o| SecretInfo {
                name: o.label,
                version: o.version,
                key_id: o.key_id.unwrap_or(0),
                created: o.created,
                deleted: o.deleted,
            })
            .collect())
    }

    /// Deletes every version of a secret (values wiped, the record of them kept). The
    /// caller needs to be allowed to write secrets with the protecting key.
    pub fn delete_secret(&self, c: &Caller, name: &str) -> Result<u32> {
        let all = store::read(self.store(), |tx| {
            tx.object_list(c.keyring, Some(SECRET_CLASS), Some(name))
        })?;
        let live: Vec<_> = all.into_iter().filter(|o| !o.deleted).collect();
        let Some(latest) = live.iter().max_by_key(|o| o.version) else {
            return Err(Error::not_found(format!("no secret '{name}'")));
        };
        let key_id = latest.key_id.unwrap_or(0);
        let k = self.key_by_id(c, key_id)?;
        self.authorize(c, Action::PutSecret, Some(&k), &Context::new())
            .map_err(|e| {
                self.refuse(c, Action::PutSecret, Some(key_id), None, &Context::new(), e)
            })?;
        let n = live.len() as u32;
        self.manage_id(c, Action::PutSecret, Some(key_id), |tx, _, audit| {
            for o in &live {
                let mut o = o.clone();
                o.value.clear();
                o.deleted = true;
                tx.object_update(&o)?;
            }
            audit.action = "delete-secret".into();
            audit.detail = format!("secret={name} versions={n}");
            Ok(n)
        })
    }
}

impl ObjectRecord {
    /// A JSON object describing a stored object (no value: its size only), as the C API and
    /// the command line list them.
    pub fn to_json(&self) -> String {
        use crate::core::json::{esc, hexs};
        format!(
            "{{\"id\":{},\"class\":\"{}\",\"label\":\"{}\",\"ext_id\":\"{}\",\"size\":{},\"sensitive\":{},\"created\":{},\"version\":{}}}",
            self.id,
            esc(&self.class),
            esc(&self.label),
            hexs(&self.ext_id),
            self.value.len(),
            self.sensitive,
            self.created,
            self.version
        )
    }
}
