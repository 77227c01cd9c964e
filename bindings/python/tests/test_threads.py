"""Several threads sharing one Kms (ctypes releases the GIL during each C call)."""

import threading

import kms


def test_threads_share_one_context(owner: kms.Kms):
    key = owner.create_key("AES-256")
    errors = []

    def work(i: int) -> None:
        try:
            for j in range(40):
                ctx = {"thread": str(i), "n": str(j)}
                msg = f"{i}-{j}".encode()
                ct = key.encrypt(msg, ctx)
                assert owner.decrypt(ct, ctx) == msg
                with key.generate_data_key(ctx) as dk:
                    with owner.decrypt_data_key(dk.wrapped, ctx) as again:
                        assert bytes(again) == bytes(dk)
                try:
                    owner.decrypt(ct, {"thread": "other"})
                except kms.InvalidCiphertext as e:
                    assert e.code == 9
                else:
                    raise AssertionError("wrong context decrypted")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert owner.audit_verify().ok


def test_close_while_threads_run(store):
    k = kms.Kms.open_default_owner(store)
    key = k.create_key("AES-256")
    stop = threading.Event()
    outcomes = []

    def work() -> None:
        while not stop.is_set():
            try:
                key.encrypt(b"x")
            except (kms.InvalidHandle, ValueError) as e:
                outcomes.append(type(e))
                return

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    k.close()
    stop.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
