//! Access decisions: default deny; roles give classes of actions, per-key grants give
//! specific actions with expiry, use limits and encryption-context conditions.

use crate::core::ciphertext::Context;
use crate::core::model::{GrantRecord, IdentityRecord, KeyRecord, Roles};
use crate::core::types::Action;

/// The verdict for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; when a grant with a use limit allowed it, its id (to count the use).
    Allow {
        counted_grant: Option<u64>,
    },
    Deny(String),
}

/// Whether `roles` alone allow `action` (on any key of the identity's keyring).
pub fn role_allows(roles: Roles, action: Action) -> bool {
    match action {
        a if a.is_key_use() => roles.contains(Roles::USER),
        Action::Create
        | Action::Import
        | Action::Rotate
        | Action::Enable
        | Action::Disable
        | Action::ScheduleDeletion
        | Action::CancelDeletion
        | Action::Destroy
        | Action::SetPolicy
        | Action::Update
        | Action::Maintain => roles.contains(Roles::ADMIN),
        // Export of wrapped material is a management act of the key administrator.
        Action::Export => roles.contains(Roles::ADMIN),
        Action::Describe | Action::List => roles.0 != 0,
        Action::ReadAudit => roles.contains(Roles::AUDITOR),
        Action::ManageIdentities | Action::ManageStore => roles.contains(Roles::SECURITY_OFFICER),
        // Certificates and data objects: written by key administrators and token users.
        Action::WriteObject => roles.contains(Roles::ADMIN) || roles.contains(Roles::USER),
        Action::Random | Action::Authenticate => true,
        _ => false,
    }
}

/// Decides whether `identity` may perform `action` on `key` (None for keyring-wide actions)
/// with encryption context `ctx`, at time `now`.
pub fn decide(
    identity: &IdentityRecord,
    grants: &[GrantRecord],
    action: Action,
    key: Option<&KeyRecord>,
    ctx: &Context,
    now: i64,
) -> Decision {
    if identity.disabled || identity.locked {
        return Decision::Deny(format!("identity {} is disabled or locked", identity.name));
    }
    if role_allows(identity.roles, action) {
        return Decision::Allow {
            counted_grant: None,
        };
    }
    let mut why = None;
    for g in grants {
        if g.identity != identity.name || !g.actions.contains(action) {
            continue;
        }
        match (g.key_id, key) {
            (None, _) => {}
            (Some(gk), Some(k)) if gk == k.id => {}
            _ => continue,
        }
        if let Some(exp) = g.expires {
            if now >= exp {
                why = Some(format!("grant {} expired", g.id));
                continue;
            }
        }
        if let Some(max) = g.max_uses {
            if g.uses >= max {
                why = Some(format!("grant {} has used all {} uses", g.id, max));
                continue;
            }
        }
        if !g
            .context
            .iter()
            .all(|(k, v)| ctx.get(k).map(|cv| cv == v).unwrap_or(false))
        {
            why = Some(format!(
                "grant {} requires encryption context {}",
                g.id,
                pairs(&g.context)
            ));
            continue;
        }
        return Decision::Allow {
            counted_grant: g.max_uses.map(|_| g.id),
        };
    }
    let target = match key {
        Some(k) => format!(" with key {}", k.id),
        None => String::new(),
    };
    let mut msg = format!(
        "access denied: identity {} may not {}{}",
        identity.name, action, target
    );
    if let Some(w) = why {
        msg.push_str(&format!(" ({w})"));
    }
    Decision::Deny(msg)
}

fn pairs(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::ActionSet;

    fn ident(roles: Roles) -> IdentityRecord {
        IdentityRecord {
            id: 1,
            keyring: 1,
            name: "alice".into(),
            phc: String::new(),
            roles,
            combined_roles: false,
            disabled: false,
            failures: 0,
            locked: false,
            created: 0,
        }
    }

    #[test]
    fn separation_of_duties() {
        assert!(role_allows(Roles::ADMIN, Action::Rotate));
        assert!(!role_allows(Roles::ADMIN, Action::Decrypt));
        assert!(role_allows(Roles::USER, Action::Decrypt));
        assert!(!role_allows(Roles::USER, Action::Rotate));
        assert!(role_allows(Roles::AUDITOR, Action::ReadAudit));
        assert!(!role_allows(Roles::AUDITOR, Action::Encrypt));
        assert!(!role_allows(Roles::NONE, Action::Describe));
    }

    #[test]
    fn grant_conditions() {
        let id = ident(Roles::NONE);
        let mut g = GrantRecord {
            id: 5,
            keyring: 1,
            identity: "alice".into(),
            key_id: Some(9),
            actions: ActionSet::of(&[Action::Decrypt]),
            expires: Some(100),
            max_uses: Some(2),
            uses: 0,
            context: vec![("tenant".into(), "acme".into())],
            created: 0,
        };
        let mut ctx = Context::new();
        let key = KeyRecordStub::key(9);
        assert!(matches!(
            decide(&id, &[g.clone()], Action::Decrypt, Some(&key), &ctx, 10),
            Decision::Deny(_)
        ));
        ctx.insert("tenant".into(), "acme".into());
        assert_eq!(
            decide(&id, &[g.clone()], Action::Decrypt, Some(&key), &ctx, 10),
            Decision::Allow {
                counted_grant: Some(5)
            }
        );
        assert!(matches!(
            decide(&id, &[g.clone()], Action::Encrypt, Some(&key), &ctx, 10),
            Decision::Deny(_)
        ));
        assert!(matches!(
            decide(&id, &[g.clone()], Action::Decrypt, Some(&key), &ctx, 100),
            Decision::Deny(_)
        ));
        g.uses = 2;
        assert!(matches!(
            decide(&id, &[g], Action::Decrypt, Some(&key), &ctx, 10),
            Decision::Deny(_)
        ));
    }

    struct KeyRecordStub;
    impl KeyRecordStub {
        fn key(id: u64) -> KeyRecord {
            use crate::core::model::Origin;
            use crate::core::types::*;
            KeyRecord {
                id,
                keyring: 1,
                name: None,
                spec: KeySpec::Aes256,
                usage: Usage::ENCRYPT,
                state: KeyState::Active,
                prior_state: None,
                compromised: false,
                primary_version: 1,
                min_decrypt_version: 1,
                exportable: false,
                origin: Origin::Generated,
                created: 0,
                activation_date: None,
                rotation_period: None,
                rotate_after_uses: None,
                last_rotated: 0,
                deletion_date: None,
                destroyed_at: None,
                owner: String::new(),
                description: String::new(),
                tags: vec![],
                ext_id: vec![],
                attrs: vec![],
            }
        }
    }
}
