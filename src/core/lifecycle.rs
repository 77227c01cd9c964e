//! The key lifecycle as data: which state change each management action makes, and which
//! uses each state (and the compromised flag) allows.

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::types::{Action, KeyState};

/// One allowed transition: in state `from`, `action` moves the key to `to`.
pub struct Transition {
    pub from: KeyState,
    pub action: Action,
    pub to: KeyState,
}

use Action as A;
use KeyState as S;

/// The whole transition table. `CancelDeletion` returns to the prior state; the table lists
/// the destinations it may take, and [`next_state`] picks the recorded prior state.
pub const TRANSITIONS: &[Transition] = &[
    Transition {
        from: S::PreActive,
        action: A::Enable,
        to: S::Active,
    },
    Transition {
        from: S::PreActive,
        action: A::Disable,
        to: S::Deactivated,
    },
    Transition {
        from: S::PreActive,
        action: A::ScheduleDeletion,
        to: S::PendingDeletion,
    },
    Transition {
        from: S::Active,
        action: A::Disable,
        to: S::Suspended,
    },
    Transition {
        from: S::Active,
        action: A::Update,
        to: S::Deactivated,
    },
    Transition {
        from: S::Active,
        action: A::ScheduleDeletion,
        to: S::PendingDeletion,
    },
    Transition {
        from: S::Suspended,
        action: A::Enable,
        to: S::Active,
    },
    Transition {
        from: S::Suspended,
        action: A::Update,
        to: S::Deactivated,
    },
    Transition {
        from: S::Suspended,
        action: A::ScheduleDeletion,
        to: S::PendingDeletion,
    },
    Transition {
        from: S::Deactivated,
        action: A::ScheduleDeletion,
        to: S::PendingDeletion,
    },
    Transition {
        from: S::PendingDeletion,
        action: A::CancelDeletion,
        to: S::PreActive,
    },
    Transition {
        from: S::PendingDeletion,
        action: A::CancelDeletion,
        to: S::Active,
    },
    Transition {
        from: S::PendingDeletion,
        action: A::CancelDeletion,
        to: S::Suspended,
    },
    Transition {
        from: S::PendingDeletion,
        action: A::CancelDeletion,
        to: S::Deactivated,
    },
    Transition {
        from: S::PendingDeletion,
        action: A::Destroy,
        to: S::Destroyed,
    },
];

/// The named lifecycle requests, each one management action in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleOp {
    /// PreActive or Suspended -> Active.
    Enable,
    /// Active -> Suspended (reversible); PreActive -> Deactivated.
    Disable,
    /// Active or Suspended -> Deactivated (decrypt/verify only, final).
    Deactivate,
    ScheduleDeletion,
    CancelDeletion,
    Destroy,
}

impl LifecycleOp {
    pub fn action(self) -> Action {
        match self {
            LifecycleOp::Enable => A::Enable,
            LifecycleOp::Disable => A::Disable,
            LifecycleOp::Deactivate => A::Update,
            LifecycleOp::ScheduleDeletion => A::ScheduleDeletion,
            LifecycleOp::CancelDeletion => A::CancelDeletion,
            LifecycleOp::Destroy => A::Destroy,
        }
    }

    /// The action a policy checks for this request.
    pub fn policy_action(self) -> Action {
        match self {
            LifecycleOp::Deactivate => A::Disable,
            other => other.action(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LifecycleOp::Enable => "enable",
            LifecycleOp::Disable => "disable",
            LifecycleOp::Deactivate => "deactivate",
            LifecycleOp::ScheduleDeletion => "schedule-deletion",
            LifecycleOp::CancelDeletion => "cancel-deletion",
            LifecycleOp::Destroy => "destroy",
        }
    }
}

/// The state `op` moves a key in `from` to, or a `KeyState` error naming the state.
/// `prior` is the state recorded when deletion was scheduled (for cancel).
pub fn next_state(
    key: &str,
    from: KeyState,
    op: LifecycleOp,
    prior: Option<KeyState>,
) -> Result<KeyState> {
    let action = op.action();
    let mut candidates = TRANSITIONS
        .iter()
        .filter(|t| t.from == from && t.action == action);
    let found = if op == LifecycleOp::CancelDeletion {
        let want = prior.unwrap_or(S::Deactivated);
        candidates.find(|t| t.to == want)
    } else {
        candidates.next()
    };
    match found {
        Some(t) => Ok(t.to),
        None => Err(Error::new(
            ErrorKind::KeyState,
            format!("key {key} is {from}: cannot {}", op.name()),
        )),
    }
}

/// Whether `action` produces newly protected data (and so needs the primary version).
pub fn protects(action: Action) -> bool {
    matches!(
        action,
        A::Encrypt | A::GenerateDataKey | A::Sign | A::Mac | A::Wrap | A::Derive | A::PutSecret
    )
}

/// Whether a key in `state` (and `compromised`) may be used for `action` with a given
/// version role. `primary` is true when the operation produces new protected data
/// (encrypt, sign, mac, wrap, derive); false when it only reads old data (decrypt, verify).
pub fn check_use(key: &str, state: KeyState, compromised: bool, action: Action) -> Result<()> {
    let protects = protects(action);
    let processes = matches!(
        action,
        A::Decrypt | A::Verify | A::Unwrap | A::GetPublicKey | A::ReEncrypt | A::GetSecret
    );
    let ok = match state {
        S::Active => !(compromised && protects),
        S::Deactivated => processes,
        S::PreActive | S::Suspended | S::PendingDeletion | S::Destroyed => false,
    };
    if ok {
        return Ok(());
    }
    let why = if compromised && state == S::Active {
        "active but marked compromised (decrypt/verify only)".to_string()
    } else {
        state.name().to_string()
    };
    Err(Error::new(
        ErrorKind::KeyState,
        format!("key {key} is {why}: cannot {action}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_way_out_but_destroyed() {
        for s in KeyState::ALL {
            let out = TRANSITIONS.iter().any(|t| t.from == s);
            assert_eq!(out, s != S::Destroyed, "{s}");
        }
    }

    #[test]
    fn cancel_returns_to_prior() {
        let s = next_state(
            "k",
            S::PendingDeletion,
            LifecycleOp::CancelDeletion,
            Some(S::Suspended),
        );
        assert_eq!(s, Ok(S::Suspended));
    }

    #[test]
    fn refused_transition_names_the_state() {
        let e = next_state("k1", S::Destroyed, LifecycleOp::Enable, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyState);
        assert!(e.message().contains("destroyed"), "{e}");
    }

    #[test]
    fn deactivated_decrypts_only() {
        assert!(check_use("k", S::Deactivated, false, A::Decrypt).is_ok());
        assert!(check_use("k", S::Deactivated, false, A::Encrypt).is_err());
        assert!(check_use("k", S::Active, true, A::Sign).is_err());
        assert!(check_use("k", S::Active, true, A::Verify).is_ok());
        assert!(check_use("k", S::Suspended, false, A::Decrypt).is_err());
    }
}
