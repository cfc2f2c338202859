"""Sign-in with Keycloak (OIDC): the console's login and logout, the backend that turns claims
into a user and role grants, and the bearer-token authentication of the REST API."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from catalog.models import Customer, Gateway, Product, Tenant

from .models import ROLE_SCOPES, OIDCIdentity, Role, RoleGrant, Scope
from .rbac import forget_cached_grants, replace_identity_grants

logger = logging.getLogger(__name__)

# --- claims to grants ---------------------------------------------------------------------------

DEFAULT_GRANT_RULES: list[dict] = [
    {"claim": "groups", "match": "/tenants/{tenant}/{role}"},
    {"claim": "groups", "match": "/tenants/{tenant}/gateways/{gateway}/{role}"},
    {"claim": "groups", "match": "/tenants/{tenant}/products/{product}/{role}"},
    {"claim": "groups", "match": "/tenants/{tenant}/customers/{customer}/{role}"},
    {"claim": "realm_access.roles", "match": "system-admin", "role": "system-admin"},
    {"claim": "resource_access.{client_id}.roles", "match": "system-admin", "role": "system-admin"},
    {
        "claim": "realm_access.roles",
        "match": "{role}",
        "tenants": {"claim": "groups", "match": "/tenants/{tenant}"},
    },
    {
        "claim": "resource_access.{client_id}.roles",
        "match": "{role}",
        "tenants": {"claim": "groups", "match": "/tenants/{tenant}"},
    },
]

_PLACEHOLDER_RE = re.compile(r"\{(role|tenant|gateway|product|customer)\}")
_RULE_KEYS = {"claim", "match", "role", "tenants"}


@dataclass(frozen=True)
class GrantRule:
    """One mapping from a claim's values to role grants (see OIDC_GRANT_RULES)."""

    claim: str
    pattern: re.Pattern
    role: str
    scope: str
    tenants_claim: str = ""
    tenants_pattern: re.Pattern | None = None


def _compile_pattern(match: str, where: str) -> tuple[re.Pattern, set[str]]:
    names: list[str] = []
    parts: list[str] = []
    position = 0
    for found in _PLACEHOLDER_RE.finditer(match):
        parts.append(re.escape(match[position : found.start()]))
        name = found.group(1)
        if name in names:
            raise ImproperlyConfigured(f"OIDC_GRANT_RULES: {where}: {{{name}}} appears twice")
        names.append(name)
        parts.append(f"(?P<{name}>[^/]+)")
        position = found.end()
    parts.append(re.escape(match[position:]))
    return re.compile("".join(parts)), set(names)


def compile_rules(rules: Iterable[dict]) -> tuple[GrantRule, ...]:
    """Check and compile grant rules; errors name the rule and the problem."""
    compiled = []
    for index, rule in enumerate(rules, start=1):
        where = f"rule {index}"
        if not isinstance(rule, dict) or not {"claim", "match"} <= set(rule):
            raise ImproperlyConfigured(f"OIDC_GRANT_RULES: {where}: needs 'claim' and 'match'")
        unknown = set(rule) - _RULE_KEYS
        if unknown:
            raise ImproperlyConfigured(
                f"OIDC_GRANT_RULES: {where}: unknown keys {', '.join(sorted(unknown))}"
            )
        pattern, names = _compile_pattern(str(rule["match"]), where)
        role = rule.get("role", "")
        if ("role" in names) == bool(role):
            raise ImproperlyConfigured(
                f"OIDC_GRANT_RULES: {where}: give the role as {{role}} in 'match' or as 'role'"
            )
        if role and role not in Role.values:
            raise ImproperlyConfigured(f"OIDC_GRANT_RULES: {where}: unknown role {role!r}")
        tenants = rule.get("tenants")
        tenants_claim, tenants_pattern = "", None
        if tenants is not None:
            if not isinstance(tenants, dict) or not {"claim", "match"} == set(tenants):
                raise ImproperlyConfigured(
                    f"OIDC_GRANT_RULES: {where}: 'tenants' needs exactly 'claim' and 'match'"
                )
            tenants_pattern, tenant_names = _compile_pattern(str(tenants["match"]), where)
            if tenant_names != {"tenant"} or "tenant" in names:
                raise ImproperlyConfigured(
                    f"OIDC_GRANT_RULES: {where}: 'tenants' matches {{tenant}} and nothing else, "
                    "and then 'match' has no {tenant}"
                )
            tenants_claim = str(tenants["claim"])
        narrow = names & {"gateway", "product", "customer"}
        if len(narrow) > 1:
            raise ImproperlyConfigured(
                f"OIDC_GRANT_RULES: {where}: use one of {{gateway}}, {{product}}, {{customer}}"
            )
        if narrow and "tenant" not in names:
            raise ImproperlyConfigured(
                f"OIDC_GRANT_RULES: {where}: {{{narrow.pop()}}} needs {{tenant}} beside it"
            )
        scope = (
            Scope(narrow.pop())
            if narrow
            else Scope.ORG
            if "tenant" in names or tenants_pattern
            else Scope.SYSTEM
        )
        compiled.append(
            GrantRule(
                claim=str(rule["claim"]),
                pattern=pattern,
                role=role,
                scope=scope,
                tenants_claim=tenants_claim,
                tenants_pattern=tenants_pattern,
            )
        )
    return tuple(compiled)


@lru_cache(maxsize=8)
def _compiled(rules_json: str) -> tuple[GrantRule, ...]:
    return compile_rules(json.loads(rules_json))


def grant_rules() -> tuple[GrantRule, ...]:
    rules = settings.OIDC_GRANT_RULES
    return _compiled(json.dumps(rules if rules is not None else DEFAULT_GRANT_RULES))


def claim_values(claims: dict, path: str) -> list[str]:
    """The string values at a dotted claim path; `{client_id}` is the console's client id."""
    value: object = claims
    for part in path.replace("{client_id}", settings.OIDC_RP_CLIENT_ID).split("."):
        if not isinstance(value, dict):
            return []
        value = value.get(part)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class _ScopeObjects:
    """Looks up scope objects by slug or name, once each per sign-in."""

    def __init__(self) -> None:
        self._found: dict[tuple, int | None] = {}

    def _get(self, key: tuple, queryset) -> int | None:
        if key not in self._found:
            self._found[key] = queryset.values_list("pk", flat=True).first()
        return self._found[key]

    def tenant(self, slug: str) -> int | None:
        return self._get(("tenant", slug), Tenant.objects.filter(slug=slug))

    def gateway(self, tenant_id: int, name: str) -> int | None:
        return self._get(
            ("gateway", tenant_id, name), Gateway.objects.filter(tenant_id=tenant_id, name=name)
        )

    def product(self, tenant_id: int, slug: str) -> int | None:
        return self._get(
            ("product", tenant_id, slug), Product.objects.filter(tenant_id=tenant_id, slug=slug)
        )

    def customer(self, tenant_id: int, slug: str) -> int | None:
        return self._get(
            ("customer", tenant_id, slug), Customer.objects.filter(tenant_id=tenant_id, slug=slug)
        )


def grants_from_claims(claims: dict) -> list[dict]:
    """The role grants the claims ask for, with their scope objects looked up; names that match
    no object (an unknown tenant slug, a role outside its scopes) are skipped and logged."""
    found = _ScopeObjects()
    wanted: list[dict] = []
    for rule in grant_rules():
        for value in claim_values(claims, rule.claim):
            match = rule.pattern.fullmatch(value)
            if match is None:
                continue
            groups = match.groupdict()
            role = groups.get("role") or rule.role
            if role not in Role.values:
                continue
            if rule.scope not in ROLE_SCOPES[role]:
                logger.info("OIDC grant skipped: %s cannot be granted at %s", role, rule.scope)
                continue
            if rule.scope == Scope.SYSTEM:
                wanted.append({"role": role, "scope": Scope.SYSTEM})
                continue
            slugs = [groups["tenant"]] if "tenant" in groups else []
            if rule.tenants_pattern is not None:
                slugs = [
                    tenant_match["tenant"]
                    for candidate in claim_values(claims, rule.tenants_claim)
                    if (tenant_match := rule.tenants_pattern.fullmatch(candidate))
                ]
            for slug in slugs:
                grant = _resolve(found, rule.scope, role, slug, groups)
                if grant is None:
                    logger.warning(
                        "OIDC grant skipped: %s %s for %r: no such object", role, rule.scope, value
                    )
                else:
                    wanted.append(grant)
    return wanted


def _resolve(found: _ScopeObjects, scope: str, role: str, slug: str, groups: dict) -> dict | None:
    tenant_id = found.tenant(slug)
    if tenant_id is None:
        return None
    grant = {"role": role, "scope": scope, "tenant_id": tenant_id}
    if scope == Scope.GATEWAY:
        grant["gateway_id"] = found.gateway(tenant_id, groups["gateway"])
    elif scope == Scope.PRODUCT:
        grant["product_id"] = found.product(tenant_id, groups["product"])
    elif scope == Scope.CUSTOMER:
        grant["customer_id"] = found.customer(tenant_id, groups["customer"])
    return None if None in grant.values() else grant


# --- claims to a user ---------------------------------------------------------------------------

_USERNAME_UNSAFE_RE = re.compile(r"[^\w.@+-]")


def issuer() -> str:
    """The identity provider's issuer: OIDC_OP_ISSUER, else the token endpoint's origin."""
    if settings.OIDC_OP_ISSUER:
        return settings.OIDC_OP_ISSUER
    parts = urlsplit(settings.OIDC_OP_TOKEN_ENDPOINT)
    return f"{parts.scheme}://{parts.netloc}"


def _free_username(claims: dict, subject: str) -> str:
    user_model = get_user_model()
    base = claims.get("preferred_username") or claims.get("email") or subject
    base = _USERNAME_UNSAFE_RE.sub("-", str(base))[:140] or "user"
    if not user_model.objects.filter(username=base).exists():
        return base
    # Never take over a local account that happens to share the name.
    digest = hashlib.sha256(f"{issuer()}|{subject}".encode()).hexdigest()[:8]
    return f"{base}-{digest}"


def user_from_claims(claims: dict):
    """The user the claims belong to, created or brought up to date, with the grants the claims
    map to; None when no user exists and OIDC_CREATE_USER is off."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise SuspiciousOperation("OIDC claims carry no subject")
    user_model = get_user_model()
    with transaction.atomic():
        identity = (
            OIDCIdentity.objects.select_related("user")
            .select_for_update()
            .filter(issuer=issuer(), subject=subject)
            .first()
        )
        if identity is not None:
            user = identity.user
        elif settings.OIDC_CREATE_USER:
            try:
                with transaction.atomic():
                    user = user_model(username=_free_username(claims, subject))
                    user.set_unusable_password()
                    user.save()
                    OIDCIdentity.objects.create(user=user, issuer=issuer(), subject=subject)
            except IntegrityError:
                # A simultaneous first sign-in of the same account got there first.
                user = OIDCIdentity.objects.get(issuer=issuer(), subject=subject).user
        else:
            return None
        fields = {
            "email": claims.get("email") or "",
            "first_name": (claims.get("given_name") or "")[:150],
            "last_name": (claims.get("family_name") or "")[:150],
        }
        replace_identity_grants(user, grants_from_claims(claims))
        fields["is_staff"] = user.is_superuser or (
            RoleGrant.objects.filter(Q(user=user) | Q(group__user=user)).exists()
        )
        changed = [name for name, value in fields.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, fields[name])
        if changed:
            user.save(update_fields=changed)
        forget_cached_grants(user)
    return user


# --- authentication backends --------------------------------------------------------------------


class PasswordBackend(ModelBackend):
    """Local username and password, unless OIDC_PASSWORD_LOGIN turned them off."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.OIDC_PASSWORD_LOGIN:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class KeycloakOIDCBackend(OIDCAuthenticationBackend):
    """Authorization-code sign-in: verifies the ID token (signature, nonce, issuer, audience),
    then maps the merged ID-token and userinfo claims to a user and grants."""

    def authenticate(self, request, **kwargs):
        if not settings.OIDC_ENABLED:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        if settings.OIDC_OP_ISSUER and payload.get("iss") != settings.OIDC_OP_ISSUER:
            raise SuspiciousOperation("ID token: unexpected issuer")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token: not issued for this client")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if payload and userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo: subject differs from the ID token's")
        return user_from_claims({**(payload or {}), **userinfo})

    def filter_users_by_claims(self, claims):
        return get_user_model().objects.filter(
            oidc_identity__issuer=issuer(), oidc_identity__subject=claims.get("sub")
        )


# --- console sign-in and sign-out ---------------------------------------------------------------


class OIDCLoginView(OIDCAuthenticationRequestView):
    """Starts the authorization-code flow; not found while OIDC is not configured."""

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("OIDC is not configured")
        return super().get(request)


class OIDCCallbackView(OIDCAuthenticationCallbackView):
    """Where the identity provider sends the browser back with the code."""

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("OIDC is not configured")
        return super().get(request)


def console_login(request: HttpRequest) -> HttpResponse:
    """The admin's login page, with the Keycloak button and the password form as configured."""
    context = {
        "oidc_enabled": settings.OIDC_ENABLED,
        "password_login": settings.OIDC_PASSWORD_LOGIN,
        "oidc_failed": "oidc_error" in request.GET,
    }
    return admin.site.login(request, extra_context=context)


def console_logout(request: HttpRequest) -> HttpResponse:
    """The admin's logout: after a Keycloak sign-in it ends the Keycloak session too."""
    if settings.OIDC_ENABLED and request.method == "POST" and request.session.get("oidc_id_token"):
        return OIDCLogoutView.as_view()(request)
    return admin.site.logout(request)


def provider_logout_url(request: HttpRequest) -> str:
    """RP-initiated logout at the identity provider, back to the console's login page."""
    login_url = request.build_absolute_uri(reverse("admin:login"))
    if not settings.OIDC_OP_LOGOUT_ENDPOINT:
        return login_url
    params = {"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": login_url}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{settings.OIDC_OP_LOGOUT_ENDPOINT}?{urlencode(params)}"


# --- bearer tokens for the API ------------------------------------------------------------------


class TokenRejected(Exception):
    """The identity provider, or the token's own signature and claims, refused the token."""


class IdentityProviderUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = _("The identity provider cannot be reached; try again shortly.")
    default_code = "identity_provider_unavailable"


_ACCESS_TOKEN_TYPES = {"bearer", "at+jwt"}
_JWKS_CACHE_KEY = "impgateway:oidc:jwks"
_JWKS_REFRESHED_KEY = "impgateway:oidc:jwks-refreshed"


def _http_get(url: str, **kwargs) -> requests.Response:
    try:
        return requests.get(
            url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL, **kwargs
        )
    except requests.RequestException as exc:
        logger.warning("identity provider unreachable at %s: %s", url, exc)
        raise IdentityProviderUnavailable from exc


def _userinfo_claims(token: str) -> tuple[dict, float]:
    response = _http_get(
        settings.OIDC_OP_USER_ENDPOINT, headers={"Authorization": f"Bearer {token}"}
    )
    if response.status_code in (400, 401, 403):
        raise TokenRejected("userinfo refused the token")
    if not response.ok:
        logger.warning("userinfo answered %s", response.status_code)
        raise IdentityProviderUnavailable
    try:
        claims = response.json()
    except ValueError:
        raise IdentityProviderUnavailable from None
    if not isinstance(claims, dict):
        raise IdentityProviderUnavailable
    return claims, float("inf")


def _key_set(refresh: bool) -> jwt.PyJWKSet:
    document = None if refresh else cache.get(_JWKS_CACHE_KEY)
    if document is None:
        response = _http_get(settings.OIDC_OP_JWKS_ENDPOINT)
        if not response.ok:
            raise IdentityProviderUnavailable
        document = response.json()
        cache.set(_JWKS_CACHE_KEY, document, 3600)
    try:
        return jwt.PyJWKSet.from_dict(document)
    except jwt.PyJWKSetError as exc:
        raise TokenRejected(f"JWKS: {exc}") from None


def _pick_key(key_set: jwt.PyJWKSet, key_id: str | None) -> jwt.PyJWK | None:
    keys = [key for key in key_set.keys if key.public_key_use in (None, "sig")]
    if key_id is None:
        return keys[0] if len(keys) == 1 else None
    return next((key for key in keys if key.key_id == key_id), None)


def _signing_key(key_id: str | None) -> jwt.PyJWK:
    key = _pick_key(_key_set(refresh=False), key_id)
    # An unknown key id may be a rotation: read the JWKS again, at most once a minute.
    if key is None and cache.add(_JWKS_REFRESHED_KEY, True, 60):
        key = _pick_key(_key_set(refresh=True), key_id)
    if key is None:
        raise TokenRejected("no JWKS key matches the token")
    return key


def _jwt_claims(token: str) -> tuple[dict, float]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(str(exc)) from None
    algorithm = header.get("alg")
    if algorithm != settings.OIDC_RP_SIGN_ALGO:
        raise TokenRejected(f"unexpected algorithm {algorithm!r}")
    key = _signing_key(header.get("kid"))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.OIDC_API_AUDIENCE,
            issuer=settings.OIDC_OP_ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=30,
        )
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(str(exc)) from None
    token_type = str(claims.get("typ", "Bearer")).lower()
    if token_type not in _ACCESS_TOKEN_TYPES:
        raise TokenRejected(f"a {token_type} token is not an access token")
    return claims, claims["exp"] - time.time()


def _uses_jwt(token: str) -> bool:
    mode = settings.OIDC_API_TOKEN_VERIFICATION
    if mode == "jwt":
        return True
    if mode == "userinfo":
        return False
    return token.count(".") == 2 and bool(
        settings.OIDC_OP_JWKS_ENDPOINT and settings.OIDC_OP_ISSUER
    )


def user_for_token(token: str):
    """The user a bearer token stands for. Verified tokens are cached for
    OIDC_API_TOKEN_CACHE_SECONDS (never past a JWT's expiry); refused ones as well."""
    cache_key = "impgateway:oidc:bearer:" + hashlib.sha256(token.encode()).hexdigest()
    cached = cache.get(cache_key)
    if cached == "rejected":
        raise TokenRejected("refused before")
    if cached is not None:
        user = get_user_model().objects.filter(pk=cached, is_active=True).first()
        if user is not None:
            return user
    lifetime = settings.OIDC_API_TOKEN_CACHE_SECONDS
    try:
        claims, seconds_left = _jwt_claims(token) if _uses_jwt(token) else _userinfo_claims(token)
    except TokenRejected:
        if lifetime:
            cache.set(cache_key, "rejected", lifetime)
        raise
    user = user_from_claims(claims)
    if user is None or not user.is_active:
        raise TokenRejected("no active user for the token")
    lifetime = int(min(lifetime, seconds_left))
    if lifetime > 0:
        cache.set(cache_key, user.pk, lifetime)
    return user


class KeycloakBearerAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` with a Keycloak access token: JWTs are verified against
    the realm's JWKS, opaque tokens through userinfo (OIDC_API_TOKEN_VERIFICATION)."""

    www_authenticate_realm = "api"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid bearer header: one token expected."))
        if not settings.OIDC_ENABLED:
            raise exceptions.AuthenticationFailed(_("Bearer tokens need OIDC to be configured."))
        try:
            token = header[1].decode("ascii")
            user = user_for_token(token)
        except (UnicodeDecodeError, TokenRejected, SuspiciousOperation):
            raise exceptions.AuthenticationFailed(_("Invalid or expired token.")) from None
        return user, token

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'


class KeycloakBearerScheme(OpenApiAuthenticationExtension):
    """The bearer scheme in the OpenAPI schema."""

    target_class = "impgateway.auth.KeycloakBearerAuthentication"
    name = "keycloakBearer"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A Keycloak access token of the imp-gateway realm (JWT or opaque).",
        }
