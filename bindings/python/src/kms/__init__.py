"""libkms for Python: an in-process key management service.

>>> import kms
>>> with kms.Kms.open_default_owner("/tmp/demo/kms.db") as k:
...     key = k.create_key("AES-256", name="orders")
...     ct = key.encrypt(b"4111 1111 1111 1111", context={"table": "orders", "row": "7"})
...     assert k.decrypt(ct, {"table": "orders", "row": "7"}) == b"4111 1111 1111 1111"

Declarations come from the packaged copy of ``include/kms.h`` (``kms._cdecl``); the library
is found through ``$KMS_LIBRARY``, the package folder, then the system path.
"""

from .client import (AuditReport, Context, DataKey, Key, KeyRef, Kms, SecretBuffer, Signed, Stream,
                     status_str, version, version_number)
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from ._lib import LibraryNotFound

__all__ = ["Kms", "Key", "DataKey", "SecretBuffer", "Stream", "AuditReport", "Signed", "Context",
           "KeyRef", "version", "version_number", "status_str", "LibraryNotFound"] + list(_errors_all)
__version__ = "0.1.0"
