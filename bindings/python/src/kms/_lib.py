"""Finds and loads libkms.so and binds every function of the packaged kms.h to it.

Search order: ``$KMS_LIBRARY`` (a file, or a directory holding libkms.so), the package
folder, then the system (``ctypes.util.find_library("kms")`` and plain ``libkms.so``, which
honours ``LD_LIBRARY_PATH`` and the ld.so cache). The error lists every place tried.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import Any, List, Optional

from ._cdecl import Header, parse_header

__all__ = ["LibraryNotFound", "Lib", "lib", "header"]

_NAME = "libkms.so"


class LibraryNotFound(OSError):
    """libkms.so could not be loaded from any place tried (listed in the message)."""


class Lib:
    """The loaded library: ``lib.kms_encrypt(...)`` etc. exist for every prototype in the
    header, with ``argtypes``/``restype`` taken from it. A name not declared in the header
    is an AttributeError even if the library happens to export it."""

    def __init__(self, cdll: ctypes.CDLL, hdr: Header, path: str) -> None:
        self.path = path
        self.header = hdr
        missing = []
        for fn in hdr.functions.values():
            try:
                f = getattr(cdll, fn.name)
            except AttributeError:
                missing.append(fn.name)
                continue
            f.argtypes = [p.ctype for p in fn.params]
            f.restype = fn.restype
            setattr(self, fn.name, f)
        if missing:
            raise LibraryNotFound(
                f"{path} does not export {', '.join(missing)} declared in kms.h: "
                "the library and the header of this package are from different builds"
            )


def _candidates() -> List[str]:
    out: List[str] = []
    env = os.environ.get("KMS_LIBRARY")
    if env:
        p = Path(env)
        out.append(str(p / _NAME) if p.is_dir() else str(p))
    out.append(str(Path(__file__).with_name(_NAME)))
    found = ctypes.util.find_library("kms")
    if found:
        out.append(found)
    out.append(_NAME)
    return out


def _load() -> Lib:
    hdr = parse_header()
    tried = []
    for cand in _candidates():
        if os.sep in cand and not os.path.exists(cand):
            tried.append(f"  {cand}: no such file")
            continue
        try:
            cdll = ctypes.CDLL(cand)
        except OSError as e:
            tried.append(f"  {cand}: {e}")
            continue
        return Lib(cdll, hdr, cand)
    raise LibraryNotFound(
        "libkms.so not found; tried (in order: $KMS_LIBRARY, the package folder, the system "
        "path):\n" + "\n".join(tried) + "\nSet KMS_LIBRARY to the library's path."
    )


_lock = threading.Lock()
_lib: Optional[Lib] = None


def lib() -> Lib:
    """The loaded library (loaded on first use)."""
    global _lib
    with _lock:
        if _lib is None:
            _lib = _load()
        return _lib


def header() -> Header:
    """The parsed packaged header (without loading the library)."""
    return parse_header()


