"""``X-Hub-Signature-256``: GitHub signs each delivery's raw body with the webhook secret.

The check runs on the raw bytes before anything parses them, and compares in constant time
(``hmac.compare_digest``) so the time a wrong signature takes tells an attacker nothing.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends for ``body`` (tests and the bench sign with it too)."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only for a well-formed ``sha256=<hex>`` header that matches ``body``."""
    if not header or not header.startswith(PREFIX):
        return False
    expected = sign(secret, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))
