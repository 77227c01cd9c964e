//! Slots and tokens: one slot per keyring (slot id = keyring id, stable across runs and
//! processes) plus one free slot (`FREE_SLOT`) holding an uninitialised token;
//! `C_InitToken`, `C_InitPIN`, `C_SetPIN`, slot/token/mechanism information.

use cryptoki_sys::*;

use super::ffi::{self, Rv};
use super::mechanisms;
use super::rv::{on, Doing};
use super::session::split_pin;
use super::state::{self, Ctx};
use crate::core::{ErrorKind, KeyringRecord, Kms, Roles};

/// The slot of the uninitialised token (C_InitToken there creates a new keyring/token).
pub const FREE_SLOT: CK_SLOT_ID = 0x7fff_ffff;

const MANUFACTURER: &str = "libkms";
const MIN_PIN: CK_ULONG = 4;
const MAX_PIN: CK_ULONG = 128 + 1 + 1024;

fn version() -> CK_VERSION {
    CK_VERSION {
        major: env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0),
        minor: env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0),
    }
}

fn keyrings(kms: &Kms) -> Rv<Vec<KeyringRecord>> {
    let mut v = kms.list_keyrings().map_err(|_| CKR_DEVICE_ERROR)?;
    v.sort_by_key(|k| k.id);
    Ok(v)
}

/// The keyring behind a slot: `Some` for an initialised token, `None` for the free slot.
pub fn token(kms: &Kms, slot: CK_SLOT_ID) -> Rv<Option<KeyringRecord>> {
    if slot == FREE_SLOT {
        return Ok(None);
    }
    keyrings(kms)?
        .into_iter()
        .find(|k| k.id as CK_SLOT_ID == slot)
        .map(Some)
        .ok_or(CKR_SLOT_ID_INVALID)
}

pub fn check_slot(kms: &Kms, slot: CK_SLOT_ID) -> Rv<()> {
    token(kms, slot).map(|_| ())
}

pub fn keyring_name(kms: &Kms, slot: CK_SLOT_ID) -> Rv<String> {
    token(kms, slot)?
        .map(|k| k.name)
        .ok_or(CKR_TOKEN_NOT_RECOGNIZED)
}

fn label_of(k: &KeyringRecord) -> String {
    if k.attrs.is_empty() {
        k.name.clone()
    } else {
        String::from_utf8_lossy(&k.attrs).into_owned()
    }
}

pub fn info(out: *mut CK_INFO) -> Rv<()> {
    state::with_read(|_| Ok(()))?;
    let mut i = CK_INFO {
        cryptokiVersion: CK_VERSION { major: 3, minor: 0 },
        manufacturerID: [0; 32],
        flags: 0,
        libraryDescription: [0; 32],
        libraryVersion: version(),
    };
    ffi::pad(&mut i.manufacturerID, MANUFACTURER);
    ffi::pad(&mut i.libraryDescription, "libkms key management service");
    ffi::write(out, i)
}

pub fn slot_list(present: CK_BBOOL, out: *mut CK_SLOT_ID, n: *mut CK_ULONG) -> Rv<()> {
    let _ = present; // every slot has a token (the free one an uninitialised token)
    let kms = state::kms()?;
    let mut ids: Vec<CK_SLOT_ID> = keyrings(&kms)?.iter().map(|k| k.id as CK_SLOT_ID).collect();
    ids.push(FREE_SLOT);
    ffi::deliver_list(out, n, &ids)
}

pub fn slot_info(slot: CK_SLOT_ID, out: *mut CK_SLOT_INFO) -> Rv<()> {
    let kms = state::kms()?;
    let t = token(&kms, slot)?;
    let mut i = CK_SLOT_INFO {
        slotDescription: [0; 64],
        manufacturerID: [0; 32],
        flags: CKF_TOKEN_PRESENT,
        hardwareVersion: version(),
        firmwareVersion: version(),
    };
    let desc = match &t {
        Some(k) => format!("libkms keyring {}", k.name),
        None => "libkms free slot (uninitialised token)".to_string(),
    };
    ffi::pad(&mut i.slotDescription, &desc);
    ffi::pad(&mut i.manufacturerID, MANUFACTURER);
    ffi::write(out, i)
}

pub fn token_info(slot: CK_SLOT_ID, out: *mut CK_TOKEN_INFO) -> Rv<()> {
    let kms = state::kms()?;
    let t = token(&kms, slot)?;
    let (sessions, rw) = state::with_read(|m| {
        let mut n = 0;
        let mut rw = 0;
        for s in m.sessions.values().filter(|s| s.slot == slot) {
            n += 1;
            rw += usize::from(s.rw);
        }
        Ok((n, rw))
    })?;
    let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED;
    let mut i = CK_TOKEN_INFO {
        label: [0; 32],
        manufacturerID: [0; 32],
        model: [0; 16],
        serialNumber: [0; 16],
        flags: 0,
        ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
        ulSessionCount: ffi::ulong(sessions),
        ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
        ulRwSessionCount: ffi::ulong(rw),
        ulMaxPinLen: MAX_PIN,
        ulMinPinLen: MIN_PIN,
        ulTotalPublicMemory: ffi::CK_UNAVAILABLE_INFORMATION,
        ulFreePublicMemory: ffi::CK_UNAVAILABLE_INFORMATION,
        ulTotalPrivateMemory: ffi::CK_UNAVAILABLE_INFORMATION,
        ulFreePrivateMemory: ffi::CK_UNAVAILABLE_INFORMATION,
        hardwareVersion: version(),
        firmwareVersion: version(),
        utcTime: [b' '; 16],
    };
    match &t {
        Some(k) => {
            flags |= CKF_TOKEN_INITIALIZED;
            let ids = crate::core::store::read(kms.store(), |tx| tx.identity_list(k.id))
                .map_err(|_| CKR_DEVICE_ERROR)?;
            let so = ids.iter().find(|i| i.name == "so");
            let user = ids.iter().find(|i| i.name == "user");
            if ids.iter().any(|i| i.name != "so") {
                flags |= CKF_USER_PIN_INITIALIZED;
            }
            // COUNT_LOW after a failure; FINAL_TRY when one more failure locks the PIN
            let threshold = kms.config().lockout_threshold;
            let final_try = |failures: u32| threshold > 0 && failures + 1 >= threshold;
            if let Some(u) = user {
                if u.locked {
                    flags |= CKF_USER_PIN_LOCKED;
                } else if u.failures > 0 {
                    flags |= CKF_USER_PIN_COUNT_LOW;
                    if final_try(u.failures) {
                        flags |= CKF_USER_PIN_FINAL_TRY;
                    }
                }
            }
            if let Some(s) = so {
                if s.locked {
                    flags |= CKF_SO_PIN_LOCKED;
                } else if s.failures > 0 {
                    flags |= CKF_SO_PIN_COUNT_LOW;
                    if final_try(s.failures) {
                        flags |= CKF_SO_PIN_FINAL_TRY;
                    }
                }
            }
            ffi::pad(&mut i.label, &label_of(k));
            ffi::pad(&mut i.serialNumber, &format!("{:016x}", k.id));
        }
        None => {
            ffi::pad(&mut i.label, "");
            ffi::pad(&mut i.serialNumber, "free");
        }
    }
    i.flags = flags;
    ffi::pad(&mut i.manufacturerID, MANUFACTURER);
    ffi::pad(&mut i.model, "libkms keyring");
    ffi::write(out, i)
}

pub fn mechanism_list(slot: CK_SLOT_ID, out: *mut CK_MECHANISM_TYPE, n: *mut CK_ULONG) -> Rv<()> {
    let kms = state::kms()?;
    check_slot(&kms, slot)?;
    let list: Vec<CK_MECHANISM_TYPE> = mechanisms::TABLE.iter().map(|r| r.ty).collect();
    ffi::deliver_list(out, n, &list)
}

pub fn mechanism_info(
    slot: CK_SLOT_ID,
    ty: CK_MECHANISM_TYPE,
    out: *mut CK_MECHANISM_INFO,
) -> Rv<()> {
    let kms = state::kms()?;
    check_slot(&kms, slot)?;
    let r = mechanisms::info(ty)?;
    ffi::write(
        out,
        CK_MECHANISM_INFO {
            ulMinKeySize: r.min,
            ulMaxKeySize: r.max,
            flags: r.flags,
        },
    )
}

fn label_text(label: *const u8) -> Rv<String> {
    if label.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let raw = ffi::bytes(label, 32)?;
    // Blank-padded per the specification; some callers end it with a NUL instead.
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    let s = String::from_utf8_lossy(&raw[..end]).into_owned();
    Ok(s.trim_end_matches(' ').to_string())
}

pub fn init_token(slot: CK_SLOT_ID, pin: &[u8], label: *const u8) -> Rv<()> {
    let kms = state::kms()?;
    let t = token(&kms, slot)?;
    let label = label_text(label)?;
    let busy = state::with_read(|m| Ok(m.sessions.values().any(|s| s.slot == slot)))?;
    if busy {
        return Err(CKR_SESSION_EXISTS);
    }
    let (so, secret) = split_pin(pin, "so");
    match t {
        None => {
            let base = if label.is_empty() {
                "token".to_string()
            } else {
                label.chars().take(56).collect()
            };
            let roles = Roles::ADMIN | Roles::SECURITY_OFFICER;
            for n in 1..1000 {
                let name = if n == 1 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                };
                match kms.create_keyring(&name, label.as_bytes(), &so, &secret, roles) {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(on(Doing::Login)(e)),
                }
            }
            Err(CKR_FUNCTION_FAILED)
        }
        Some(k) => {
            let c = kms
                .reset_keyring(&k.name, &so, &secret, &secret)
                .map_err(on(Doing::Login))?;
            kms.set_keyring_attrs(&c, label.as_bytes())
                .map_err(on(Doing::Manage))
        }
    }
}

fn so_session(ctx: &Ctx) -> Rv<()> {
    match &ctx.login {
        Some(l) if l.user_type == CKU_SO => Ok(()),
        _ => Err(CKR_USER_NOT_LOGGED_IN),
    }
}

/// `C_InitPIN` (SO session): a bare PIN creates or resets the token user `user`, who both
/// manages and uses keys (the token's documented policy, as SoftHSM2 users expect); a
/// `name:secret` PIN creates or resets the key user `name` (use only: separation of duties).
pub fn init_pin(h: CK_SESSION_HANDLE, pin: &[u8]) -> Rv<()> {
    let ctx = state::ctx(h)?;
    so_session(&ctx)?;
    if !ctx.rw {
        return Err(CKR_SESSION_READ_ONLY);
    }
    let c = ctx.caller()?;
    let (name, secret) = split_pin(pin, "user");
    let (roles, combined) = if name == "user" {
        (Roles::USER | Roles::ADMIN, true)
    } else {
        (Roles::USER, false)
    };
    match ctx.kms.create_identity(c, &name, &secret, roles, combined) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            ctx.kms
                .set_identity_secret(c, &name, &secret)
                .map_err(on(Doing::Login))?;
            ctx.kms.unlock_identity(c, &name).map_err(on(Doing::Login))
        }
        Err(e) => Err(on(Doing::Login)(e)),
    }
}

/// `C_SetPIN`: the logged-in identity changes its own secret (proving the old one); in a
/// public session, the identity the old PIN names (default `user`).
pub fn set_pin(h: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Rv<()> {
    let ctx = state::ctx(h)?;
    if !ctx.rw {
        return Err(CKR_SESSION_READ_ONLY);
    }
    let (caller, old_secret) = match &ctx.login {
        Some(l) => {
            let (_, s) = split_pin(old, &l.caller.identity);
            ((*l.caller).clone(), s)
        }
        None => {
            let (name, s) = split_pin(old, "user");
            let keyring = keyring_name(&ctx.kms, ctx.slot)?;
            let c = ctx
                .kms
                .authenticate(&keyring, &name, &s)
                .map_err(on(Doing::Login))?;
            (c, s)
        }
    };
    let (_, new_secret) = split_pin(new, &caller.identity);
    ctx.kms
        .change_own_secret(&caller, &old_secret, &new_secret)
        .map_err(on(Doing::Login))
}
