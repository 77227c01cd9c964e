//! Encryption and decryption (`C_Encrypt*`/`C_Decrypt*`): AES-GCM (caller IV and AAD),
//! AES-CBC-PAD, AES-CTR, AES key wrap (and with padding) and RSA-OAEP. Each call runs on the
//! key's material inside the core (`Kms::with_key`: policy, state, version, usage, audit);
//! multi-part input is gathered and processed at the final call.

use cryptoki_sys::*;

use super::ffi::{MechIn, Rv};
use super::mechanisms;
use super::objects::{self, KeyView};
use super::ops_digest::{finish, step, Finishing};
use super::rv::{on, Doing};
use super::state::{self, Ctx};
use crate::core::crypto::{self, OaepHash};
use crate::core::service::Loaded;
use crate::core::{Action, Error, ErrorKind, KeySpec, Usage};

/// Largest input gathered by a multi-part operation.
pub const MAX_INPUT: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub enum CipherMech {
    Gcm { iv: [u8; 12], aad: Vec<u8> },
    CbcPad { iv: [u8; 16] },
    Ctr { iv: [u8; 16] },
    Kw,
    Kwp,
    Oaep { hash: OaepHash, label: Vec<u8> },
}

/// The key an operation uses: its id, the version the object is, and whether that version
/// was the primary when the operation started.
#[derive(Clone)]
pub struct KeyUse {
    pub id: u64,
    pub version: u32,
    pub primary: bool,
    pub spec: KeySpec,
    pub spki: Option<Vec<u8>>,
}

impl KeyUse {
    pub fn of(k: &KeyView) -> KeyUse {
        KeyUse {
            id: k.key().id,
            version: k.version,
            primary: k.primary(),
            spec: k.spec(),
            spki: k.spki().map(<[u8]>::to_vec),
        }
    }

    /// The version argument of a core call: operations that protect new data name no
    /// version on the primary (the core counts the use), others name theirs.
    pub fn version_arg(&self, protects: bool) -> Option<u32> {
        if protects && self.primary {
            None
        } else {
            Some(self.version)
        }
    }

    /// Runs `f` on the key's material through the core; a rotation that happened since the
    /// object was found refuses (the object is that version, not the new one).
    pub fn run<R>(
        &self,
        ctx: &Ctx,
        action: Action,
        usage: Usage,
        protects: bool,
        doing: Doing,
        f: impl FnOnce(&[u8]) -> crate::core::Result<R>,
    ) -> Rv<R> {
        self.run_loaded(ctx, action, usage, protects, doing, |l| f(&l.material))
    }

    /// [`KeyUse::run`] on the cached, loaded version (prepared AES-GCM key, parsed private
    /// key).
    pub fn run_loaded<R>(
        &self,
        ctx: &Ctx,
        action: Action,
        usage: Usage,
        protects: bool,
        doing: Doing,
        f: impl FnOnce(&Loaded) -> crate::core::Result<R>,
    ) -> Rv<R> {
        let c = ctx.caller()?;
        let want = self.version;
        let check = protects && self.primary;
        ctx.kms
            .with_key_loaded(
                c,
                self.id,
                self.version_arg(protects),
                action,
                usage,
                |k, l| {
                    if check && k.primary_version != want {
                        return Err(Error::new(
                            ErrorKind::KeyState,
                            "the key was rotated: find the object of the new primary version",
                        ));
                    }
                    f(l)
                },
            )
            .map_err(on(doing))
    }
}

pub struct CipherOp {
    key: KeyUse,
    mech: CipherMech,
    data: crate::core::crypto::Secret,
    cache: Option<crate::core::crypto::Secret>,
    /// An `Update` gathered input: the single-part call may no longer finish it.
    parts: bool,
}

impl Finishing for CipherOp {
    fn cache(&mut self) -> &mut Option<crate::core::crypto::Secret> {
        &mut self.cache
    }
}

fn iv16(b: &[u8]) -> Rv<[u8; 16]> {
    b.try_into().map_err(|_| CKR_MECHANISM_PARAM_INVALID)
}

fn parse(m: &MechIn, k: &KeyView, encrypt: bool) -> Rv<CipherMech> {
    let spec = k.spec();
    let want_class = if m.ty == CKM_RSA_PKCS_OAEP {
        if encrypt {
            CKO_PUBLIC_KEY
        } else {
            CKO_PRIVATE_KEY
        }
    } else {
        CKO_SECRET_KEY
    };
    let aes = matches!(
        m.ty,
        CKM_AES_GCM | CKM_AES_CBC_PAD | CKM_AES_CTR | CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD
    );
    if (aes && !spec.is_aes()) || (m.ty == CKM_RSA_PKCS_OAEP && !spec.is_rsa()) {
        return Err(CKR_KEY_TYPE_INCONSISTENT);
    }
    if k.class != want_class {
        return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
    }
    Ok(match m.ty {
        CKM_AES_GCM => {
            let p: CK_GCM_PARAMS = m.param()?;
            let iv =
                super::ffi::bytes(p.pIv, p.ulIvLen).map_err(|_| CKR_MECHANISM_PARAM_INVALID)?;
            let aad =
                super::ffi::bytes(p.pAAD, p.ulAADLen).map_err(|_| CKR_MECHANISM_PARAM_INVALID)?;
            if p.ulTagBits != 128 {
                return Err(CKR_MECHANISM_PARAM_INVALID);
            }
            CipherMech::Gcm {
                iv: iv.try_into().map_err(|_| CKR_MECHANISM_PARAM_INVALID)?,
                aad: aad.to_vec(),
            }
        }
        CKM_AES_CBC_PAD => CipherMech::CbcPad {
            iv: iv16(m.param_bytes()?)?,
        },
        CKM_AES_CTR => {
            let p: CK_AES_CTR_PARAMS = m.param()?;
            if p.ulCounterBits == 0 || p.ulCounterBits > 128 {
                return Err(CKR_MECHANISM_PARAM_INVALID);
            }
            CipherMech::Ctr { iv: p.cb }
        }
        CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD => {
            // Only the default initial value is supported.
            if m.has_param() {
                return Err(CKR_MECHANISM_PARAM_INVALID);
            }
            if m.ty == CKM_AES_KEY_WRAP {
                CipherMech::Kw
            } else {
                CipherMech::Kwp
            }
        }
        CKM_RSA_PKCS_OAEP => {
            let (hash, label) = mechanisms::oaep(m)?;
            CipherMech::Oaep { hash, label }
        }
        _ => return Err(CKR_MECHANISM_INVALID),
    })
}

pub fn init(
    h: CK_SESSION_HANDLE,
    m: *const CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    encrypt: bool,
) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let m = MechIn::read(m)?;
    {
        let s = ctx.lock();
        let active = if encrypt { &s.encrypt } else { &s.decrypt };
        if active.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
    }
    ctx.caller()?;
    let k = objects::load_key(&ctx, key)?;
    let mech = parse(&m, &k, encrypt)?;
    let op = CipherOp {
        key: KeyUse::of(&k),
        mech,
        data: crate::core::crypto::Secret::new(Vec::new()),
        cache: None,
        parts: false,
    };
    let mut s = ctx.lock();
    if encrypt {
        s.encrypt = Some(op);
    } else {
        s.decrypt = Some(op);
    }
    Ok(())
}

fn run(ctx: &Ctx, op: &CipherOp, encrypt: bool) -> Rv<crate::core::crypto::Secret> {
    let data = &op.data[..];
    let k = &op.key;
    if encrypt {
        let out = match &op.mech {
            CipherMech::Oaep { hash, label } => {
                let spki = k.spki.clone().ok_or(CKR_KEY_TYPE_INCONSISTENT)?;
                k.run(
                    ctx,
                    Action::Encrypt,
                    Usage::ENCRYPT,
                    true,
                    Doing::KeyUse,
                    |_| crypto::rsa_oaep_encrypt(&spki, *hash, label, data),
                )?
            }
            mech => {
                let mech = mech.clone();
                k.run_loaded(
                    ctx,
                    Action::Encrypt,
                    Usage::ENCRYPT,
                    true,
                    Doing::KeyUse,
                    |l| match &mech {
                        CipherMech::Gcm { iv, aad } => match &l.gcm {
                            Some(g) => g.seal(iv, aad, data),
                            None => crypto::aes_gcm_seal(&l.material, iv, aad, data),
                        },
                        CipherMech::CbcPad { iv } => {
                            crypto::aes_cbc_pad_encrypt(&l.material, iv, data)
                        }
                        CipherMech::Ctr { iv } => crypto::aes_ctr_encrypt(&l.material, iv, data),
                        CipherMech::Kw => crypto::aes_kw_wrap(&l.material, data),
                        CipherMech::Kwp => crypto::aes_kwp_wrap(&l.material, data),
                        CipherMech::Oaep { .. } => Err(Error::internal("unreachable")),
                    },
                )?
            }
        };
        Ok(crate::core::crypto::Secret::new(out))
    } else {
        let action = Action::Decrypt;
        let mech = op.mech.clone();
        if let CipherMech::Oaep { hash, label } = &mech {
            let c = ctx.caller()?;
            return ctx
                .kms
                .rsa_decrypt(c, &k.id.to_string(), Some(k.version), *hash, label, data)
                .map_err(on(Doing::Decrypt));
        }
        // Ciphertext that is invalid by its length alone (PKCS#11: ENCRYPTED_DATA_LEN_RANGE).
        let n = data.len();
        let bad_len = match &mech {
            CipherMech::Gcm { .. } => n < 16,
            CipherMech::CbcPad { .. } => n == 0 || !n.is_multiple_of(16),
            CipherMech::Kw | CipherMech::Kwp => n < 16 || !n.is_multiple_of(8),
            CipherMech::Ctr { .. } | CipherMech::Oaep { .. } => false,
        };
        if bad_len {
            return Err(CKR_ENCRYPTED_DATA_LEN_RANGE);
        }
        k.run_loaded(ctx, action, Usage::DECRYPT, false, Doing::Decrypt, |l| {
            let m: &[u8] = &l.material;
            let r = match &mech {
                CipherMech::Gcm { iv, aad } => match &l.gcm {
                    Some(g) => g.open(iv, aad, data),
                    None => crypto::aes_gcm_open(m, iv, aad, data),
                },
                CipherMech::CbcPad { iv } => crypto::aes_cbc_pad_decrypt(m, iv, data),
                CipherMech::Ctr { iv } => crypto::aes_ctr_decrypt(m, iv, data),
                CipherMech::Kw => crypto::aes_kw_unwrap(m, data),
                CipherMech::Kwp => crypto::aes_kwp_unwrap(m, data),
                CipherMech::Oaep { .. } => Err(Error::internal("unreachable")),
            };
            r.map_err(|e| Error::new(ErrorKind::InvalidCiphertext, e.message().to_string()))
        })
    }
}

fn gather(op: &mut CipherOp, data: &[u8]) -> Rv<()> {
    if op.cache.is_some() {
        return Err(CKR_OPERATION_ACTIVE);
    }
    if op.data.len() + data.len() > MAX_INPUT {
        return Err(CKR_DATA_LEN_RANGE);
    }
    op.data.extend_from_slice(data);
    op.parts = true;
    Ok(())
}

/// `C_Encrypt` / `C_Decrypt` (single part). `data` is the decoded input: a decoding error
/// ends the operation as any other error does; so does a call after an `Update`.
pub fn single(
    h: CK_SESSION_HANDLE,
    data: Rv<&[u8]>,
    out: *mut u8,
    out_len: *mut CK_ULONG,
    encrypt: bool,
) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    let slot = if encrypt {
        &mut s.encrypt
    } else {
        &mut s.decrypt
    };
    if let (Some(op), Ok(d)) = (slot.as_mut(), &data) {
        if let Some(need) = direct_len(op, d, out, encrypt) {
            return match super::ffi::out_buffer(out, out_len, need) {
                // A size query, or a buffer too small: answered without running; the
                // operation stays active for the call with a buffer.
                Ok(None) => Ok(()),
                Err(CKR_BUFFER_TOO_SMALL) => Err(CKR_BUFFER_TOO_SMALL),
                Err(e) => {
                    *slot = None;
                    Err(e)
                }
                Ok(Some(dst)) => {
                    let r = run_gcm_into(&ctx, op, d, dst, encrypt);
                    *slot = None;
                    r
                }
            };
        }
    }
    finish(slot, out, out_len, |op| {
        if op.parts {
            return Err(CKR_OPERATION_ACTIVE);
        }
        op.data = crate::core::crypto::Secret::from_slice(data?);
        run(&ctx, op, encrypt)
    })
}

/// The exact output length of a single-part AES-GCM call that can run straight from the
/// caller's input into the caller's output buffer: nothing gathered or cached, input long
/// enough, and the output buffer not overlapping the input (PKCS#11 lets them be the same
/// place; that case takes the copying path). `None` sends the call down the general path.
fn direct_len(op: &CipherOp, data: &[u8], out: *mut u8, encrypt: bool) -> Option<usize> {
    if op.parts || op.cache.is_some() || !matches!(op.mech, CipherMech::Gcm { .. }) {
        return None;
    }
    let need = if encrypt {
        data.len().checked_add(crypto::GCM_TAG_LEN)?
    } else {
        data.len().checked_sub(crypto::GCM_TAG_LEN)?
    };
    let (i0, i1) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
    let (o0, o1) = (out as usize, (out as usize).saturating_add(need));
    if !out.is_null() && o0 < i1 && i0 < o1 {
        return None;
    }
    Some(need)
}

/// Runs a single-part AES-GCM encryption or decryption through the core (policy, state,
/// version, audit) straight into the caller's buffer `dst` (exactly the output's length).
fn run_gcm_into(ctx: &Ctx, op: &CipherOp, data: &[u8], dst: &mut [u8], encrypt: bool) -> Rv<()> {
    let CipherMech::Gcm { iv, aad } = &op.mech else {
        return Err(CKR_GENERAL_ERROR);
    };
    let k = &op.key;
    if encrypt {
        k.run_loaded(
            ctx,
            Action::Encrypt,
            Usage::ENCRYPT,
            true,
            Doing::KeyUse,
            |l| match &l.gcm {
                Some(g) => g.seal_into(iv, aad, data, dst),
                None => crypto::AesGcmKey::new(&l.material)?.seal_into(iv, aad, data, dst),
            },
        )
    } else {
        k.run_loaded(
            ctx,
            Action::Decrypt,
            Usage::DECRYPT,
            false,
            Doing::Decrypt,
            |l| {
                let r = match &l.gcm {
                    Some(g) => g.open_into(iv, aad, data, dst),
                    None => crypto::AesGcmKey::new(&l.material)?.open_into(iv, aad, data, dst),
                };
                r.map_err(|e| Error::new(ErrorKind::InvalidCiphertext, e.message().to_string()))
            },
        )
    }
}

/// `C_EncryptUpdate` / `C_DecryptUpdate`: input is gathered; no output until the final call.
pub fn update(
    h: CK_SESSION_HANDLE,
    data: Rv<&[u8]>,
    out: *mut u8,
    out_len: *mut CK_ULONG,
    encrypt: bool,
) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    let slot = if encrypt {
        &mut s.encrypt
    } else {
        &mut s.decrypt
    };
    step(slot, |op| {
        let data = data?;
        // Output of an update is always empty here (input is gathered); a size query
        // (NULL buffer) only reports that, so the input given again with a buffer is
        // gathered once.
        if super::ffi::deliver(out, out_len, &[])? {
            gather(op, data)?;
        }
        Ok(())
    })
}

/// `C_EncryptFinal` / `C_DecryptFinal`.
pub fn final_(h: CK_SESSION_HANDLE, out: *mut u8, out_len: *mut CK_ULONG, encrypt: bool) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    let slot = if encrypt {
        &mut s.encrypt
    } else {
        &mut s.decrypt
    };
    finish(slot, out, out_len, |op| run(&ctx, op, encrypt))
}
