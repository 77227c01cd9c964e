//! The one attribute table: core records (keys and their versions, certificates, data
//! objects) to `CKA_*` values, templates to core requests, and the object calls built on it
//! (find, get/set attributes, create, copy, destroy, size).

use std::collections::VecDeque;
use std::sync::Arc;

use cryptoki_sys::*;

use super::ffi::{self, Attr, AttrOut, Rv};
use super::rv::{on, Doing};
use super::state::{self, Ctx, Login, ObjRef};
use crate::core::keys::KeyInfo;
use crate::core::{Caller, KeyFilter, KeyRecord, KeyRequest, KeySpec, KeyState, Kms};
use crate::core::{ObjectRecord, ObjectRequest, Origin, Usage};

/// Vendor attribute: the key version this object is (CK_ULONG).
pub const CKA_KMS_VERSION: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B4D_0001;
/// Vendor attribute: whether this version is the key's primary (CK_BBOOL).
pub const CKA_KMS_PRIMARY: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B4D_0002;
/// Vendor attribute: the core key id (CK_ULONG).
pub const CKA_KMS_KEY_ID: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B4D_0003;

/// Tag marking keys created as session objects (`CKA_TOKEN` false).
pub const SESSION_TAG: (&str, &str) = ("pkcs11", "session");

/// DER OIDs of the supported curves (`CKA_EC_PARAMS`).
pub const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
pub const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const NAME_ED25519: &[u8] = b"\x13\x0cedwards25519";

/// Attributes whose value is a CK_BBOOL (compared by truth in templates).
const BOOLS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_SENSITIVE,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_LOCAL,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_SIGN_RECOVER,
    CKA_VERIFY_RECOVER,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_DERIVE,
    CKA_TRUSTED,
    CKA_WRAP_WITH_TRUSTED,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_KMS_PRIMARY,
];

// ------------------------------------------------------------------ encoding helpers

pub fn ck_bool(b: bool) -> Vec<u8> {
    vec![if b { CK_TRUE } else { CK_FALSE }]
}

pub fn ck_ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

pub fn as_bool(v: &[u8]) -> Rv<bool> {
    match v {
        [b] => Ok(*b != 0),
        _ => Err(CKR_ATTRIBUTE_VALUE_INVALID),
    }
}

pub fn as_ulong(v: &[u8]) -> Rv<CK_ULONG> {
    let a: [u8; std::mem::size_of::<CK_ULONG>()] =
        v.try_into().map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?;
    Ok(CK_ULONG::from_ne_bytes(a))
}

/// Front-end attributes kept in the core's opaque `attrs` field: `type u64 | len u32 | value`.
pub fn tlv_encode(items: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (t, v) in items {
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

pub fn tlv_decode(mut b: &[u8]) -> Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 12 {
        let t = u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let n = u32::from_be_bytes(b[8..12].try_into().unwrap_or([0; 4])) as usize;
        if b.len() < 12 + n {
            break;
        }
        out.push((t as CK_ATTRIBUTE_TYPE, b[12..12 + n].to_vec()));
        b = &b[12 + n..];
    }
    out
}

fn extra(attrs: &[u8], t: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
    tlv_decode(attrs)
        .into_iter()
        .find(|(a, _)| *a == t)
        .map(|(_, v)| v)
}

fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

/// A DER OCTET STRING around `v` (`CKA_EC_POINT`).
pub fn octet_string(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    out.extend(der_len(v.len()));
    out.extend_from_slice(v);
    out
}

/// Strips a DER OCTET STRING if `v` is exactly one, else returns `v` (raw points are
/// accepted too, as most tokens do).
pub fn unwrap_octet_string(v: &[u8]) -> &[u8] {
    if (v.len() == 65 || v.len() == 97) && v[0] == 0x04 {
        return v;
    }
    if v.len() > 2 && v[0] == 0x04 {
        let (n, hdr) = match v[1] {
            l if l < 0x80 => (l as usize, 2),
            0x81 if v.len() > 3 => (v[2] as usize, 3),
            _ => return v,
        };
        if hdr + n == v.len() {
            return &v[hdr..];
        }
    }
    v
}

pub fn key_type(spec: KeySpec) -> CK_KEY_TYPE {
    match spec {
        KeySpec::Aes128 | KeySpec::Aes256 => CKK_AES,
        KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512 | KeySpec::Secret => {
            CKK_GENERIC_SECRET
        }
        KeySpec::EcP256 | KeySpec::EcP384 => CKK_EC,
        KeySpec::Ed25519 => CKK_EC_EDWARDS,
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => CKK_RSA,
    }
}

fn gen_mechanism(spec: KeySpec) -> CK_MECHANISM_TYPE {
    match spec {
        KeySpec::Aes128 | KeySpec::Aes256 => CKM_AES_KEY_GEN,
        KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512 | KeySpec::Secret => {
            CKM_GENERIC_SECRET_KEY_GEN
        }
        KeySpec::EcP256 | KeySpec::EcP384 => CKM_EC_KEY_PAIR_GEN,
        KeySpec::Ed25519 => CKM_EC_EDWARDS_KEY_PAIR_GEN,
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => CKM_RSA_PKCS_KEY_PAIR_GEN,
    }
}

pub fn ec_params(spec: KeySpec) -> Option<&'static [u8]> {
    match spec {
        KeySpec::EcP256 => Some(OID_P256),
        KeySpec::EcP384 => Some(OID_P384),
        KeySpec::Ed25519 => Some(OID_ED25519),
        _ => None,
    }
}

/// The spec a `CKA_EC_PARAMS` value names.
pub fn spec_of_ec_params(v: &[u8]) -> Rv<KeySpec> {
    match v {
        x if x == OID_P256 => Ok(KeySpec::EcP256),
        x if x == OID_P384 => Ok(KeySpec::EcP384),
        x if x == OID_ED25519 || x == NAME_ED25519 => Ok(KeySpec::Ed25519),
        _ => Err(CKR_CURVE_NOT_SUPPORTED),
    }
}

/// The raw public point or key of an SPKI: EC `04||X||Y`, Ed25519 the 32 bytes.
pub fn raw_public(spec: KeySpec, spki: &[u8]) -> Option<Vec<u8>> {
    let n = match spec {
        KeySpec::EcP256 => 65,
        KeySpec::EcP384 => 97,
        KeySpec::Ed25519 => 32,
        _ => return None,
    };
    (spki.len() > n).then(|| spki[spki.len() - n..].to_vec())
}

/// The byte length of a symmetric key of `spec` (`CKA_VALUE_LEN`).
fn value_len(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::Aes128 => Some(16),
        KeySpec::Aes256 | KeySpec::HmacSha256 | KeySpec::Secret => Some(32),
        KeySpec::HmacSha384 => Some(48),
        KeySpec::HmacSha512 => Some(64),
        _ => None,
    }
}

// ------------------------------------------------------------------ views

/// One key version as a PKCS#11 object.
pub struct KeyView {
    pub info: Arc<KeyInfo>,
    pub version: u32,
    pub class: CK_OBJECT_CLASS,
}

impl KeyView {
    pub fn key(&self) -> &KeyRecord {
        &self.info.key
    }

    pub fn spec(&self) -> KeySpec {
        self.info.key.spec
    }

    pub fn primary(&self) -> bool {
        self.version == self.info.key.primary_version
    }

    /// The public key (SPKI DER) of this version, for asymmetric keys.
    pub fn spki(&self) -> Option<&[u8]> {
        self.info
            .versions
            .iter()
            .find(|v| v.version == self.version)
            .and_then(|v| v.public.as_deref())
    }

    pub fn label(&self) -> Vec<u8> {
        match &self.info.key.name {
            Some(n) => n.as_bytes().to_vec(),
            None => extra(&self.info.key.attrs, CKA_LABEL).unwrap_or_default(),
        }
    }

    /// `CKA_ID`: the key's external id for the primary version; older versions append
    /// `#v<N>` so that an id names exactly one version.
    pub fn id(&self) -> Vec<u8> {
        let mut id = self.info.key.ext_id.clone();
        if !self.primary() {
            id.extend_from_slice(format!("#v{}", self.version).as_bytes());
        }
        id
    }

    pub fn is_session(&self) -> bool {
        self.info
            .key
            .tags
            .iter()
            .any(|(k, v)| k == SESSION_TAG.0 && v == SESSION_TAG.1)
    }
}

/// What a handle shows.
pub enum View {
    Key(KeyView),
    Stored(ObjectRecord),
}

fn class_of_stored(o: &ObjectRecord) -> CK_OBJECT_CLASS {
    match o.class.as_str() {
        "certificate" => CKO_CERTIFICATE,
        "public-key" => CKO_PUBLIC_KEY,
        _ => CKO_DATA,
    }
}

/// The value of attribute `t` of an object: the attribute table.
pub fn attribute(v: &View, t: CK_ATTRIBUTE_TYPE) -> AttrOut {
    match v {
        View::Stored(o) => {
            use AttrOut::{Invalid, Val};
            let class = class_of_stored(o);
            match t {
                CKA_CLASS => Val(ck_ulong(class)),
                CKA_TOKEN => Val(ck_bool(true)),
                CKA_PRIVATE => Val(ck_bool(o.sensitive)),
                CKA_MODIFIABLE | CKA_DESTROYABLE | CKA_COPYABLE => Val(ck_bool(true)),
                CKA_LABEL => Val(o.label.as_bytes().to_vec()),
                CKA_ID if class != CKO_DATA => Val(o.ext_id.clone()),
                CKA_VALUE => Val(o.value.clone()),
                CKA_CERTIFICATE_TYPE if class == CKO_CERTIFICATE => Val(ck_ulong(
                    extra(&o.attrs, CKA_CERTIFICATE_TYPE)
                        .and_then(|v| as_ulong(&v).ok())
                        .unwrap_or(CKC_X_509),
                )),
                CKA_TRUSTED if class == CKO_CERTIFICATE => Val(ck_bool(false)),
                CKA_CERTIFICATE_CATEGORY if class == CKO_CERTIFICATE => Val(ck_ulong(
                    extra(&o.attrs, t)
                        .and_then(|v| as_ulong(&v).ok())
                        .unwrap_or(0),
                )),
                CKA_SUBJECT
                | CKA_ISSUER
                | CKA_SERIAL_NUMBER
                | CKA_START_DATE
                | CKA_END_DATE
                | CKA_CHECK_VALUE
                | CKA_URL
                | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
                | CKA_HASH_OF_ISSUER_PUBLIC_KEY
                    if class == CKO_CERTIFICATE =>
                {
                    Val(extra(&o.attrs, t).unwrap_or_default())
                }
                CKA_JAVA_MIDP_SECURITY_DOMAIN if class == CKO_CERTIFICATE => Val(ck_ulong(0)),
                CKA_APPLICATION | CKA_OBJECT_ID if class == CKO_DATA => {
                    Val(extra(&o.attrs, t).unwrap_or_default())
                }
                _ => match extra(&o.attrs, t) {
                    Some(v) if class == CKO_PUBLIC_KEY => Val(v),
                    _ => Invalid,
                },
            }
        }
        View::Key(k) => key_attribute(k, t),
    }
}

fn key_attribute(k: &KeyView, t: CK_ATTRIBUTE_TYPE) -> AttrOut {
    use AttrOut::{Invalid, Sensitive, Val};
    let r = k.key();
    let spec = r.spec;
    let class = k.class;
    let private = class == CKO_PRIVATE_KEY;
    let secret = class == CKO_SECRET_KEY;
    let public = class == CKO_PUBLIC_KEY;
    let u = r.usage;
    let sensitive = !r.exportable;
    match t {
        CKA_CLASS => Val(ck_ulong(class)),
        CKA_TOKEN => Val(ck_bool(!k.is_session())),
        CKA_PRIVATE => Val(ck_bool(!public)),
        CKA_MODIFIABLE | CKA_DESTROYABLE => Val(ck_bool(true)),
        CKA_COPYABLE => Val(ck_bool(false)),
        CKA_LABEL => Val(k.label()),
        CKA_ID => Val(k.id()),
        CKA_KEY_TYPE => Val(ck_ulong(key_type(spec))),
        CKA_START_DATE | CKA_END_DATE => Val(Vec::new()),
        CKA_DERIVE => Val(ck_bool(!public && u.contains(Usage::DERIVE))),
        CKA_LOCAL => Val(ck_bool(r.origin == Origin::Generated)),
        CKA_KEY_GEN_MECHANISM => Val(ck_ulong(if r.origin == Origin::Generated {
            gen_mechanism(spec)
        } else {
            CK_UNAVAILABLE_INFORMATION_ULONG
        })),
        CKA_ALLOWED_MECHANISMS => Invalid,
        CKA_KMS_VERSION => Val(ck_ulong(k.version as CK_ULONG)),
        CKA_KMS_PRIMARY => Val(ck_bool(k.primary())),
        CKA_KMS_KEY_ID => Val(ck_ulong(r.id as CK_ULONG)),
        // secret and private keys
        CKA_SENSITIVE | CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE if !public => {
            Val(ck_bool(sensitive))
        }
        CKA_EXTRACTABLE if !public => Val(ck_bool(r.exportable)),
        CKA_WRAP_WITH_TRUSTED if !public => Val(ck_bool(false)),
        CKA_SIGN if !public => Val(ck_bool(
            (secret && u.contains(Usage::MAC)) || (private && u.contains(Usage::SIGN)),
        )),
        CKA_DECRYPT if !public => Val(ck_bool(u.contains(Usage::DECRYPT))),
        CKA_UNWRAP if !public => Val(ck_bool(u.contains(Usage::UNWRAP))),
        CKA_SIGN_RECOVER if !public => Val(ck_bool(false)),
        CKA_ALWAYS_AUTHENTICATE if private => Val(ck_bool(false)),
        CKA_SUBJECT if !secret => Val(Vec::new()),
        CKA_PUBLIC_KEY_INFO if !secret => match k.spki() {
            Some(s) => Val(s.to_vec()),
            None => Invalid,
        },
        // secret and public keys
        CKA_ENCRYPT if !private => Val(ck_bool(u.contains(Usage::ENCRYPT))),
        CKA_VERIFY if !private => Val(ck_bool(
            (secret && u.contains(Usage::MAC)) || (public && u.contains(Usage::VERIFY)),
        )),
        CKA_WRAP if !private => Val(ck_bool(u.contains(Usage::WRAP))),
        CKA_VERIFY_RECOVER if !private => Val(ck_bool(false)),
        CKA_TRUSTED if !private => Val(ck_bool(false)),
        CKA_VALUE_LEN if secret => match value_len(spec) {
            Some(n) => Val(ck_ulong(n as CK_ULONG)),
            None => Invalid,
        },
        CKA_VALUE if secret || private => Sensitive,
        CKA_CHECK_VALUE if secret => Val(Vec::new()),
        // RSA
        CKA_MODULUS | CKA_PUBLIC_EXPONENT | CKA_MODULUS_BITS if spec.is_rsa() => {
            let Some(spki) = k.spki() else {
                return Invalid;
            };
            match crate::core::crypto::rsa_public_components(spki) {
                Ok((n, e)) => match t {
                    CKA_MODULUS => Val(n),
                    CKA_PUBLIC_EXPONENT => Val(e),
                    _ => Val(ck_ulong((n.len() * 8) as CK_ULONG)),
                },
                Err(_) => Invalid,
            }
        }
        CKA_PRIVATE_EXPONENT | CKA_PRIME_1 | CKA_PRIME_2 | CKA_EXPONENT_1 | CKA_EXPONENT_2
        | CKA_COEFFICIENT
            if spec.is_rsa() && private =>
        {
            Sensitive
        }
        // EC and Edwards
        CKA_EC_PARAMS => match ec_params(spec) {
            Some(p) => Val(p.to_vec()),
            None => Invalid,
        },
        CKA_EC_POINT if ec_params(spec).is_some() && !secret => {
            match k.spki().and_then(|s| raw_public(spec, s)) {
                Some(p) => Val(octet_string(&p)),
                None => Invalid,
            }
        }
        _ => Invalid,
    }
}

const CK_UNAVAILABLE_INFORMATION_ULONG: CK_ULONG = ffi::CK_UNAVAILABLE_INFORMATION;

/// Whether an object matches a search template (exact values; booleans by truth).
pub fn matches(v: &View, tmpl: &[Attr]) -> bool {
    tmpl.iter().all(|a| match attribute(v, a.ty) {
        AttrOut::Val(have) => {
            if BOOLS.contains(&a.ty) {
                matches!((as_bool(&have), as_bool(&a.val)), (Ok(x), Ok(y)) if x == y)
            } else {
                have == a.val
            }
        }
        AttrOut::Sensitive | AttrOut::Invalid => false,
    })
}

/// Whether a key shows on the token: not pending deletion or destroyed; session keys only
/// to the application that made them (whose list is read only for a session key: most keys
/// are token keys).
fn visible(k: &KeyRecord) -> Rv<bool> {
    let alive = matches!(
        k.state,
        KeyState::PreActive | KeyState::Active | KeyState::Suspended | KeyState::Deactivated
    );
    let session = || {
        k.tags
            .iter()
            .any(|(a, b)| a == SESSION_TAG.0 && b == SESSION_TAG.1)
    };
    if !alive || !session() {
        return Ok(alive);
    }
    state::is_own_session_key(k.id)
}

/// The objects a key shows as: each live version (primary first, then newer to older) as a
/// secret key, or as a private and a public key.
pub fn key_views(kms: &Kms, c: &Caller, key_id: u64) -> Rv<Vec<(ObjRef, View)>> {
    let info = kms
        .describe_key_cached(c, key_id)
        .map_err(on(Doing::Manage))?;
    if !visible(&info.key)? {
        return Ok(Vec::new());
    }
    let mut versions: Vec<u32> = info
        .versions
        .iter()
        .filter(|v| !v.destroyed)
        .map(|v| v.version)
        .collect();
    let primary = info.key.primary_version;
    versions.sort_by_key(|v| (*v != primary, std::cmp::Reverse(*v)));
    let mut out = Vec::new();
    let sym = info.key.spec.is_symmetric();
    for version in versions {
        let key = key_id;
        let classes: &[(CK_OBJECT_CLASS, ObjRef)] = if sym {
            &[(CKO_SECRET_KEY, ObjRef::Secret { key, version })]
        } else {
            &[
                (CKO_PRIVATE_KEY, ObjRef::Private { key, version }),
                (CKO_PUBLIC_KEY, ObjRef::Public { key, version }),
            ]
        };
        for (class, r) in classes {
            out.push((
                *r,
                View::Key(KeyView {
                    info: info.clone(),
                    version,
                    class: *class,
                }),
            ));
        }
    }
    Ok(out)
}

/// The view behind a handle, checked against the session's keyring and visibility.
pub fn load(ctx: &Ctx, h: CK_OBJECT_HANDLE) -> Rv<(ObjRef, View)> {
    let c = ctx.caller()?;
    let r = state::resolve(h)?;
    match r {
        ObjRef::Stored { id } => {
            let o = ctx
                .kms
                .get_object(c, id)
                .map_err(|_| CKR_OBJECT_HANDLE_INVALID)?;
            Ok((r, View::Stored(o)))
        }
        _ => key_view(&ctx.kms, c, r)
            .map_err(|_| CKR_OBJECT_HANDLE_INVALID)?
            .map(|v| (r, v))
            .ok_or(CKR_OBJECT_HANDLE_INVALID),
    }
}

/// The one view [`key_views`] would give for `r` (without building the others).
fn key_view(kms: &Kms, c: &Caller, r: ObjRef) -> Rv<Option<View>> {
    let Some((key_id, version)) = r.key() else {
        return Ok(None);
    };
    let info = kms
        .describe_key_cached(c, key_id)
        .map_err(on(Doing::Manage))?;
    if !visible(&info.key)?
        || !info
            .versions
            .iter()
            .any(|v| v.version == version && !v.destroyed)
    {
        return Ok(None);
    }
    let class = match (r, info.key.spec.is_symmetric()) {
        (ObjRef::Secret { .. }, true) => CKO_SECRET_KEY,
        (ObjRef::Private { .. }, false) => CKO_PRIVATE_KEY,
        (ObjRef::Public { .. }, false) => CKO_PUBLIC_KEY,
        _ => return Ok(None),
    };
    Ok(Some(View::Key(KeyView {
        info,
        version,
        class,
    })))
}

/// A key view for an operation (`CKR_KEY_HANDLE_INVALID` when the handle names no key).
pub fn load_key(ctx: &Ctx, h: CK_OBJECT_HANDLE) -> Rv<KeyView> {
    match load(ctx, h) {
        Ok((_, View::Key(k))) => Ok(k),
        Ok((_, View::Stored(_))) | Err(CKR_OBJECT_HANDLE_INVALID) => Err(CKR_KEY_HANDLE_INVALID),
        Err(e) => Err(e),
    }
}

// ------------------------------------------------------------------ find

enum KeySource {
    Ids(VecDeque<u64>),
    Scan { after: u64 },
    Done,
}

/// An active `C_FindObjectsInit` search: candidates come from indexed lookups (label = key
/// name, id = external id) or, without either, from a paged scan, and are filtered by the
/// template as they are produced.
pub struct FindOp {
    tmpl: Vec<Attr>,
    keys: KeySource,
    objects: Option<Vec<ObjRef>>,
    ready: VecDeque<ObjRef>,
}

fn tmpl_get(tmpl: &[Attr], t: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
    tmpl.iter().find(|a| a.ty == t).map(|a| &a.val[..])
}

pub fn find_init(ctx: &Ctx, tmpl: Vec<Attr>) -> Rv<FindOp> {
    let Ok(c) = ctx.caller() else {
        // Nothing is visible before login (every object needs an identity to be read).
        return Ok(FindOp {
            tmpl,
            keys: KeySource::Done,
            objects: Some(Vec::new()),
            ready: VecDeque::new(),
        });
    };
    let class = tmpl_get(&tmpl, CKA_CLASS).and_then(|v| as_ulong(v).ok());
    let want_keys = !matches!(class, Some(CKO_CERTIFICATE | CKO_DATA));
    let want_objects = !matches!(class, Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY));
    let label = tmpl_get(&tmpl, CKA_LABEL).map(|l| String::from_utf8_lossy(l).into_owned());
    let id = tmpl_get(&tmpl, CKA_ID).map(<[u8]>::to_vec);
    let keys = if !want_keys {
        KeySource::Done
    } else if let Some(l) = &label {
        let mut ids: Vec<u64> = ctx
            .kms
            .list_keys(
                c,
                &KeyFilter {
                    name: Some(l.clone()),
                    ..Default::default()
                },
            )
            .map_err(on(Doing::Manage))?
            .iter()
            .map(|k| k.id)
            .collect();
        // Session keys keep their label outside the name index; there are few.
        ids.extend(state::session_keys()?);
        KeySource::Ids(ids.into())
    } else if let Some(id) = &id {
        let mut wanted = vec![id.clone()];
        if let Some(pos) = id.windows(2).rposition(|w| w == b"#v") {
            wanted.push(id[..pos].to_vec());
        }
        let mut ids = Vec::new();
        for e in wanted {
            ids.extend(
                ctx.kms
                    .list_keys(
                        c,
                        &KeyFilter {
                            ext_id: Some(e),
                            ..Default::default()
                        },
                    )
                    .map_err(on(Doing::Manage))?
                    .iter()
                    .map(|k| k.id),
            );
        }
        KeySource::Ids(ids.into())
    } else {
        KeySource::Scan { after: 0 }
    };
    let mut objects = Vec::new();
    if want_objects {
        let cls = match class {
            Some(CKO_CERTIFICATE) => Some("certificate"),
            // Data objects and application secrets (both CKO_DATA): list all, match below.
            Some(CKO_DATA) => None,
            Some(CKO_PUBLIC_KEY) => Some("public-key"),
            _ => None,
        };
        let list = ctx
            .kms
            .list_objects(c, cls, label.as_deref())
            .map_err(on(Doing::Manage))?;
        for o in list {
            let id = o.id;
            let v = match ctx.kms.get_object(c, id) {
                Ok(full) => View::Stored(full),
                Err(_) => View::Stored(o),
            };
            if matches(&v, &tmpl) {
                objects.push(ObjRef::Stored { id });
            }
        }
    }
    Ok(FindOp {
        tmpl,
        keys,
        objects: Some(objects),
        ready: VecDeque::new(),
    })
}

const SCAN_PAGE: u64 = 256;

/// Up to `max` more handles.
pub fn find_next(ctx: &Ctx, op: &mut FindOp, max: usize) -> Rv<Vec<CK_OBJECT_HANDLE>> {
    let mut found = Vec::new();
    while found.len() < max {
        if let Some(r) = op.ready.pop_front() {
            found.push(r);
            continue;
        }
        let batch: Vec<u64> = match &mut op.keys {
            KeySource::Ids(ids) => {
                let n = ids.len().min(64);
                let b: Vec<u64> = ids.drain(..n).collect();
                if ids.is_empty() {
                    op.keys = KeySource::Done;
                }
                b
            }
            KeySource::Scan { after } => {
                let c = ctx.caller()?;
                let page = ctx
                    .kms
                    .list_keys(
                        c,
                        &KeyFilter {
                            after_id: *after,
                            limit: Some(SCAN_PAGE),
                            ..Default::default()
                        },
                    )
                    .map_err(on(Doing::Manage))?;
                match page.last() {
                    Some(last) => *after = last.id,
                    None => op.keys = KeySource::Done,
                }
                page.iter().map(|k| k.id).collect()
            }
            KeySource::Done => match op.objects.take() {
                Some(objs) => {
                    op.ready.extend(objs);
                    continue;
                }
                None => break,
            },
        };
        if batch.is_empty() {
            continue;
        }
        let c = ctx.caller()?;
        let mut seen = std::collections::HashSet::new();
        for id in batch {
            if !seen.insert(id) {
                continue;
            }
            // A key that vanished or is not describable by this identity is skipped.
            let Ok(views) = key_views(&ctx.kms, c, id) else {
                continue;
            };
            for (r, v) in views {
                if matches(&v, &op.tmpl) {
                    op.ready.push_back(r);
                }
            }
        }
    }
    state::with(|m| Ok(found.into_iter().map(|r| m.handles.handle(r)).collect()))
}

// ------------------------------------------------------------------ templates -> requests

/// A key template read into what the core needs.
#[derive(Default, Debug)]
pub struct KeyTemplate {
    pub class: Option<CK_OBJECT_CLASS>,
    pub key_type: Option<CK_KEY_TYPE>,
    pub label: Option<String>,
    pub id: Option<Vec<u8>>,
    pub token: Option<bool>,
    pub value_len: Option<usize>,
    pub value: Option<crate::core::crypto::Secret>,
    pub extractable: Option<bool>,
    pub ec_params: Option<Vec<u8>>,
    pub modulus_bits: Option<usize>,
    pub public_exponent: Option<Vec<u8>>,
    pub encrypt: Option<bool>,
    pub decrypt: Option<bool>,
    pub sign: Option<bool>,
    pub verify: Option<bool>,
    pub wrap: Option<bool>,
    pub unwrap: Option<bool>,
    pub derive: Option<bool>,
}

impl KeyTemplate {
    /// Reads a template; attributes a key cannot honour are refused.
    pub fn parse(tmpl: &[Attr]) -> Rv<KeyTemplate> {
        let mut t = KeyTemplate::default();
        for a in tmpl {
            let v = &a.val;
            match a.ty {
                CKA_CLASS => t.class = Some(as_ulong(v)?),
                CKA_KEY_TYPE => t.key_type = Some(as_ulong(v)?),
                CKA_LABEL => {
                    t.label = Some(
                        String::from_utf8(v.clone()).map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?,
                    )
                }
                CKA_ID => t.id = Some(v.clone()),
                CKA_TOKEN => t.token = Some(as_bool(v)?),
                CKA_VALUE_LEN => t.value_len = Some(ffi::len(as_ulong(v)?)?),
                CKA_VALUE => t.value = Some(crate::core::crypto::Secret::from_slice(v)),
                CKA_EXTRACTABLE => t.extractable = Some(as_bool(v)?),
                CKA_EC_PARAMS => t.ec_params = Some(v.clone()),
                CKA_MODULUS_BITS => t.modulus_bits = Some(ffi::len(as_ulong(v)?)?),
                CKA_PUBLIC_EXPONENT => t.public_exponent = Some(v.clone()),
                CKA_ENCRYPT => t.encrypt = Some(as_bool(v)?),
                CKA_DECRYPT => t.decrypt = Some(as_bool(v)?),
                CKA_SIGN => t.sign = Some(as_bool(v)?),
                CKA_VERIFY => t.verify = Some(as_bool(v)?),
                CKA_WRAP => t.wrap = Some(as_bool(v)?),
                CKA_UNWRAP => t.unwrap = Some(as_bool(v)?),
                CKA_DERIVE => t.derive = Some(as_bool(v)?),
                // Accepted and implied: keys are always private objects, sensitive unless
                // created extractable (the value is never readable, only wrapped).
                CKA_PRIVATE | CKA_SENSITIVE | CKA_MODIFIABLE | CKA_SUBJECT | CKA_START_DATE
                | CKA_END_DATE | CKA_DESTROYABLE | CKA_COPYABLE => {}
                CKA_SIGN_RECOVER
                | CKA_VERIFY_RECOVER
                | CKA_TRUSTED
                | CKA_WRAP_WITH_TRUSTED
                | CKA_ALWAYS_AUTHENTICATE => {
                    if as_bool(v)? {
                        return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                    }
                }
                CKA_LOCAL
                | CKA_ALWAYS_SENSITIVE
                | CKA_NEVER_EXTRACTABLE
                | CKA_KEY_GEN_MECHANISM => return Err(CKR_ATTRIBUTE_READ_ONLY),
                CKA_ALLOWED_MECHANISMS => {}
                _ => return Err(CKR_ATTRIBUTE_TYPE_INVALID),
            }
        }
        Ok(t)
    }

    /// Merges a key pair's public template into the private one.
    pub fn merge_public(mut self, p: KeyTemplate) -> KeyTemplate {
        self.label = self.label.or(p.label);
        self.id = self.id.or(p.id);
        self.token = self.token.or(p.token);
        self.ec_params = self.ec_params.or(p.ec_params);
        self.modulus_bits = self.modulus_bits.or(p.modulus_bits);
        self.public_exponent = self.public_exponent.or(p.public_exponent);
        self.encrypt = p.encrypt;
        self.verify = p.verify;
        self.wrap = p.wrap;
        self
    }

    /// The core usages: explicit values, defaults where the template says nothing.
    pub fn usage(&self, spec: KeySpec) -> Rv<Usage> {
        let mut u = Usage::NONE;
        let mut add = |flag: Option<bool>, default: bool, bit: Usage| {
            if flag.unwrap_or(default) {
                u = u | bit;
            }
        };
        if spec.is_aes() {
            add(self.encrypt, true, Usage::ENCRYPT);
            add(self.decrypt, true, Usage::DECRYPT);
            add(self.wrap, false, Usage::WRAP);
            add(self.unwrap, false, Usage::UNWRAP);
            add(self.derive, false, Usage::DERIVE);
        } else if spec.is_hmac() {
            add(self.sign.or(self.verify), true, Usage::MAC);
            add(self.derive, false, Usage::DERIVE);
        } else if spec == KeySpec::Secret {
            add(self.derive, true, Usage::DERIVE);
        } else if spec.is_rsa() {
            add(self.sign, true, Usage::SIGN);
            add(self.verify, true, Usage::VERIFY);
            add(self.encrypt, false, Usage::ENCRYPT);
            add(self.decrypt, false, Usage::DECRYPT);
        } else {
            add(self.sign, true, Usage::SIGN);
            add(self.verify, true, Usage::VERIFY);
            add(self.derive, false, Usage::DERIVE);
        }
        // A usage asked for (CKA_SIGN true on an AES key, CKA_DECRYPT true on an EC key) that
        // this key type does not have is refused, not silently dropped.
        let mac = spec.is_hmac();
        let asked = [
            (self.encrypt, Usage::ENCRYPT),
            (self.decrypt, Usage::DECRYPT),
            (self.sign, if mac { Usage::MAC } else { Usage::SIGN }),
            (self.verify, if mac { Usage::MAC } else { Usage::VERIFY }),
            (self.wrap, Usage::WRAP),
            (self.unwrap, Usage::UNWRAP),
            (self.derive, Usage::DERIVE),
        ];
        if asked
            .iter()
            .any(|(f, bit)| *f == Some(true) && !u.contains(*bit))
            || !spec.allowed_usages().contains(u)
        {
            return Err(CKR_TEMPLATE_INCONSISTENT);
        }
        Ok(u)
    }

    /// The core request for a new key of `spec`.
    pub fn request(&self, spec: KeySpec) -> Rv<KeyRequest> {
        let session = self.token != Some(true);
        let label = self.label.clone().filter(|l| !l.is_empty());
        let mut attrs = Vec::new();
        let name = if session {
            if let Some(l) = &label {
                attrs.push((CKA_LABEL, l.as_bytes().to_vec()));
            }
            None
        } else {
            label
        };
        let mut tags = Vec::new();
        if session {
            tags.push((SESSION_TAG.0.to_string(), SESSION_TAG.1.to_string()));
        }
        Ok(KeyRequest {
            spec: Some(spec),
            usage: self.usage(spec)?,
            name,
            description: "created through PKCS#11".into(),
            tags,
            exportable: self.extractable.unwrap_or(false),
            ext_id: self.id.clone().unwrap_or_default(),
            attrs: tlv_encode(&attrs),
            ..Default::default()
        })
    }

    /// The spec of a secret key this template asks for (generation, derivation, unwrap).
    pub fn secret_spec(&self, default_type: CK_KEY_TYPE, len: Option<usize>) -> Rv<KeySpec> {
        let len = self.value_len.or(len);
        match self.key_type.unwrap_or(default_type) {
            CKK_AES => match len {
                Some(16) => Ok(KeySpec::Aes128),
                Some(32) => Ok(KeySpec::Aes256),
                None => Err(CKR_TEMPLATE_INCOMPLETE),
                Some(_) => Err(CKR_ATTRIBUTE_VALUE_INVALID),
            },
            CKK_GENERIC_SECRET | CKK_SHA256_HMAC | CKK_SHA384_HMAC | CKK_SHA512_HMAC => {
                let mac = self.sign == Some(true) || self.verify == Some(true);
                let derive_only = self.derive == Some(true) && !mac;
                match len {
                    None => Err(CKR_TEMPLATE_INCOMPLETE),
                    Some(32) if !derive_only => Ok(KeySpec::HmacSha256),
                    Some(48) if !derive_only => Ok(KeySpec::HmacSha384),
                    Some(64) if !derive_only => Ok(KeySpec::HmacSha512),
                    Some(n) if (16..=1024).contains(&n) && mac => Err(CKR_ATTRIBUTE_VALUE_INVALID),
                    Some(n) if (1..=65536).contains(&n) => Ok(KeySpec::Secret),
                    Some(_) => Err(CKR_ATTRIBUTE_VALUE_INVALID),
                }
            }
            _ => Err(CKR_TEMPLATE_INCONSISTENT),
        }
    }
}

/// Fuzzing support (`fuzz/`, through `kms::fuzz_api`): reads a public and a private key
/// template from caller memory as `C_GenerateKeyPair` does (`C_GenerateKey`, `C_CreateObject`
/// and `C_UnwrapKey` read one the same way) and derives every core field the front end would
/// from them, without a session or a store.
pub(crate) fn decode_templates(
    public: (*const CK_ATTRIBUTE, CK_ULONG),
    private: (*const CK_ATTRIBUTE, CK_ULONG),
) -> Rv<()> {
    let pt = KeyTemplate::parse(&ffi::template(public.0, public.1)?)?;
    let st = KeyTemplate::parse(&ffi::template(private.0, private.1)?)?;
    if let Some(v) = &st.value {
        let _ = unwrap_octet_string(v);
        for kt in [CKK_AES, CKK_GENERIC_SECRET, CKK_SHA256_HMAC, CKK_EC] {
            if let Ok(spec) = st.secret_spec(kt, Some(v.len())) {
                let _ = st.request(spec);
            }
        }
    }
    let t = st.merge_public(pt);
    if let Some(p) = &t.ec_params {
        if let Ok(spec) = spec_of_ec_params(p) {
            let _ = t.request(spec);
        }
    }
    for kt in [CKK_AES, CKK_GENERIC_SECRET] {
        if let Ok(spec) = t.secret_spec(kt, None) {
            let _ = t.request(spec);
        }
    }
    for spec in KeySpec::ALL {
        let _ = t.request(spec);
    }
    Ok(())
}

/// Creates a key in the core (generated, or imported when `material` is given) and returns
/// the handles of its primary version's objects (secret; or private then public).
pub fn new_key(
    ctx: &Ctx,
    t: &KeyTemplate,
    spec: KeySpec,
    material: Option<&[u8]>,
) -> Rv<Vec<CK_OBJECT_HANDLE>> {
    let c = ctx.caller()?;
    let session = t.token != Some(true);
    if !session && !ctx.rw {
        return Err(CKR_SESSION_READ_ONLY);
    }
    let req = t.request(spec)?;
    let rec = match material {
        Some(m) => ctx.kms.import_key(c, &req, m),
        None => ctx.kms.create_key(c, &req),
    }
    .map_err(on(Doing::Manage))?;
    let key = rec.id;
    let version = rec.primary_version;
    state::with(|m| {
        if session {
            m.session_keys.insert(key, ctx.handle);
        }
        Ok(if spec.is_symmetric() {
            vec![m.handles.handle(ObjRef::Secret { key, version })]
        } else {
            vec![
                m.handles.handle(ObjRef::Private { key, version }),
                m.handles.handle(ObjRef::Public { key, version }),
            ]
        })
    })
}

/// Removes session keys when their session (or the module) ends: deletion is scheduled with
/// the store's minimum waiting period (the core decides; failures leave the key hidden).
pub fn discard_session_keys(kms: &Kms, logins: &[Login], keys: &[u64]) {
    let days = kms.config().min_deletion_days;
    for id in keys {
        for l in logins {
            if kms
                .schedule_deletion(&l.caller, &id.to_string(), Some(days))
                .is_ok()
            {
                if days == 0 {
                    let _ = kms.set_key_state(
                        &l.caller,
                        &id.to_string(),
                        crate::core::LifecycleOp::Destroy,
                    );
                }
                break;
            }
        }
    }
}

// ------------------------------------------------------------------ object calls

pub fn get_attributes(ctx: &Ctx, h: CK_OBJECT_HANDLE, p: *mut CK_ATTRIBUTE, n: CK_ULONG) -> Rv<()> {
    let (_, v) = load(ctx, h)?;
    ffi::fill_template(p, n, |t| attribute(&v, t))
}

pub fn set_attributes(ctx: &Ctx, h: CK_OBJECT_HANDLE, tmpl: Vec<Attr>) -> Rv<()> {
    let (_, v) = load(ctx, h)?;
    let c = ctx.caller()?;
    let mut label: Option<Vec<u8>> = None;
    let mut id: Option<Vec<u8>> = None;
    for a in &tmpl {
        match a.ty {
            CKA_LABEL => label = Some(a.val.clone()),
            CKA_ID => id = Some(a.val.clone()),
            t => {
                // Setting an attribute to the value it has is accepted.
                match attribute(&v, t) {
                    AttrOut::Val(have) if have == a.val => {}
                    AttrOut::Val(have)
                        if BOOLS.contains(&t) && as_bool(&have).ok() == as_bool(&a.val).ok() => {}
                    AttrOut::Invalid => return Err(CKR_ATTRIBUTE_TYPE_INVALID),
                    AttrOut::Val(_) | AttrOut::Sensitive => return Err(CKR_ATTRIBUTE_READ_ONLY),
                }
            }
        }
    }
    match v {
        View::Key(k) => {
            if !k.is_session() && !ctx.rw {
                return Err(CKR_SESSION_READ_ONLY);
            }
            if let Some(i) = &id {
                if !k.primary() {
                    // An older version's id is derived from the key's.
                    if *i != k.id() {
                        return Err(CKR_ATTRIBUTE_READ_ONLY);
                    }
                    id = None;
                }
            }
            let label = label
                .map(|l| String::from_utf8(l).map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID))
                .transpose()?;
            let session = k.is_session();
            ctx.kms
                .update_key(c, &k.key().id.to_string(), &|r| {
                    if let Some(i) = &id {
                        r.ext_id = i.clone();
                    }
                    if let Some(l) = &label {
                        if session {
                            let mut items: Vec<_> = tlv_decode(&r.attrs)
                                .into_iter()
                                .filter(|(t, _)| *t != CKA_LABEL)
                                .collect();
                            items.push((CKA_LABEL, l.as_bytes().to_vec()));
                            r.attrs = tlv_encode(&items);
                        } else {
                            r.name = (!l.is_empty()).then(|| l.clone());
                        }
                    }
                })
                .map_err(on(Doing::Manage))?;
        }
        View::Stored(o) => {
            if !ctx.rw {
                return Err(CKR_SESSION_READ_ONLY);
            }
            let label = label
                .map(|l| String::from_utf8(l).map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID))
                .transpose()?;
            ctx.kms
                .update_object(c, o.id, &|r| {
                    if let Some(l) = &label {
                        r.label = l.clone();
                    }
                    if let Some(i) = &id {
                        r.ext_id = i.clone();
                    }
                })
                .map_err(on(Doing::Manage))?;
        }
    }
    Ok(())
}

/// `C_CreateObject`: certificates and data objects; secret keys by value (imported).
pub fn create(ctx: &Ctx, tmpl: Vec<Attr>) -> Rv<CK_OBJECT_HANDLE> {
    let c = ctx.caller()?;
    let class = tmpl_get(&tmpl, CKA_CLASS)
        .map(as_ulong)
        .transpose()?
        .ok_or(CKR_TEMPLATE_INCOMPLETE)?;
    match class {
        CKO_CERTIFICATE | CKO_DATA => {
            let token = tmpl_get(&tmpl, CKA_TOKEN).map(as_bool).transpose()?;
            if token == Some(false) {
                // Certificates and data objects live in the store only.
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
            if !ctx.rw {
                return Err(CKR_SESSION_READ_ONLY);
            }
            let mut req = ObjectRequest {
                class: if class == CKO_CERTIFICATE {
                    "certificate".into()
                } else {
                    "data".into()
                },
                ..Default::default()
            };
            let mut attrs = Vec::new();
            for a in &tmpl {
                match a.ty {
                    CKA_CLASS | CKA_TOKEN | CKA_MODIFIABLE | CKA_DESTROYABLE | CKA_COPYABLE => {}
                    CKA_LABEL => {
                        req.label = String::from_utf8(a.val.clone())
                            .map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?
                    }
                    CKA_ID if class == CKO_CERTIFICATE => req.ext_id = a.val.clone(),
                    CKA_VALUE => req.value = a.val.clone(),
                    CKA_PRIVATE => req.sensitive = as_bool(&a.val)?,
                    CKA_TRUSTED => {
                        if as_bool(&a.val)? {
                            return Err(CKR_ATTRIBUTE_READ_ONLY);
                        }
                    }
                    CKA_CERTIFICATE_TYPE if class == CKO_CERTIFICATE => {
                        if as_ulong(&a.val)? != CKC_X_509 {
                            return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                        }
                        attrs.push((a.ty, a.val.clone()));
                    }
                    CKA_SUBJECT
                    | CKA_ISSUER
                    | CKA_SERIAL_NUMBER
                    | CKA_START_DATE
                    | CKA_END_DATE
                    | CKA_CERTIFICATE_CATEGORY
                    | CKA_CHECK_VALUE
                    | CKA_URL
                    | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
                    | CKA_HASH_OF_ISSUER_PUBLIC_KEY
                    | CKA_JAVA_MIDP_SECURITY_DOMAIN
                        if class == CKO_CERTIFICATE =>
                    {
                        attrs.push((a.ty, a.val.clone()))
                    }
                    CKA_APPLICATION | CKA_OBJECT_ID if class == CKO_DATA => {
                        attrs.push((a.ty, a.val.clone()))
                    }
                    _ => return Err(CKR_ATTRIBUTE_TYPE_INVALID),
                }
            }
            if class == CKO_CERTIFICATE && req.value.is_empty() {
                return Err(CKR_TEMPLATE_INCOMPLETE);
            }
            req.attrs = tlv_encode(&attrs);
            let o = ctx.kms.create_object(c, &req).map_err(on(Doing::Manage))?;
            state::with(|m| Ok(m.handles.handle(ObjRef::Stored { id: o.id })))
        }
        CKO_SECRET_KEY => {
            let t = KeyTemplate::parse(&tmpl)?;
            let value = t.value.clone().ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            let kt = t.key_type.ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            if t.value_len.is_some_and(|l| l != value.len()) {
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
            let spec = t.secret_spec(kt, Some(value.len()))?;
            let hs = new_key(ctx, &t, spec, Some(&value))?;
            hs.first().copied().ok_or(CKR_GENERAL_ERROR)
        }
        // Private and public keys are imported through the C API or the CLI (PKCS#8).
        CKO_PRIVATE_KEY | CKO_PUBLIC_KEY => Err(CKR_TEMPLATE_INCONSISTENT),
        _ => Err(CKR_ATTRIBUTE_VALUE_INVALID),
    }
}

/// `C_CopyObject`: certificates and data objects copy; keys are not copyable (a key is one
/// managed identity with its versions, policy and audit).
pub fn copy(ctx: &Ctx, h: CK_OBJECT_HANDLE, tmpl: Vec<Attr>) -> Rv<CK_OBJECT_HANDLE> {
    let (_, v) = load(ctx, h)?;
    match v {
        View::Key(_) => Err(CKR_ACTION_PROHIBITED),
        View::Stored(o) => {
            let mut base = vec![
                Attr {
                    ty: CKA_CLASS,
                    val: ck_ulong(class_of_stored(&o)),
                },
                Attr {
                    ty: CKA_LABEL,
                    val: o.label.as_bytes().to_vec(),
                },
                Attr {
                    ty: CKA_VALUE,
                    val: o.value.clone(),
                },
                Attr {
                    ty: CKA_PRIVATE,
                    val: ck_bool(o.sensitive),
                },
            ];
            if class_of_stored(&o) == CKO_CERTIFICATE {
                base.push(Attr {
                    ty: CKA_ID,
                    val: o.ext_id.clone(),
                });
            }
            for (t, val) in tlv_decode(&o.attrs) {
                base.push(Attr { ty: t, val });
            }
            for a in tmpl {
                match a.ty {
                    CKA_LABEL | CKA_ID | CKA_TOKEN | CKA_MODIFIABLE | CKA_DESTROYABLE
                    | CKA_COPYABLE => {
                        base.retain(|b| b.ty != a.ty);
                        base.push(a);
                    }
                    _ => return Err(CKR_ATTRIBUTE_READ_ONLY),
                }
            }
            create(ctx, base)
        }
    }
}

/// `C_DestroyObject`. A key is a managed resource: destroying its object schedules the
/// key's deletion with the store's minimum waiting period (hidden from the token from then
/// on; cancellable through the C API or the CLI), or destroys it at once when that period
/// is 0. Older versions cannot be destroyed alone through PKCS#11. Objects are deleted.
pub fn destroy(ctx: &Ctx, h: CK_OBJECT_HANDLE) -> Rv<()> {
    let (_, v) = load(ctx, h)?;
    let c = ctx.caller()?;
    match v {
        View::Key(k) => {
            if !k.is_session() && !ctx.rw {
                return Err(CKR_SESSION_READ_ONLY);
            }
            let id = k.key().id.to_string();
            let days = ctx.kms.config().min_deletion_days;
            ctx.kms
                .schedule_deletion(c, &id, Some(days))
                .map_err(on(Doing::Manage))?;
            if days == 0 {
                ctx.kms
                    .set_key_state(c, &id, crate::core::LifecycleOp::Destroy)
                    .map_err(on(Doing::Manage))?;
            }
            let kid = k.key().id;
            state::with(|m| {
                m.session_keys.remove(&kid);
                Ok(())
            })
        }
        View::Stored(o) => {
            if !ctx.rw {
                return Err(CKR_SESSION_READ_ONLY);
            }
            ctx.kms.delete_object(c, o.id).map_err(on(Doing::Manage))
        }
    }
}

pub fn size(ctx: &Ctx, h: CK_OBJECT_HANDLE) -> Rv<CK_ULONG> {
    match load(ctx, h)? {
        (_, View::Stored(o)) => Ok(ffi::ulong(o.value.len() + o.label.len() + o.attrs.len())),
        (_, View::Key(_)) => Ok(ffi::CK_UNAVAILABLE_INFORMATION),
    }
}
