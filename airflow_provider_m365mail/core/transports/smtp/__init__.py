"""SMTP: submission, direct send and relay through ``aiosmtplib``, with exceptions translated to ``core.errors``."""
