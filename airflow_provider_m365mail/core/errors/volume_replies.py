"""The replies of Microsoft's services for volume: High Volume Email (SMTP) and Azure Communication Services Email.

HVE's refusals are Exchange Online's SMTP replies; ACS answers its REST API with ``{"error": {"code", "message"}}``
and an HTTP status, and a send operation that ends ``Failed`` carries the same error object.
"""

from __future__ import annotations

from airflow_provider_m365mail.core.errors.known_reply import (
    AUTH,
    PERMANENT,
    THROTTLED,
    TRANSIENT,
    KnownReply,
    ReplySource,
    smtp_reply,
)

ACS_ROLE = (
    "Assign the app the 'Communication and Email Service Owner' role (or a custom role with "
    "Microsoft.Communication/CommunicationServices/Read and .../EmailServices/write) on the Communication "
    "Services resource, in Azure portal > the resource > Access control (IAM)"
)


def acs_reply(  # noqa: PLR0917 - positional arguments keep each table row readable
    code: str | None, status: int, example: str, meaning: str, fix: str, error: str
) -> KnownReply:
    """Return an entry for an ACS Email REST error, matched on ``error.code`` or, without one, the HTTP status."""
    return KnownReply(ReplySource.ACS, code, None, None, example, "ACS Email request", meaning, fix,
                      error in (TRANSIENT, THROTTLED), error, http_status=status)


HVE_SMTP_REPLIES = (
    smtp_reply(None, "5.7.54", None,
          "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", "RCPT",
          "The recipient is outside the tenant's accepted domains: High Volume Email (like a relay connector "
          "that does not match) delivers to them only",
          "Send external mail through Azure Communication Services Email (transport acs); if the domain is "
          "accepted in the tenant, list it in extra.accepted_domains", PERMANENT),
    # Microsoft publishes no reply text for an inactive account: the example is the sandbox's; the pattern takes
    # any 5.7.1 that speaks of the account not being active or of billing.
    smtp_reply(None, "5.7.1", r"HVE account is not active|billing polic",
          "550 5.7.1 Sending denied: the HVE account is not active (no billing policy is assigned)", "MAIL FROM",
          "The High Volume Email account has no valid billing policy, so it shows Not active and cannot send",
          "Get-HVEAccountBillingPolicy -Identity <HVE account> shows BillingPolicyStatus; assign a policy with "
          "Set-HVEAccountBillingPolicy -Identity <HVE account> -BillingPolicyId <id> (Get-BillingPolicy "
          "-ResourceType HVE lists them) or in Exchange admin center > Mail flow > High Volume Email > Connect a "
          "policy, after creating one in Microsoft 365 admin center > Billing > Pay-as-you-go; changes take up to "
          "5 minutes", PERMANENT),
    smtp_reply(None, "5.7.1", r"domain linked to this resource",
          "550 5.7.1 Sender address is not a MailFrom address of a domain linked to this resource", "MAIL FROM",
          "The From address is not a MailFrom address of a verified domain connected to the Communication "
          "Services resource",
          "Send from a MailFrom address of a verified domain (Email Communication Services > Provision domains), "
          "and connect that domain to the Communication Services resource", PERMANENT),
)

ACS_REPLIES = (
    acs_reply(None, 401, "HTTP 401: Denied by the resource provider.",
              "ACS refused the credentials: an expired or wrong token, or a wrong access key",
              "For oauth2_app check tenant_id, client_id and the secret (the token is for "
              "https://communication.azure.com/.default); for access_key copy a current key from Azure portal > "
              "the resource > Keys", AUTH),
    acs_reply(None, 403, "HTTP 403: The principal does not have the required permissions on the resource.",
              "The app signed in but holds no role that may send email on the resource", ACS_ROLE, AUTH),
    acs_reply(None, 413, "HTTP 413: The request body is too large: the limit is 10 MB.",
              "The message with its attachments is over ACS's 10 MB per request",
              "Send smaller attachments (a link to the file), or split them over several messages", PERMANENT),
    acs_reply(None, 429, "HTTP 429: Too many requests. Retry after 60 seconds.",
              "The resource sent more than its quota (by default 30 mails a minute and 100 an hour)",
              "The send is retried after the wait ACS names (Retry-After); for more volume ask Azure support to "
              "raise the quota, and lower extra.max_messages_per_minute to match", THROTTLED),
    acs_reply(None, 400, "HTTP 400: The sender address is not a MailFrom address of a linked domain.",
              "ACS refused the request: most often a sender outside the resource's verified domains, more than "
              "50 recipients, or a field it does not accept",
              "Read the message; send from a MailFrom address of a verified domain connected to the resource",
              PERMANENT),
)
