"""Agent credentials: one-time registration secrets and the signed JWT access tokens agents use.

Access tokens are signed with the control plane's asymmetric key (settings
AGENT_JWT_PRIVATE_KEY) and verified with it or any key in AGENT_JWT_PUBLIC_KEYS, chosen by
the token's `kid`: the RFC 7638 thumbprint of the public key, so every process derives the
same key ids from the same keys. Nothing here touches the database; `clusters.services`
checks a verified token against its agent (enabled, same token generation).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings

from .protocol import TOKEN_AUDIENCE

REGISTRATION_TOKEN_PREFIX = "igr_"  # noqa: S105 (a prefix)
MAX_TOKEN_LENGTH = 4096
_PUBLIC_KEY_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)


# --- Registration secrets -----------------------------------------------------------------


def new_registration_secret() -> tuple[str, str]:
    """A fresh registration secret (256 random bits) and the hash that is stored instead."""
    secret = REGISTRATION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_registration_secret(secret)


def hash_registration_secret(secret: str) -> str:
    """SHA-256 of a registration secret; the secret is random, so no slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


# --- Claims -------------------------------------------------------------------------------


class InvalidAgentToken(Exception):
    """An access token that does not authenticate; the message never contains the token."""


@dataclass(frozen=True)
class AccessClaims:
    agent_id: int
    cluster_id: int
    generation: int
    issued_at: datetime
    expires_at: datetime


# --- Signing keys -------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentKey:
    """A verification key (and, for the signing key, its private half)."""

    key_id: str
    algorithm: str
    public_key: Any
    private_key: Any = None


@dataclass(frozen=True)
class AgentKeySet:
    signing: AgentKey
    by_key_id: dict[str, AgentKey]
    issuer: str
    # Tokens whose signature and claims these keys verified, newest last (see _remember).
    verified: OrderedDict[str, AccessClaims] = field(default_factory=OrderedDict, compare=False)
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)


def _algorithm(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    raise ValueError(f"unsupported agent token key type {type(key).__name__}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8 or 1, "big")


def key_id(public_key: Any) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
    else:
        numbers = public_key.public_numbers()
        members = {
            "e": _b64url(_int_bytes(numbers.e)),
            "kty": "RSA",
            "n": _b64url(_int_bytes(numbers.n)),
        }
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return _b64url(hashlib.sha256(canonical).digest())


@lru_cache(maxsize=4)
def _load_key_set(private_pem: str, public_pems: str, issuer: str) -> AgentKeySet:
    private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public_key = private_key.public_key()
    signing = AgentKey(key_id(public_key), _algorithm(public_key), public_key, private_key)
    by_key_id = {signing.key_id: signing}
    for block in _PUBLIC_KEY_BLOCK.findall(public_pems or ""):
        extra = serialization.load_pem_public_key(block.encode())
        by_key_id.setdefault(key_id(extra), AgentKey(key_id(extra), _algorithm(extra), extra))
    return AgentKeySet(signing=signing, by_key_id=by_key_id, issuer=issuer)


def key_set() -> AgentKeySet:
    """The keys from settings (validated when settings load), parsed once per configuration."""
    return _load_key_set(
        settings.AGENT_JWT_PRIVATE_KEY, settings.AGENT_JWT_PUBLIC_KEYS, settings.AGENT_JWT_ISSUER
    )


# --- Access tokens ------------------------------------------------------------------------


def issue_access_token(
    agent_id: int, cluster_id: int, generation: int, now: datetime | None = None
) -> tuple[str, datetime]:
    """A signed access token for one agent of one cluster, and when it expires."""
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + timedelta(seconds=settings.AGENT_TOKEN_TTL)
    signing = key_set().signing
    claims = {
        "iss": settings.AGENT_JWT_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": str(agent_id),
        "cluster": cluster_id,
        "gen": generation,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(
        claims,
        signing.private_key,
        algorithm=signing.algorithm,
        headers={"kid": signing.key_id, "typ": "JWT"},
    )
    return token, expires


def decode_access_token(token: str, expired_grace: int = 0) -> AccessClaims:
    """Verify an access token's signature, issuer, audience and expiry; return its claims.

    `expired_grace` (seconds) still accepts a token that expired no longer ago than that
    (token refresh only). Raises InvalidAgentToken. Agents send the same token for minutes,
    so a verified token is remembered (per key set) and only its expiry checked again.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidAgentToken("malformed token")
    keys = key_set()
    with keys.lock:
        claims = keys.verified.get(token)
    if claims is None:
        claims = _verify(token, keys)
        _remember(keys, token, claims)
    now = datetime.now(UTC)
    if claims.expires_at + timedelta(seconds=max(expired_grace, 0)) <= now:
        raise InvalidAgentToken("token expired")
    return claims


def _verify(token: str, keys: AgentKeySet) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidAgentToken("malformed token") from None
    kid = header.get("kid")
    key = keys.by_key_id.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidAgentToken("token signed by an unknown key")
    # The key decides the algorithm: a token cannot choose `none` or another family.
    if header.get("alg") != key.algorithm:
        raise InvalidAgentToken("token algorithm does not match its key")
    try:
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=[key.algorithm],
            audience=TOKEN_AUDIENCE,
            issuer=keys.issuer,
            # Expiry is checked by the caller, also for tokens remembered as verified.
            options={
                "require": ["iss", "aud", "sub", "iat", "exp", "cluster", "gen"],
                "verify_exp": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidAgentToken(f"invalid token ({type(exc).__name__})") from None
    subject, cluster, generation = claims["sub"], claims["cluster"], claims["gen"]
    exp, iat = claims["exp"], claims["iat"]
    if not (
        isinstance(subject, str)
        and subject.isdigit()
        and type(cluster) is int
        and type(generation) is int
        and type(exp) is int
        and type(iat) is int
    ):
        raise InvalidAgentToken("token claims have the wrong types")
    return AccessClaims(
        agent_id=int(subject),
        cluster_id=cluster,
        generation=generation,
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
    )


_VERIFIED_TOKENS = 20_000


def _remember(keys: AgentKeySet, token: str, claims: AccessClaims) -> None:
    with keys.lock:
        keys.verified[token] = claims
        while len(keys.verified) > _VERIFIED_TOKENS:
            keys.verified.popitem(last=False)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not authorization:
        return None
    scheme, _space, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
