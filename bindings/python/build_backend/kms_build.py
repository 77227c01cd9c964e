"""A minimal PEP 517 build backend (standard library only) for the pure-Python ``kms``
package, so that ``pip install ./bindings/python`` needs no network and no setuptools or
wheel: the build requires nothing. It packs ``src/kms`` into a ``py3-none-any`` wheel,
resolving ``src/kms/kms.h`` (a symlink to the repository's include/kms.h) to its content so
the installed package carries the exact header it was built from. A ``libkms.so`` placed in
``src/kms`` is packed too (the package folder is the second place the binding looks).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "kms"
_INCLUDE = (".py", ".h", ".typed", ".so")


def _meta() -> Tuple[str, str, str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")

    def field(name: str) -> str:
        m = re.search(rf'^{name}\s*=\s*"([^"]*)"', text, flags=re.M)
        if not m:
            raise RuntimeError(f"pyproject.toml: no {name}")
        return m.group(1)

    return field("name"), field("version"), field("description")


def _metadata() -> str:
    name, version, desc = _meta()
    readme = (ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else ""
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {desc}\n"
        f"Requires-Python: >=3.8\nProvides-Extra: test\nRequires-Dist: pytest; extra == \"test\"\n"
        f"Description-Content-Type: text/markdown\n\n{readme}"
    )


def _files() -> List[Tuple[str, bytes]]:
    out = []
    for p in sorted(PKG.rglob("*")):
        if p.is_dir() or "__pycache__" in p.parts or not p.name.endswith(_INCLUDE):
            continue
        if p.name == "kms.h" and not p.exists():
            raise RuntimeError(f"{p} is a broken symlink: build from the repository checkout")
        out.append((p.relative_to(PKG.parent).as_posix(), p.read_bytes()))
    if not any(n == "kms/kms.h" for n, _ in out):
        raise RuntimeError("src/kms/kms.h missing")
    return out


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


get_requires_for_build_editable = get_requires_for_build_wheel


def _dist_info(name: str, version: str) -> str:
    return f"{name}-{version}.dist-info"


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: Optional[Dict[str, Any]] = None) -> str:
    name, version, _ = _meta()
    d = Path(metadata_directory) / _dist_info(name, version)
    d.mkdir(parents=True, exist_ok=True)
    (d / "METADATA").write_text(_metadata(), encoding="utf-8")
    return d.name


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def _write_wheel(wheel_directory: str, files: List[Tuple[str, bytes]]) -> str:
    name, version, _ = _meta()
    di = _dist_info(name, version)
    files = files + [
        (f"{di}/METADATA", _metadata().encode()),
        (f"{di}/WHEEL", b"Wheel-Version: 1.0\nGenerator: kms_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{di}/top_level.txt", b"kms\n"),
    ]
    record = "\n".join([_record_line(n, d) for n, d in files] + [f"{di}/RECORD,,", ""])
    whl = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / whl, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files + [(f"{di}/RECORD", record.encode())]:
            info = zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o644 & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, d)
    return whl


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, _files())


def build_editable(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                   metadata_directory: Optional[str] = None) -> str:
    """An editable install: a .pth file pointing at src/."""
    return _write_wheel(wheel_directory, [("kms_editable.pth", (str(PKG.parent) + "\n").encode())])


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    name, version, _ = _meta()
    base = f"{name}-{version}"
    out = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / out, "w:gz") as t:
        def add(arc: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{base}/{arc}")
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
        for rel in ("pyproject.toml", "README.md", "build_backend/kms_build.py"):
            add(rel, (ROOT / rel).read_bytes())
        for n, d in _files():  # kms.h as a regular file, resolved
            add(f"src/{n}", d)
        for p in sorted((ROOT / "tests").glob("*.py")):
            add(f"tests/{p.name}", p.read_bytes())
        add("PKG-INFO", _metadata().encode())
    return out


if os.environ.get("KMS_BUILD_DEBUG"):
    print("kms_build:", ROOT)
