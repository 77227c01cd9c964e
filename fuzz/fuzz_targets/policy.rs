//! The policy texts: role and action lists, encryption contexts (`k=v,k2=v2`), the store's
//! escaped `key=value` lines that hold key tags and grant conditions, and the names of specs,
//! usages, states, actions and algorithms; then the access decision over what parsed.
//! Input: NUL-separated fields: roles, actions, request context, grant condition (key and
//! value strings separated by U+0001, as the C API passes them), stored pairs text, a name.
#![no_main]

use kms::core::ciphertext::parse_context;
use kms::core::crypto::{HashAlg, SignAlg};
use kms::core::policy::{decide, role_allows, Decision};
use kms::core::{
    Action, ActionSet, GrantRecord, IdentityRecord, KeySpec, KeyState, Outcome, Roles, Usage,
};
use kms::fuzz_api;
use libfuzzer_sys::fuzz_target;

fn names(text: &str) {
    if let Ok(s) = KeySpec::parse(text) {
        assert_eq!(KeySpec::parse(s.name()).ok(), Some(s));
    }
    if let Ok(u) = Usage::parse(text) {
        assert_eq!(Usage::parse(&u.names().join(",")).ok(), Some(u));
    }
    if let Ok(s) = KeyState::parse(text) {
        assert_eq!(KeyState::parse(s.name()).ok(), Some(s));
    }
    if let Ok(a) = Action::parse(text) {
        assert_eq!(Action::from_code(a.code()).ok(), Some(a));
    }
    if let Ok(h) = HashAlg::parse(text) {
        assert_eq!(HashAlg::parse(h.name()).ok(), Some(h));
    }
    if let Ok(a) = SignAlg::parse(text) {
        assert_eq!(SignAlg::parse(a.name()).ok(), Some(a));
    }
    if let Some(o) = Outcome::parse(text) {
        assert_eq!(o.name(), text);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut f = text.split('\0');
    let mut field = || f.next().unwrap_or("");
    let (roles, actions, ctx, cond, stored, name) =
        (field(), field(), field(), field(), field(), field());

    let roles = Roles::parse(roles).ok();
    if let Some(r) = roles {
        assert_eq!(Roles::parse(&r.names().join(",")).ok(), Some(r));
    }
    let actions = ActionSet::parse(actions).ok();
    if let Some(a) = actions {
        let list: Vec<_> = a.actions().iter().map(|x| x.name()).collect();
        assert_eq!(ActionSet::parse(&list.join(",")).ok(), Some(a));
    }
    let ctx = parse_context(ctx).ok();
    if let Some(c) = &ctx {
        let again: Vec<_> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(parse_context(&again.join(",")).ok().as_ref(), Some(c));
    }

    // A grant condition as the C API takes it: any strings; stored and read back unchanged.
    let mut parts = cond.split('\u{1}');
    let mut condition = Vec::new();
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        condition.push((k.to_string(), v.to_string()));
    }
    assert_eq!(
        fuzz_api::decode_pairs(&fuzz_api::encode_pairs(&condition)),
        condition
    );
    // Stored text as found in a store: decoding is stable once re-encoded.
    let decoded = fuzz_api::decode_pairs(stored);
    assert_eq!(
        fuzz_api::decode_pairs(&fuzz_api::encode_pairs(&decoded)),
        decoded
    );

    names(name);

    if let (Some(roles), Some(actions), Some(ctx)) = (roles, actions, ctx) {
        let identity = IdentityRecord {
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
        };
        let grant = GrantRecord {
            id: 1,
            keyring: 1,
            identity: "alice".into(),
            key_id: None,
            actions,
            expires: None,
            max_uses: None,
            uses: 0,
            context: condition,
            created: 0,
        };
        for a in Action::ALL {
            let d = decide(&identity, std::slice::from_ref(&grant), a, None, &ctx, 0);
            let allowed = matches!(d, Decision::Allow { .. });
            if role_allows(roles, a) {
                assert!(allowed);
            }
            // Default deny: no role and no grant for the action is a denial.
            if !role_allows(roles, a) && !actions.contains(a) {
                assert!(!allowed);
            }
        }
    }
});
