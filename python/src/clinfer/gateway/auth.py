"""Authentication: OAuth2 bearer JWT (HS256, optionally RS256) and scopes.

``TokenVerifier`` checks a token; ``verify_bearer`` (401) and ``require_scopes`` (403) turn the
outcome into the gateway's error answers. The FastAPI dependency that combines them,
``authenticate``, lives in app.py next to the routes that use it."""

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Set

import jwt
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from .errors import ApiError
from .settings import ConfigError, Settings


@dataclass(frozen=True)
class Principal:
    sub: Optional[str]
    scopes: Set[str]


class TokenVerifier:
    """Validates signature, ``exp`` (required) and optionally ``aud``/``iss``; each algorithm
    only with its own key, so an RS256 public key can never serve as an HS256 secret."""

    def __init__(self, settings: Settings) -> None:
        self._keys: Dict[str, Any] = {}
        if settings.jwt_hs256_key:
            self._keys["HS256"] = settings.jwt_hs256_key
        if settings.jwt_rs256_public_key:
            try:
                from jwt.algorithms import RSAAlgorithm

                self._keys["RS256"] = RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(
                    settings.jwt_rs256_public_key
                )
            except ImportError:
                raise ConfigError(
                    "an RS256 key needs the cryptography package (pip install 'PyJWT[crypto]')"
                ) from None
            except (ValueError, TypeError, jwt.InvalidKeyError):
                raise ConfigError("the RS256 public key is not a usable PEM RSA key") from None
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_s

    def verify(self, token: str) -> Dict[str, Any]:
        """Returns the claims; raises ``jwt.PyJWTError`` for any invalid token."""
        alg = jwt.get_unverified_header(token).get("alg")
        if not isinstance(alg, str) or alg not in self._keys:
            raise jwt.InvalidAlgorithmError("unsupported algorithm")
        key = self._keys[alg]
        required = ["exp"]
        if self._audience is not None:
            required.append("aud")
        if self._issuer is not None:
            required.append("iss")
        claims: Dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": required, "verify_aud": self._audience is not None},
        )
        # RFC 7519 4.1.4: exp is a NumericDate. PyJWT converts a string with int(), so "exp":
        # "9999999999" would pass; refuse anything but a JSON number.
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise jwt.InvalidTokenError(f"the {name} claim must be a number")
        return claims


def token_scopes(claims: Mapping[str, Any]) -> Set[str]:
    """Scopes from ``scope`` (space-separated string) and/or ``scopes`` (list or string)."""
    out: Set[str] = set()
    for name in ("scope", "scopes"):
        value = claims.get(name)
        if isinstance(value, str):
            out.update(value.split())
        elif isinstance(value, list):
            out.update(v for v in value if isinstance(v, str))
    return out


bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="bearerJWT",
    description="An OAuth2 access token (JWT, HS256 or RS256) with an `exp` claim and the "
    "scopes `classify` (for /v1/classify) or `deidentify` (for /v1/deidentify) in its "
    "`scope` (space-separated) or `scopes` claim.",
)


def verify_bearer(
    verifier: TokenVerifier, credentials: Optional[HTTPAuthorizationCredentials]
) -> Principal:
    """The token's subject and scopes; ``ApiError`` 401 for a missing or invalid token."""
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": "Bearer"})
    try:
        claims = verifier.verify(credentials.credentials)
    except jwt.ExpiredSignatureError:
        raise ApiError(
            401,
            "unauthorized",
            "token expired",
            {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'},
        ) from None
    except jwt.PyJWTError:
        raise ApiError(
            401,
            "unauthorized",
            "invalid token",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    sub = claims.get("sub")
    return Principal(sub=sub if isinstance(sub, str) else None, scopes=token_scopes(claims))


def require_scopes(principal: Principal, security_scopes: SecurityScopes) -> None:
    """``ApiError`` 403 unless the principal holds every scope the route asks for."""
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        challenge = f'Bearer error="insufficient_scope", scope="{security_scopes.scope_str}"'
        raise ApiError(
            403,
            "forbidden",
            f"the token lacks the scope {' '.join(missing)!r}",
            {"WWW-Authenticate": challenge},
        )
