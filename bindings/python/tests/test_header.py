"""The binding and the header agree: the declarations come from kms.h and every function,
status and struct of the header is covered."""

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import kms
from kms import _cdecl, client, errors

REPO = Path(__file__).resolve().parents[3]
REPO_HEADER = REPO / "include" / "kms.h"
PKG = Path(kms.__file__).parent


def test_installed_header_is_the_repository_header():
    assert REPO_HEADER.exists(), REPO_HEADER
    assert (PKG / "kms.h").read_bytes() == REPO_HEADER.read_bytes(), (
        f"{PKG / 'kms.h'} differs from {REPO_HEADER}: reinstall the binding"
    )


def test_testing_the_installed_package():
    if os.environ.get("KMS_TEST_INSTALLED") != "1":
        pytest.skip("only under tests/bindings_python.rs")
    assert "site-packages" in str(PKG), f"imported kms from {PKG}, not from the venv"


def _sources() -> str:
    return "".join((PKG / f).read_text() for f in ("client.py", "errors.py", "_lib.py", "__init__.py"))


def test_every_header_function_is_used_and_every_used_function_is_declared():
    hdr = _cdecl.parse_header(REPO_HEADER.read_text())
    declared = set(hdr.functions)
    src = _sources()
    used = set(re.findall(r"\bkms_[a-z0-9_]+\b", src)) & {n for n in re.findall(r"\bkms_[a-z_0-9]+", src)}
    # names of C types/structs are not functions
    used -= set(hdr.structs) | set(hdr.types) | {"kms_error", "kms_buffer"}
    unused = sorted(n for n in declared if not re.search(r"[\"'.]" + n + r"\b", src))
    assert not unused, f"functions of kms.h the Python binding does not wrap: {unused}"
    unknown = sorted(n for n in used if n not in declared and not n.startswith("kms_test"))
    assert not unknown, f"functions the binding calls that kms.h does not declare: {unknown}"


def test_every_status_has_an_exception_class():
    consts = _cdecl.parse_header(REPO_HEADER.read_text()).constants_with_prefix("KMS_ERR_")
    assert set(consts) == set(errors.BY_STATUS_NAME), (
        f"missing: {set(consts) - set(errors.BY_STATUS_NAME)}, extra: {set(errors.BY_STATUS_NAME) - set(consts)}"
    )
    for name, code in consts.items():
        cls = errors.error_class(code)
        assert cls is errors.BY_STATUS_NAME[name] and issubclass(cls, kms.KmsError)
        assert kms.status_str(code)
    assert errors.error_class(9999) is kms.KmsError


def test_library_exports_every_declared_function():
    lib = kms._lib.lib()
    for name in lib.header.functions:
        assert callable(getattr(lib, name))


def test_struct_layout_matches_the_c_compiler(tmp_path):
    """sizeof/offsetof of every struct as ctypes lays it out == as the C compiler does."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler")
    hdr = _cdecl.parse_header(REPO_HEADER.read_text())
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "kms.h"', "int main(void) {"]
    expect = []
    for name, cls in hdr.structs.items():
        if not getattr(cls, "_fields_", None):
            continue  # opaque
        lines.append(f'printf("{name} %zu\\n", sizeof({name}));')
        expect.append(f"{name} {ctypes.sizeof(cls)}")
        for fname, _ in cls._fields_:
            lines.append(f'printf("{name}.{fname} %zu\\n", offsetof({name}, {fname}));')
            expect.append(f"{name}.{fname} {getattr(cls, fname).offset}")
    lines += ["return 0; }"]
    (tmp_path / "layout.c").write_text("\n".join(lines))
    subprocess.run([cc, "-std=c99", "-I", str(REPO_HEADER.parent), str(tmp_path / "layout.c"),
                    "-o", str(tmp_path / "layout")], check=True)
    out = subprocess.run([str(tmp_path / "layout")], check=True, capture_output=True, text=True).stdout
    assert out.split("\n")[:-1] == expect


def test_parser_rejects_what_it_does_not_understand():
    with pytest.raises(_cdecl.HeaderError):
        _cdecl.parse_header("typedef union { int a; } u;")
    with pytest.raises(_cdecl.HeaderError):
        _cdecl.parse_header("float kms_f(float x);")
    with pytest.raises(_cdecl.HeaderError):
        _cdecl.parse_header("#define KMS_X \"text\"\n")


def test_enum_names_come_from_the_header():
    assert client._enum("KMS_SPEC_", "AES-256", "spec") == kms._lib.lib().header.constants["KMS_SPEC_AES256"]
    assert client._enum("KMS_SPEC_", "EC-P256", "spec") == kms._lib.lib().header.constants["KMS_SPEC_EC_P256"]
    assert client._enum("KMS_ACTION_", "generate-data-key", "a") == kms._lib.lib().header.constants["KMS_ACTION_GENERATE_DATA_KEY"]
    with pytest.raises(ValueError, match="aes256"):
        client._enum("KMS_SPEC_", "DES", "key spec")


def test_missing_library_lists_every_place_tried(tmp_path):
    env = dict(os.environ, KMS_LIBRARY=str(tmp_path / "nope" / "libkms.so"), LD_LIBRARY_PATH="",
               PYTHONPATH=str(PKG.parent))
    r = subprocess.run([sys.executable, "-c", "import kms; kms.version()"], env=env, cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "LibraryNotFound" in r.stderr
    assert str(tmp_path / "nope" / "libkms.so") in r.stderr
    assert str(PKG / "libkms.so") in r.stderr
    assert "KMS_LIBRARY" in r.stderr
