"""Policy refusals with a second identity, grants, authentication, audit."""

import pytest

import kms


def test_second_identity_refusals_and_grants(owner: kms.Kms, store):
    data = owner.create_key("AES-256", name="data")
    other = owner.create_key("AES-256", name="other")
    owner.create_identity("app", "app-secret-1")
    with pytest.raises(kms.AuthenticationFailed):
        kms.Kms.open(store, identity="app", secret="wrong-secret")
    with kms.Kms.open(store, identity="app", secret=b"app-secret-1") as app:
        assert app.identity == "app"
        with pytest.raises(kms.AccessDenied) as e:
            app.encrypt("data", b"x")
        assert e.value.code == 6 and isinstance(e.value, PermissionError)
        with pytest.raises(kms.AccessDenied):
            app.create_key("AES-256")
        with pytest.raises(kms.AccessDenied):
            kms.Key(app, data.id).rotate()
        gid = owner.grant("app", ["encrypt", "decrypt"], data, context={"tenant": "acme"})
        ct = app.encrypt("data", b"ok", {"tenant": "acme"})
        assert app.decrypt(ct, {"tenant": "acme"}) == b"ok"
        with pytest.raises(kms.AccessDenied):
            app.encrypt("data", b"x", {"tenant": "evil"})
        with pytest.raises(kms.AccessDenied):
            app.encrypt(other, b"x", {"tenant": "acme"})
        grants = owner.list_grants(data)
        assert grants[0]["identity"] == "app" and grants[0]["actions"] == ["encrypt", "decrypt"]
        limited = owner.grant("app", ["encrypt"], other, max_uses=1)
        app.encrypt(other, b"once")
        with pytest.raises(kms.AccessDenied):
            app.encrypt(other, b"twice")
        owner.revoke_grant(gid)
        owner.revoke_grant(limited)
        with pytest.raises(kms.NotFound):
            owner.revoke_grant(gid)
        with pytest.raises(kms.AccessDenied):
            app.encrypt("data", b"x", {"tenant": "acme"})
        g3 = owner.grant("app", ["encrypt"], other)
        app.encrypt(other, b"ok")
        owner.disable_identity("app")
        with pytest.raises(kms.AccessDenied):
            app.encrypt(other, b"refused while disabled")
        owner.enable_identity("app")
        app.encrypt(other, b"ok again")
        owner.revoke_grant(g3)
        with pytest.raises(kms.AccessDenied):
            app.audit_verify()
    owner.set_identity_secret("app", "new-secret-2")
    owner.unlock_identity("app")
    with kms.Kms.open(store, identity="app", secret="new-secret-2"):
        pass
    owner.delete_identity("app")
    with pytest.raises(kms.AuthenticationFailed):
        kms.Kms.open(store, identity="app", secret="new-secret-2")


def test_auditor_role(owner: kms.Kms, store):
    owner.create_identity("auditor", "audit-secret", ["auditor"])
    key = owner.create_key("AES-256")
    key.encrypt(b"x")
    owner.close()
    with kms.Kms.open(store, identity="auditor", secret="audit-secret") as a:
        assert a.audit_verify().ok
        with pytest.raises(kms.AccessDenied):
            a.encrypt(key.id, b"x")


def test_audit_query_export_verify_checkpoint(owner: kms.Kms, tmp_path, store):
    key = owner.create_key("AES-256")
    ct = key.encrypt(b"x")
    with pytest.raises(kms.InvalidCiphertext):
        owner.decrypt(ct, {"wrong": "ctx"})
    owner.flush()  # batched usage records now visible to a second context
    with kms.Kms.open_default_owner(store) as k:
        recs = k.audit_query(key=key)
        actions = [r["action"] for r in recs]
        assert "create" in actions[0] or actions[0].startswith("create")
        assert "encrypt" in actions and "decrypt" in actions
        assert any(r["outcome"] != "ok" for r in recs if r["action"] == "decrypt")
        assert all("x" != r.get("plaintext") for r in recs)
        last = k.audit_query(limit=1, descending=True)
        assert len(last) == 1
        n = k.audit_export(tmp_path / "audit.jsonl")
        assert n == len((tmp_path / "audit.jsonl").read_text().splitlines()) and n >= len(recs)
        with open(tmp_path / "fd.jsonl", "w") as f:
            assert k.audit_export(f.fileno(), limit=2) == 2
        rep = k.audit_verify()
        assert rep.ok and rep.records >= n - 1 and rep.problem_seq == 0
        cp = b"0123456789abcdef0123456789abcdef"
        assert k.audit_checkpoint(cp) > 0
        rep = k.audit_verify(cp)
        assert rep.ok and rep.checkpoints >= 1
        with pytest.raises(kms.InvalidArgument):
            k.audit_checkpoint(b"short")
