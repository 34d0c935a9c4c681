"""Issue and check the sandbox's access tokens: RS256 JWTs shaped like Microsoft identity platform v2 tokens.

The signing key is kept in the state folder so tokens stay valid across a restart, as real ones do.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .config import TenantConfig

KEY_ID = "m365mail-sandbox-key"


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or for another audience or tenant."""


class TokenIssuer:
    """Sign access and refresh tokens for the tenant and verify the ones clients present."""

    def __init__(self, tenant: TenantConfig, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.tenant = tenant
        self._clock = clock
        key_file = state_dir / "signing-key.pem"
        if key_file.exists():
            loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self._key = loaded
        else:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_file.write_bytes(
                self._key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )

    @property
    def issuer(self) -> str:
        """Return the ``iss`` claim, as Entra ID spells it for v2 tokens."""
        return f"https://login.microsoftonline.com/{self.tenant.tenant_id}/v2.0"

    def issue_app_token(self, client_id: str, audience: str, roles: Sequence[str]) -> str:
        """Return an app-only token (client credentials) carrying ``roles``."""
        return self._sign({"aud": audience, "appid": client_id, "azp": client_id, "roles": list(roles),
                           "oid": _stable_id(client_id), "sub": _stable_id(client_id)})

    def issue_user_token(
        self, client_id: str, user: str, audience: str, scopes: Sequence[str], *, nonce: str | None = None
    ) -> str:
        """Return a delegated token (or ID token) for ``user`` carrying the space-separated ``scp`` claim."""
        return self._sign({"aud": audience, "appid": client_id, "azp": client_id, "scp": " ".join(scopes),
                           "upn": user, "preferred_username": user, "unique_name": user,
                           "oid": _stable_id(user), "sub": _stable_id(client_id + user),
                           **({"nonce": nonce} if nonce else {})})

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """Return the claims of a valid token for ``audience``; raise ``InvalidToken`` saying why not."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "aud", "tid"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the access token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken(f"the access token's audience is not {audience}") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the access token is invalid: {exc}") from exc
        if claims.get("tid") != self.tenant.tenant_id:
            raise InvalidToken("the access token was issued for another tenant")
        return claims

    def jwks(self) -> dict[str, Any]:
        """Return the public signing key as a JWK set (the discovery document's ``jwks_uri``)."""
        from jwt.algorithms import RSAAlgorithm

        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    def _sign(self, claims: dict[str, Any]) -> str:
        now = int(self._clock())
        body = {
            "iss": self.issuer,
            "tid": self.tenant.tenant_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.tenant.token_lifetime_s,
            "ver": "2.0",
            "uti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(body, self._key, algorithm="RS256", headers={"kid": KEY_ID})


def _stable_id(seed: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))
