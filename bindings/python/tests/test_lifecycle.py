"""Key lifecycle, crypto, rotation, data keys, streams, secrets."""

import pytest

import kms

CTX = {"tenant": "acme", "purpose": "test"}


def test_full_lifecycle(owner: kms.Kms):
    assert owner.identity == "owner"
    key = owner.create_key("AES-256", name="orders", description="test", tags={"app": "t"})
    d = key.describe()
    assert d["id"] == key.id and d["name"] == "orders" and d["state"] == "active"
    assert d["tags"] == {"app": "t"}
    assert owner.key("orders") == key

    ct = key.encrypt(b"card 4111", CTX)
    assert len(ct) == len(b"card 4111") + 43
    assert owner.decrypt(ct, CTX) == b"card 4111"
    assert key.decrypt(bytearray(ct), dict(reversed(list(CTX.items())))) == b"card 4111"
    with pytest.raises(kms.InvalidCiphertext) as e:
        owner.decrypt(ct, {"tenant": "evil", "purpose": "test"})
    assert e.value.code == 9 and e.value.message
    with pytest.raises(kms.InvalidCiphertext):
        owner.decrypt(ct[:-1] + bytes([ct[-1] ^ 1]), CTX)

    key.disable()
    assert key.state == "suspended"
    with pytest.raises(kms.KeyStateError) as e:
        key.encrypt(b"x")
    assert e.value.code == 4
    key.enable()
    assert key.encrypt(b"", None)

    key.schedule_deletion(7)
    assert key.state == "pending-deletion" or key.state.startswith("pending")
    with pytest.raises(kms.KeyStateError):
        owner.decrypt(ct, CTX)
    key.cancel_deletion()
    assert owner.decrypt(ct, CTX) == b"card 4111"

    names = [k["name"] for k in owner.list_keys()]
    assert names == ["orders"]
    assert owner.list_keys(name_prefix="nope") == []
    with pytest.raises(kms.NotFound):
        owner.key("missing")
    with pytest.raises(kms.AlreadyExists):
        owner.create_key("AES-256", name="orders")
    with pytest.raises(ValueError):
        owner.create_key("DES")


def test_crypto_shredding(owner: kms.Kms):
    key = owner.create_key("AES-256")
    ct = key.encrypt(b"gone soon")
    key.schedule_deletion(0)
    key.destroy()
    assert key.describe()["state"] == "destroyed"
    with pytest.raises(kms.KeyStateError):
        owner.decrypt(ct)


def test_rotation_and_reencrypt(owner: kms.Kms):
    key = owner.create_key("AES-256", name="rot")
    old = key.encrypt(b"v1 data", CTX)
    assert key.rotate() == 2
    assert key.describe()["primary_version"] == 2
    assert owner.decrypt(old, CTX) == b"v1 data"
    new = owner.reencrypt(old, CTX)
    assert new != old and owner.decrypt(new, CTX) == b"v1 data"
    other = owner.create_key("AES-256")
    moved = other.reencrypt(old, CTX)
    assert owner.decrypt(moved, CTX) == b"v1 data"
    key.set_min_decrypt_version(2)
    with pytest.raises(kms.KeyStateError):
        owner.decrypt(old, CTX)
    assert owner.decrypt(new, CTX) == b"v1 data"


def test_data_key_is_wiped_on_close(owner: kms.Kms):
    key = owner.create_key("AES-256")
    with key.generate_data_key(CTX) as dk:
        assert len(dk) == 32 and len(dk.plaintext) == 32
        first = bytes(dk.plaintext)
        wrapped = dk.wrapped
    assert dk.closed
    with pytest.raises(ValueError):
        dk.view()
    with owner.decrypt_data_key(wrapped, CTX) as again:
        assert bytes(again) == first
    with pytest.raises(kms.InvalidCiphertext):
        owner.decrypt_data_key(wrapped, {"tenant": "other"})
    w = owner.generate_data_key_without_plaintext(key, CTX, length=16)
    with owner.decrypt_data_key(w, CTX) as k16:
        assert len(k16) == 16
    dk2 = key.generate_data_key()
    dk2.close()
    dk2.close()  # idempotent


def test_sign_mac_wrap_derive_random(owner: kms.Kms):
    ec = owner.create_key("EC-P256")
    sig = ec.sign(b"msg", "ECDSA_SHA256")
    assert sig.version == 1
    assert ec.verify(b"msg", sig, "ECDSA_SHA256")
    assert not ec.verify(b"other", sig, "ECDSA_SHA256")
    assert ec.public_key().startswith(b"\x30")
    hm = owner.create_key("HMAC-SHA256")
    m = hm.mac(b"data")
    assert len(m.value) == 32 and hm.verify_mac(b"data", m) and not hm.verify_mac(b"dat", m)
    with pytest.raises(kms.KeyUsageError):
        hm.encrypt(b"x")
    wk = owner.create_key("AES-256", usage=["wrap", "unwrap"])
    w = wk.wrap(b"k" * 32)
    with owner.unwrap(w) as u:
        assert bytes(u) == b"k" * 32
    dkey = owner.create_key("HMAC-SHA256", usage=["derive"])
    with dkey.derive(48, salt=b"s", info=b"i") as a, dkey.derive(48, salt=b"s", info=b"i") as b:
        assert len(a) == 48 and bytes(a) == bytes(b)
    r = owner.random(16)
    assert len(r) == 16 and r != owner.random(16)


def test_streams_and_files(owner: kms.Kms, tmp_path):
    key = owner.create_key("AES-256")
    src = tmp_path / "plain.bin"
    data = owner.random(1 << 16) * 5 + b"tail"
    src.write_bytes(data)
    owner.encrypt_file(key, src, tmp_path / "enc.bin", CTX)
    owner.decrypt_file(tmp_path / "enc.bin", tmp_path / "dec.bin", CTX)
    assert (tmp_path / "dec.bin").read_bytes() == data
    enc = bytearray((tmp_path / "enc.bin").read_bytes())
    enc[-20] ^= 1
    (tmp_path / "bad.bin").write_bytes(bytes(enc))
    with pytest.raises(kms.InvalidCiphertext):
        owner.decrypt_file(tmp_path / "bad.bin", tmp_path / "out.bin", CTX)
    assert not (tmp_path / "out.bin").exists()
    with owner.encrypt_stream(key) as s:
        ct = s.update(b"abc") + s.final()
    with owner.decrypt_stream() as s:
        assert s.update(ct) + s.final() == b"abc"


def test_secrets(owner: kms.Kms):
    key = owner.create_key("AES-256", name="secrets")
    assert owner.put_secret("db/password", "hunter2", key) == 1
    assert owner.put_secret("db/password", b"hunter3", "secrets") == 2
    assert owner.get_secret("db/password") == b"hunter3"
    assert owner.get_secret("db/password", 1) == b"hunter2"
    with owner.get_secret_buffer("db/password") as b:
        assert bytes(b) == b"hunter3"
    listed = owner.list_secrets("db/password")
    assert [v["version"] for v in listed] == [1, 2]
    assert all("value" not in v for v in listed)
    assert owner.delete_secret("db/password") == 2
    with pytest.raises(kms.NotFound):
        owner.get_secret("db/password")


def test_closed_context(store):
    k = kms.Kms.open_default_owner(store)
    key = k.create_key()
    k.close()
    k.close()
    with pytest.raises(ValueError):
        key.encrypt(b"x")
