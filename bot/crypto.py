"""X tokens at rest: Fernet with key rotation (the first key encrypts, every key decrypts)."""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # cryptography's Rust core costs about 7 MiB of memory: loaded at the first token
    # encrypted or decrypted, not by a bot that has none to handle yet (README "Performance").
    from cryptography.fernet import MultiFernet


def is_fernet_key(key: str) -> bool:
    """A Fernet key: 32 bytes in URL-safe base64 (the check `cryptography.fernet.Fernet` makes,
    without importing it)."""
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def new_fernet_key() -> bytes:
    """A fresh key, made as `Fernet.generate_key` makes one."""
    return base64.urlsafe_b64encode(os.urandom(32))


class TokenUnreadable(Exception):
    """Stored ciphertext no key can open (the key was rotated away or DATA_DIR was lost)."""


class TokenCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one key is required")
        if not all(is_fernet_key(key) for key in keys):
            raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")
        self._keys = keys
        self._opened: MultiFernet | None = None

    @property
    def _fernet(self) -> MultiFernet:
        if self._opened is None:
            from cryptography.fernet import Fernet, MultiFernet

            self._opened = MultiFernet([Fernet(key.encode()) for key in self._keys])
        return self._opened

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenUnreadable(
                "stored token cannot be decrypted with the configured keys"
            ) from None
