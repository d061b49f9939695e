"""Signed URLs, exactly as the module checks them (thumbnailer/src/signature.rs).

The signed text is the path as requested (percent-encoded), ``?``, then every
query parameter except ``s``, each exactly as written in the URL, sorted by
name, then value, then the whole segment, and joined with ``&``. The
signature is HMAC-SHA256 of that text, base64url without padding (43
characters), and goes into the URL as ``s=``.

This is the package's only implementation of the payload and the signature;
everything else (template tags, warming) calls it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import quote

__all__ = [
    "canonical_query",
    "encode_path",
    "sign",
    "signed_query",
    "signing_payload",
]

# The module's parameter names (thumbnailer/src/query.rs); anything else is a
# 400 from nginx, so it is refused here first.
QUERY_NAMES = frozenset(
    ["w", "h", "fit", "g", "fp", "q", "fm", "dpr", "p", "r", "flip", "sharpen", "blur", "info"]
)


def encode_path(name: str) -> str:
    """Percent-encodes a storage name for a URL path: every byte but letters,
    digits, ``-._~`` and ``/`` (as ``image-filter-rs warm`` does)."""
    return quote(name, safe="/")


def signing_payload(path: str, query: str) -> str:
    """The text the module signs: ``path?`` and the sorted non-``s``
    parameters. Empty segments are skipped, as the module skips them."""
    params: list[tuple[str, str, str]] = []
    for segment in query.split("&"):
        if not segment:
            continue
        name, _, value = segment.partition("=")
        if name == "s":
            continue
        params.append((name, value, segment))
    params.sort()
    return path + "?" + "&".join(segment for _, _, segment in params)


def sign(key: str | bytes, path: str, query: str) -> str:
    """The ``s=`` value of ``path?query`` under ``key``."""
    raw_key = key.encode() if isinstance(key, str) else key
    mac = hmac.new(raw_key, signing_payload(path, query).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The package's one spelling of a query: parameters sorted by name (the
    order the signature is computed in), values percent-encoded except for
    the characters the module's values use (``.``, ``,``, ``-``, ``_``).
    A repeated or unknown name is a ``ValueError`` (nginx would answer 400)."""
    items = sorted(params)
    names = [name for name, _ in items]
    for name in names:
        if name not in QUERY_NAMES:
            raise ValueError(f"unknown image_filter_rs query parameter {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"repeated image_filter_rs query parameter in {names!r}")
    return "&".join(f"{name}={quote(value, safe='.,')}" for name, value in items)


def signed_query(query: str, path: str, secrets: Sequence[str]) -> str:
    """``query`` with ``&s=…`` appended when a secret is set (the first one
    signs; the others are only for nginx, which accepts any listed key)."""
    if not secrets:
        return query
    signature = sign(secrets[0], path, query)
    return f"{query}&s={signature}" if query else f"s={signature}"
