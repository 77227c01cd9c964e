"""PyKCS11 drives libkms through a key's life, in two phases around a rotation made by the
core (the Rust test that runs this script rotates the key in between):

  python3 lifecycle.py <libkms.so> create <dir>   token, user, key, encrypt (ct in <dir>)
  python3 lifecycle.py <libkms.so> rotated <dir>  two versions seen, the old one refuses to
                                                   encrypt but decrypts; the new one encrypts;
                                                   destroying hides the key
KMS_STORE names the store; each phase prints OK at the end.
"""
import os
import sys

import PyKCS11
from PyKCS11 import (CKA_CLASS, CKA_DECRYPT, CKA_ENCRYPT, CKA_ID, CKA_LABEL, CKA_TOKEN,
                     CKA_VALUE_LEN, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKM_AES_CBC_PAD,
                     CKM_AES_KEY_GEN, CKO_SECRET_KEY, CKU_SO)

CKA_KMS_VERSION = 0x80000000 | 0x4B4D0001
CKA_KMS_PRIMARY = 0x80000000 | 0x4B4D0002
FREE_SLOT = 0x7FFFFFFF

lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
phase, work = sys.argv[2], sys.argv[3]
iv = bytes(range(16))
mech = PyKCS11.Mechanism(CKM_AES_CBC_PAD, iv)


def ulong(v):
    return int.from_bytes(bytes(v), "little")


if phase == "create":
    assert FREE_SLOT in lib.getSlotList(tokenPresent=True)
    lib.initToken(FREE_SLOT, "py-so-pin", "pytok".ljust(32))
slot = [s for s in lib.getSlotList() if lib.getTokenInfo(s).label.strip() == "pytok"][0]
s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)

if phase == "create":
    s.login("py-so-pin", CKU_SO)
    s.initPin("py-user-pin")
    s.logout()
    s.login("py-user-pin")
    key = s.generateKey([(CKA_CLASS, CKO_SECRET_KEY), (CKA_TOKEN, True), (CKA_LABEL, "pykey"),
                         (CKA_ID, (0x70, 0x79)), (CKA_VALUE_LEN, 32), (CKA_ENCRYPT, True),
                         (CKA_DECRYPT, True)], PyKCS11.Mechanism(CKM_AES_KEY_GEN))
    ct1 = bytes(s.encrypt(key, b"version one data", mech))
    assert bytes(s.decrypt(key, ct1, mech)) == b"version one data"
    found = s.findObjects([(CKA_LABEL, "pykey")])
    assert len(found) == 1, found
    assert ulong(s.getAttributeValue(found[0], [CKA_KMS_VERSION])[0]) == 1
    open(os.path.join(work, "ct1"), "wb").write(ct1)
else:
    s.login("py-user-pin")
    ct1 = open(os.path.join(work, "ct1"), "rb").read()
    found = s.findObjects([(CKA_LABEL, "pykey")])
    assert len(found) == 2, found
    new, old = found
    assert ulong(s.getAttributeValue(new, [CKA_KMS_VERSION])[0]) == 2
    assert bytes(s.getAttributeValue(new, [CKA_KMS_PRIMARY])[0]) == b"\x01"
    assert ulong(s.getAttributeValue(old, [CKA_KMS_VERSION])[0]) == 1
    # the primary version is found by the key's CKA_ID, the old one by its suffixed id
    assert [o.value() for o in s.findObjects([(CKA_ID, (0x70, 0x79))])] == [new.value()]
    assert bytes(s.decrypt(old, ct1, mech)) == b"version one data"
    try:
        s.encrypt(old, b"x", mech)
        raise SystemExit("an old version still encrypts")
    except PyKCS11.PyKCS11Error as e:
        assert e.value == PyKCS11.CKR_KEY_FUNCTION_NOT_PERMITTED, e
    ct2 = bytes(s.encrypt(new, b"version two data", mech))
    assert bytes(s.decrypt(new, ct2, mech)) == b"version two data"
    s.destroyObject(new)
    assert s.findObjects([(CKA_LABEL, "pykey")]) == []
    try:
        s.encrypt(new, b"x", mech)
        raise SystemExit("a destroyed key still encrypts")
    except PyKCS11.PyKCS11Error:
        pass
s.logout()
s.closeSession()
print("OK")
