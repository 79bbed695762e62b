"""OAuth client-credentials tokens as PatSnap issues them, and HTTP Basic parsing.

Tokens are random (they are secrets) and never appear in a repr. A token stays valid for
its real lifetime even after a newer one is issued, as PatSnap's gateway does.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

__all__ = ["TokenStore", "parse_basic"]

_MAX_TOKENS = 10_000  # past this, expired tokens are forgotten


@dataclass(slots=True, frozen=True)
class _Grant:
    client_id: str
    expires_at: float  #: epoch seconds


class TokenStore:
    """Issued tokens and their real expiry; `client_of` answers None when expired or unknown."""

    __slots__ = ("_grants",)

    def __init__(self) -> None:
        self._grants: dict[str, _Grant] = {}

    def issue(self, client_id: str, now: float, lifetime_s: float) -> str:
        """A new token for `client_id`, valid until `now + lifetime_s`."""
        if len(self._grants) >= _MAX_TOKENS:
            self._grants = {t: g for t, g in self._grants.items() if g.expires_at > now}
        token = secrets.token_hex(16)
        self._grants[token] = _Grant(client_id, now + lifetime_s)
        return token

    def client_of(self, token: str, now: float) -> str | None:
        """The client a live token belongs to, or None."""
        grant = self._grants.get(token)
        if grant is None or grant.expires_at <= now:
            return None
        return grant.client_id

    def __repr__(self) -> str:
        return f"TokenStore({len(self._grants)} tokens)"


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from an `Authorization: Basic ...` header, or None."""
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None
