"""Authentication: OAuth2 access tokens from Microsoft Entra ID (MSAL) and TLS contexts for every connection.

``tokens`` keeps one MSAL application per credential per process; ``tls`` one SSL context per trust store.
May import ``core.settings`` and ``core.errors``; MSAL and ``requests`` are imported inside functions only.
"""
