//! Sessions and login: open/close, session info, `C_Login`/`C_Logout` with the login
//! convention (`name:secret` = that identity; a bare user PIN = `user`; a bare SO PIN =
//! `so`), login state shared by the sessions of a slot.

use std::sync::{Arc, Mutex};

use cryptoki_sys::*;

use crate::core::crypto::Secret;

use super::ffi::{self, Rv};
use super::objects::{self, FindOp};
use super::ops_cipher::CipherOp;
use super::ops_digest::DigestOp;
use super::ops_sign::SignOp;
use super::rv::{on, Doing};
use super::slots;
use super::state::{self, Login};

/// A session as the module table holds it: slot and mode are fixed at open (read without
/// locking), the operations sit behind the session's own lock. Lock order: the session
/// lock may be held while taking the module lock, never the reverse.
pub struct SessionEntry {
    pub slot: CK_SLOT_ID,
    pub rw: bool,
    pub ops: Mutex<Session>,
}

/// The operations in progress in one session.
#[derive(Default)]
pub struct Session {
    pub find: Option<FindOp>,
    pub encrypt: Option<CipherOp>,
    pub decrypt: Option<CipherOp>,
    pub digest: Option<DigestOp>,
    pub sign: Option<SignOp>,
    pub verify: Option<SignOp>,
}

pub fn open(slot: CK_SLOT_ID, flags: CK_FLAGS, out: *mut CK_SESSION_HANDLE) -> Rv<()> {
    if flags & CKF_SERIAL_SESSION == 0 {
        return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    }
    if out.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let kms = state::kms()?;
    let token = slots::token(&kms, slot)?;
    if token.is_none() {
        // The free slot's token is not initialised: C_InitToken first.
        return Err(CKR_TOKEN_NOT_RECOGNIZED);
    }
    let rw = flags & CKF_RW_SESSION != 0;
    let h = state::with(|m| {
        if !rw && m.logins.get(&slot).is_some_and(|l| l.user_type == CKU_SO) {
            return Err(CKR_SESSION_READ_WRITE_SO_EXISTS);
        }
        m.next_session += 1;
        let h = m.next_session;
        m.sessions.insert(
            h,
            Arc::new(SessionEntry {
                slot,
                rw,
                ops: Mutex::new(Session::default()),
            }),
        );
        Ok(h)
    })?;
    ffi::write(out, h)
}

/// Closes sessions (`only` = one session, else every session of `slot`). The last session
/// of a slot closing logs the slot out; session keys of closed sessions are discarded.
fn close_where(only: Option<CK_SESSION_HANDLE>, slot: Option<CK_SLOT_ID>) -> Rv<()> {
    let (kms, logins, keys) = state::with(|m| {
        let victims: Vec<CK_SESSION_HANDLE> = match only {
            Some(h) => {
                if !m.sessions.contains_key(&h) {
                    return Err(CKR_SESSION_HANDLE_INVALID);
                }
                vec![h]
            }
            None => m
                .sessions
                .iter()
                .filter(|(_, s)| Some(s.slot) == slot)
                .map(|(h, _)| *h)
                .collect(),
        };
        let mut slots_touched = Vec::new();
        for h in &victims {
            if let Some(s) = m.sessions.remove(h) {
                slots_touched.push(s.slot);
            }
        }
        let keys: Vec<u64> = m
            .session_keys
            .iter()
            .filter(|(_, h)| victims.contains(h))
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            m.session_keys.remove(k);
        }
        let logins: Vec<Login> = slots_touched
            .iter()
            .filter_map(|s| m.logins.get(s).cloned())
            .collect();
        for s in slots_touched {
            let left = m.sessions.values().any(|x| x.slot == s);
            if !left {
                m.logins.remove(&s);
            }
        }
        Ok((m.kms.clone(), logins, keys))
    })?;
    objects::discard_session_keys(&kms, &logins, &keys);
    Ok(())
}

pub fn close(h: CK_SESSION_HANDLE) -> Rv<()> {
    close_where(Some(h), None)
}

pub fn close_all(slot: CK_SLOT_ID) -> Rv<()> {
    let kms = state::kms()?;
    slots::check_slot(&kms, slot)?;
    close_where(None, Some(slot))
}

pub fn info(h: CK_SESSION_HANDLE, out: *mut CK_SESSION_INFO) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let state = match (&ctx.login, ctx.rw) {
        (None, false) => CKS_RO_PUBLIC_SESSION,
        (None, true) => CKS_RW_PUBLIC_SESSION,
        (Some(l), false) if l.user_type == CKU_USER => CKS_RO_USER_FUNCTIONS,
        (Some(l), true) if l.user_type == CKU_USER => CKS_RW_USER_FUNCTIONS,
        (Some(_), _) => CKS_RW_SO_FUNCTIONS,
    };
    ffi::write(
        out,
        CK_SESSION_INFO {
            slotID: ctx.slot,
            state,
            flags: CKF_SERIAL_SESSION | if ctx.rw { CKF_RW_SESSION } else { 0 },
            ulDeviceError: 0,
        },
    )
}

/// Splits a PIN into (identity, secret): `name:secret`, else the default identity. The
/// secret is copied into a `Secret` (secure arena, wiped on drop).
pub fn split_pin(pin: &[u8], default: &str) -> (String, Secret) {
    if let Some(pos) = pin.iter().position(|b| *b == b':') {
        let name = &pin[..pos];
        if !name.is_empty()
            && name.len() <= 128
            && name.iter().all(|b| b.is_ascii_graphic() && *b != b':')
        {
            return (
                String::from_utf8_lossy(name).into_owned(),
                Secret::from_slice(&pin[pos + 1..]),
            );
        }
    }
    (default.to_string(), Secret::from_slice(pin))
}

pub fn login(
    h: CK_SESSION_HANDLE,
    user_type: CK_USER_TYPE,
    pin: &[u8],
    name: Option<&str>,
) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let default = match user_type {
        CKU_SO => "so",
        CKU_USER => "user",
        CKU_CONTEXT_SPECIFIC => {
            // No object needs re-authentication (CKA_ALWAYS_AUTHENTICATE is false).
            return match &ctx.login {
                Some(_) => Err(CKR_OPERATION_NOT_INITIALIZED),
                None => Err(CKR_USER_NOT_LOGGED_IN),
            };
        }
        _ => return Err(CKR_USER_TYPE_INVALID),
    };
    if let Some(l) = &ctx.login {
        return Err(if l.user_type == user_type {
            CKR_USER_ALREADY_LOGGED_IN
        } else {
            CKR_USER_ANOTHER_ALREADY_LOGGED_IN
        });
    }
    let (ident, secret) = match name {
        Some(n) => (n.to_string(), Secret::from_slice(pin)),
        None => split_pin(pin, default),
    };
    let keyring = slots::keyring_name(&ctx.kms, ctx.slot)?;
    if user_type == CKU_SO {
        let ro =
            state::with_read(|m| Ok(m.sessions.values().any(|s| s.slot == ctx.slot && !s.rw)))?;
        if ro {
            return Err(CKR_SESSION_READ_ONLY_EXISTS);
        }
    }
    let caller = ctx
        .kms
        .authenticate(&keyring, &ident, &secret)
        .map_err(on(Doing::Login))?;
    state::with(|m| {
        if m.logins.contains_key(&ctx.slot) {
            return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
        }
        m.logins.insert(
            ctx.slot,
            Login {
                user_type,
                caller: Arc::new(caller),
            },
        );
        Ok(())
    })
}

pub fn logout(h: CK_SESSION_HANDLE) -> Rv<()> {
    let ctx = state::ctx(h)?;
    state::with(|m| match m.logins.remove(&ctx.slot) {
        Some(_) => Ok(()),
        None => Err(CKR_USER_NOT_LOGGED_IN),
    })
}
