"""Reads ``kms.h`` (the cbindgen-generated C header) and turns it into ctypes declarations.

Nothing in this package retypes a C declaration: constants (``#define KMS_* <number>``),
structs (``typedef struct {...} name;``), opaque types, integer typedefs and every function
prototype come from the header shipped in the package (a copy of ``include/kms.h``). The
parser accepts exactly the subset cbindgen emits and raises :class:`HeaderError` on
anything else, so a header change that this binding does not understand fails at import
(and in the test suite) instead of producing wrong calls.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["HeaderError", "Header", "Function", "parse_header", "header_path"]


class HeaderError(Exception):
    """The header contains a construct this binding does not understand."""


# C base types cbindgen uses -> ctypes.
_BASE: Dict[str, Any] = {
    "void": None,
    "char": ctypes.c_char,
    "int": ctypes.c_int,
    "int8_t": ctypes.c_int8,
    "uint8_t": ctypes.c_uint8,
    "int16_t": ctypes.c_int16,
    "uint16_t": ctypes.c_uint16,
    "int32_t": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
    "size_t": ctypes.c_size_t,
    "bool": ctypes.c_bool,
}

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass
class Param:
    """One parameter or struct field: its C spelling and its ctypes type."""

    name: str
    ctype_text: str
    ctype: Any


@dataclass
class Function:
    """One prototype from the header."""

    name: str
    restype_text: str
    restype: Any
    params: List[Param] = field(default_factory=list)


@dataclass
class Header:
    """Everything the header declares."""

    constants: Dict[str, int]
    types: Dict[str, Any]
    structs: Dict[str, Any]
    functions: Dict[str, Function]

    def constants_with_prefix(self, prefix: str) -> Dict[str, int]:
        """``{suffix: value}`` for every constant named ``prefix + suffix``."""
        return {k[len(prefix):]: v for k, v in self.constants.items() if k.startswith(prefix)}


def header_path() -> Path:
    """The header shipped inside the package (a copy of the repository's include/kms.h)."""
    return Path(__file__).with_name("kms.h")


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _preprocess(text: str) -> Tuple[str, Dict[str, int]]:
    """Drops preprocessor lines and ``#ifdef __cplusplus`` blocks, collects numeric defines."""
    constants: Dict[str, int] = {}
    out: List[str] = []
    skipping = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            directive = line[1:].strip()
            if directive.startswith("ifdef __cplusplus"):
                skipping += 1
            elif directive.startswith(("ifndef", "ifdef", "if ")):
                if skipping:
                    skipping += 1
            elif directive.startswith("endif"):
                if skipping:
                    skipping -= 1
            elif directive.startswith("include"):
                pass
            elif directive.startswith("define"):
                m = re.fullmatch(r"define\s+(" + _IDENT + r")(?:\s+(.*))?", directive)
                if not m:
                    raise HeaderError(f"line {lineno}: cannot read {line!r}")
                name, value = m.group(1), (m.group(2) or "").strip()
                if value == "":
                    continue  # include guard
                num = re.fullmatch(r"\(?\s*(-?(?:0x[0-9A-Fa-f]+|\d+))[uUlL]*\s*\)?", value)
                if not num:
                    raise HeaderError(f"line {lineno}: non-numeric #define {name} {value}")
                if not skipping:
                    constants[name] = int(num.group(1), 0)
            else:
                raise HeaderError(f"line {lineno}: unknown directive {line!r}")
            continue
        if not skipping:
            out.append(raw)
    return "\n".join(out), constants


class _Types:
    def __init__(self) -> None:
        self.named: Dict[str, Any] = dict(_BASE)

    def resolve(self, text: str) -> Any:
        """ctypes type for a C type spelling such as ``const char *const *``."""
        t = re.sub(r"\bconst\b", " ", text)
        stars = t.count("*")
        base = t.replace("*", " ").split()
        if len(base) != 1:
            raise HeaderError(f"unsupported type {text!r}")
        name = base[0]
        if name not in self.named:
            raise HeaderError(f"unknown type {name!r} in {text!r}")
        ty = self.named[name]
        if stars == 0:
            if ty is None and name == "void":
                return None
            return ty
        if name == "char" and stars == 1:
            return ctypes.c_char_p
        if name == "void" and stars == 1:
            return ctypes.c_void_p
        if ty is None:
            ty = ctypes.c_void_p
            stars -= 1
        elif name == "char":
            ty = ctypes.c_char_p
            stars -= 1
        for _ in range(stars):
            ty = ctypes.POINTER(ty)
        return ty


def _split_decl(decl: str) -> Tuple[str, str]:
    """``"const char *name"`` -> (``"const char *"``, ``"name"``)."""
    m = re.fullmatch(r"(.*?[\s*])(" + _IDENT + r")", decl.strip(), flags=re.S)
    if not m:
        raise HeaderError(f"cannot read declaration {decl!r}")
    return " ".join(m.group(1).split()), m.group(2)


def parse_header(text: Optional[str] = None) -> Header:
    """Parses the header text (default: the packaged kms.h) into ctypes declarations."""
    if text is None:
        text = header_path().read_text(encoding="utf-8")
    body, constants = _preprocess(_strip_comments(text))
    types = _Types()
    structs: Dict[str, Any] = {}
    functions: Dict[str, Function] = {}
    typedefs: Dict[str, Any] = {}

    # Statements end with ';' at brace depth 0.
    stmts: List[str] = []
    depth, cur = 0, []
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == ";" and depth == 0:
            stmts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        raise HeaderError(f"trailing text: {''.join(cur).strip()[:80]!r}")

    for st in stmts:
        flat = " ".join(st.split())
        m = re.fullmatch(r"typedef struct (" + _IDENT + r") (" + _IDENT + r")", flat)
        if m:  # opaque type
            cls = type(m.group(2), (ctypes.Structure,), {})
            types.named[m.group(2)] = cls
            structs[m.group(2)] = cls
            continue
        m = re.fullmatch(r"typedef struct \{(.*)\} (" + _IDENT + r")", flat)
        if m:
            fields = []
            for f in m.group(1).split(";"):
                if f.strip():
                    ctext, fname = _split_decl(f)
                    fields.append((fname, types.resolve(ctext)))
            cls = type(m.group(2), (ctypes.Structure,), {"_fields_": fields})
            types.named[m.group(2)] = cls
            structs[m.group(2)] = cls
            continue
        m = re.fullmatch(r"typedef ([A-Za-z_][A-Za-z0-9_ ]*?) (" + _IDENT + r")", flat)
        if m:
            ty = types.resolve(m.group(1))
            types.named[m.group(2)] = ty
            typedefs[m.group(2)] = ty
            continue
        m = re.fullmatch(r"(.+?[\s*])(" + _IDENT + r")\s*\((.*)\)", flat)
        if m:
            ret_text = " ".join(m.group(1).split())
            fn = Function(m.group(2), ret_text, types.resolve(ret_text))
            args = m.group(3).strip()
            if args and args != "void":
                for a in args.split(","):
                    ctext, pname = _split_decl(a)
                    fn.params.append(Param(pname, ctext, types.resolve(ctext)))
            if fn.name in functions:
                raise HeaderError(f"{fn.name} declared twice")
            functions[fn.name] = fn
            continue
        raise HeaderError(f"cannot read statement {flat[:100]!r}")

    return Header(constants=constants, types=typedefs, structs=structs, functions=functions)
