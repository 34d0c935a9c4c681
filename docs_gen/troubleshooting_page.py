"""Write ``docs/troubleshooting.md`` from the reply catalogue (``KNOWN_REPLIES``).

The page is never edited by hand: ``python -m docs_gen.troubleshooting_page docs/troubleshooting.md`` rewrites it,
and a test fails when the committed page and the catalogue disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from airflow_provider_m365mail.core.errors import KNOWN_REPLIES, ReplySource
from airflow_provider_m365mail.core.errors.troubleshooting import anchors, entry_markdown

_SECTIONS = {
    ReplySource.SMTP: (
        "SMTP replies (Exchange Online)",
        "Replies to SMTP client submission (SMTP AUTH), direct send and relay. Python's smtplib and aiosmtplib "
        "report refusals at MAIL FROM, RCPT TO and after DATA; replies marked NDR under When arrive later, as a "
        "non-delivery report in the sender's mailbox.",
    ),
    ReplySource.GRAPH: (
        "Microsoft Graph errors",
        "`error.code` values (or HTTP statuses) of `POST /users/{id}/sendMail` and the draft / upload-session calls.",
    ),
    ReplySource.EWS: (
        "Exchange Server EWS errors",
        "`ResponseCode` values of EWS `CreateItem` and `GetFolder` (transport `ews`, Exchange Server on premises), "
        "and HTTP statuses of the EWS endpoint.",
    ),
    ReplySource.ACS: (
        "Azure Communication Services Email errors",
        "HTTP statuses of `POST /emails:send` and the error of a send operation that ends `Failed` (transport "
        "`acs`). Replies of High Volume Email and of ACS's SMTP endpoint are SMTP replies, listed above.",
    ),
    ReplySource.ENTRA: (
        "Microsoft Entra ID sign-in errors (AADSTS)",
        "Errors of the token request (`/oauth2/v2.0/token`) MSAL makes before SMTP XOAUTH2 or Graph.",
    ),
    ReplySource.PROXY: (
        "Proxy failures",
        "Failures to open a tunnel through the connection's proxy (`extra.proxy`, or the environment's with "
        "`proxy: env`): HTTP CONNECT statuses and SOCKS5 replies, for SMTP, the token endpoint and Graph alike. "
        "See [Send through a proxy](howto/proxy.md).",
    ),
}


def render() -> str:
    """Return the whole troubleshooting page."""
    named = anchors()
    parts = [
        "# Troubleshooting by error code",
        "",
        "<!-- Generated from airflow_provider_m365mail/core/errors/catalogue.py: do not edit by hand. Regenerate "
        "with `python -m docs_gen.troubleshooting_page docs/troubleshooting.md`. -->",
        "",
        "Every reply below is recognised by the provider: the exception it raises carries the code and the hint "
        "shown here, and `m365mail doctor` names the entry. The same entries ship inside the package: "
        "`m365mail explain CODE` prints one (an enhanced status such as `5.7.60`, a Graph code such as "
        "`ErrorSendAsDenied`, an Entra code such as `AADSTS7000215`, or a pasted reply). Run the doctor first; "
        "it tests each step (DNS, port, TLS, token, sign-in, Send As) and says which one fails:",
        "",
        "```bash",
        "m365mail doctor --conn-id m365mail_default",
        "m365mail explain 5.7.60",
        "```",
        "",
        "Errors without a code here (a port that does not answer, a certificate that is not trusted) are explained "
        "in [the doctor's page](doctor.md).",
        "",
    ]
    for source, (title, intro) in _SECTIONS.items():
        parts += [f"## {title}", "", intro, ""]
        parts += [entry_markdown(e, named[e]) for e in KNOWN_REPLIES if e.source is source]
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    """Write the page to the path given, or print it."""
    if argv:
        Path(argv[0]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
