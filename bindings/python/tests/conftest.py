"""Fixtures: a fresh store per test, opened as its owner."""

import os
from pathlib import Path
from typing import Iterator

import pytest

# Allow a 0-day deletion window (crypto-shredding tests) and keep Argon2id cheap enough.
os.environ.setdefault("KMS_MIN_DELETION_DAYS", "0")

import kms  # noqa: E402


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "kms.db"


@pytest.fixture
def owner(store: Path) -> Iterator[kms.Kms]:
    with kms.Kms.open_default_owner(store) as k:
        yield k
