"""The replies Exchange Online, Microsoft Graph, Entra ID, Exchange Server (EWS) and proxies give, and their fixes.

Pure data: ``core.errors`` matches replies against it and ``docs/troubleshooting.md`` is generated from it.
Within a source the first matching entry wins, so specific entries come before general ones.
"""

from __future__ import annotations

from airflow_provider_m365mail.core.errors.ews_replies import EWS_REPLIES
from airflow_provider_m365mail.core.errors.known_reply import (
    AUTH,
    OAUTH,
    PERMANENT,
    SEND_AS,
    SEND_AS_GRANT,
    SEND_AS_STEPS,
    THROTTLED,
    TRANSIENT,
    USE_OAUTH,
    KnownReply,
    ReplySource,
    entra_reply,
    graph_reply,
    smtp_reply,
)
from airflow_provider_m365mail.core.errors.proxy_replies import PROXY_REPLIES
from airflow_provider_m365mail.core.errors.volume_replies import ACS_REPLIES, HVE_SMTP_REPLIES

__all__ = ["KNOWN_REPLIES", "KnownReply", "ReplySource"]

_SMTP_REPLIES = (
    smtp_reply("535", "5.7.139", r"SmtpClientAuthentication is disabled",
          "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
          "Visit https://aka.ms/smtp_auth_disabled for more information.", "AUTH",
          "SMTP AUTH is disabled for the mailbox or the whole tenant",
          "Enable it: Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false (tenant-wide: "
          "Set-TransportConfig -SmtpClientAuthenticationDisabled $false), or send with transport graph", AUTH),
    smtp_reply("535", "5.7.139", r"basic authentication is disabled",
          "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.", "AUTH",
          "Basic authentication is turned off for SMTP AUTH", USE_OAUTH, AUTH),
    smtp_reply("535", "5.7.139", r"security defaults",
          "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults "
          "policy. Contact your administrator.", "AUTH",
          "Microsoft Entra Security Defaults block basic authentication", USE_OAUTH, AUTH),
    smtp_reply("535", "5.7.139", r"did not meet the criteria",
          "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
          "successfully. Contact your administrator.", "AUTH",
          "A Conditional Access policy blocked the sign-in",
          "Check the sign-in logs (Entra admin center > Monitoring > Sign-in logs) and exclude this account or "
          "app from the policy, or use OAuth: " + OAUTH, AUTH),
    smtp_reply("535", "5.7.139", r"organization configuration doesn't allow",
          "535 5.7.139 Authentication unsuccessful, the organization configuration doesn't allow this "
          "authentication request.", "AUTH",
          "Security Defaults or an authentication policy blocks basic SMTP AUTH for this account (High Volume "
          "Email accounts included, though HVE ignores SmtpClientAuthenticationDisabled)",
          "Turn off Security Defaults (Entra admin center > Properties > Manage security defaults), or enable "
          "AllowBasicAuthSmtp in the authentication policy that applies to the account; or use OAuth: " + OAUTH,
          AUTH),
    smtp_reply("535", "5.7.139", None,
          "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.", "AUTH",
          "Exchange Online refused the sign-in for a tenant or account policy reason",
          "Read the rest of the reply; check Set-CASMailbox -Identity <mailbox> "
          "-SmtpClientAuthenticationDisabled $false and the Entra sign-in logs. " + USE_OAUTH, AUTH),
    smtp_reply(None, "5.7.3", None,
          "535 5.7.3 Authentication unsuccessful [BN8PR12CA0001.namprd12.prod.outlook.com]", "AUTH",
          "The credentials or token were refused",
          "Basic: check login and password. OAuth app-only: the token must be for "
          "https://outlook.office365.com/.default (the cloud's Exchange resource), the app needs SMTP.SendAsApp "
          "with admin consent, an Exchange service principal (New-ServicePrincipal -AppId <client id> "
          "-ObjectId <Enterprise Application object id>, not the App Registration's) and Add-MailboxPermission "
          "-Identity <login mailbox> -User <service principal id> -AccessRights FullAccess. High Volume Email: "
          "login is the HVE account, and the app must be added to it with Add-HVEAppAccess", AUTH),
    smtp_reply(None, "5.7.30", None,
          "550 5.7.30 Basic authentication is not supported for Client Submission.", "AUTH",
          "Basic authentication for SMTP AUTH has been removed", USE_OAUTH, AUTH),
    smtp_reply("421", "4.7.66", None,
          "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.",
          "STARTTLS", "Exchange Online requires TLS 1.2 or newer",
          "Use a Python/OpenSSL build that supports TLS 1.2+; do not lower the TLS minimum", PERMANENT),
    smtp_reply(None, "5.7.57", None,
          "530 5.7.57 Client not authenticated to send mail. [DM6PR11CA0001.namprd11.prod.outlook.com]",
          "MAIL FROM", "The session is not authenticated",
          "Set auth_type (oauth2_app or basic) for smtp.office365.com; for direct send point host at the "
          "tenant MX (<domain>-com.mail.protection.outlook.com) with smtp_mode direct_send", AUTH),
    smtp_reply(None, "5.7.60", None,
          "550 5.7.60 SMTP; Client does not have permissions to send as this sender", "MAIL FROM",
          "The authenticated account has no Send As right on the envelope sender (or it has not propagated)",
          SEND_AS_GRANT, SEND_AS),
    smtp_reply(None, "5.2.252", None,
          "554 5.2.252 SendAsDenied; airflow@contoso.com not allowed to send as reports@contoso.com; "
          "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied", "end of DATA",
          "The header From is not permitted for the authenticated account (or the grant has not propagated)",
          SEND_AS_GRANT, SEND_AS),
    smtp_reply(None, None, r"SendAsDenied",
          "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to "
          "process message due to a permanent exception", "end of DATA",
          "The header From is not permitted for the authenticated account (older Exchange wording)",
          SEND_AS_GRANT, SEND_AS),
    smtp_reply(None, None, r"not owned by user",
          "553 5.7.1 <reports@contoso.com>: Sender address rejected: not owned by user airflow@contoso.com",
          "MAIL FROM", "The server ties senders to logins (Postfix reject_sender_login_mismatch)",
          "Add the From address for this login to the server's smtpd_sender_login_maps, or send as the login",
          SEND_AS),
    # The waits (retry_after) of SMTP entries are ours: SMTP replies carry no Retry-After and Microsoft names no
    # wait for any of these codes. Each is the shortest wait after which a retry can succeed (docs/delivery.md):
    # 4.3.2: a connection slot frees when another of the mailbox's 3 connections ends its message (seconds);
    #        the Mailer retries that message alone, the others go on.
    # 5.2.2: the 30-a-minute quota counts over a sliding 60 s: after 60 s the window has turned over; every send
    #        of the mailbox waits, since all would be refused.
    # 4.7.500-699: Exchange Online Protection throttling the sending IP asks only to "try again later" (an MTA
    #        retries after minutes); sooner than a minute adds load counted against the IP. The message waits
    #        alone. A wait beyond the connection's retry_budget_s is never slept: the message is left over.
    smtp_reply(None, "4.3.2", None,
          "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", "submission",
          "More than 3 concurrent SMTP connections for this mailbox",
          "The send is retried; keep at most 3 concurrent sends per mailbox (an Airflow pool with 3 slots)",
          THROTTLED, retry_after=5.0),
    smtp_reply(None, "5.2.2", r"quota",
          "554 5.2.2 mailbox full; STOREDRV.Submission.Exception:SubmissionQuotaExceededException", "submission",
          "The mailbox sent more than 30 messages per minute (submission quota)",
          "The send is retried after a minute; lower extra.max_messages_per_minute or spread the sends",
          THROTTLED, retry_after=60.0),
    smtp_reply(None, "5.1.90", None,
          "550 5.1.90 Your message can't be sent because you've reached your daily limit for message "
          "recipients", "submission / NDR",
          "The mailbox reached 10,000 recipients in a rolling 24 hours",
          "Wait until the 24-hour window frees capacity, or move bulk mail to Azure Communication Services "
          "Email", PERMANENT),
    smtp_reply(None, "5.1.8", None,
          "550 5.1.8 Access denied, bad outbound sender", "MAIL FROM",
          "The mailbox is on the Restricted entities list (it was caught sending spam)",
          "An admin releases it in the Microsoft Defender portal > Email & collaboration > Review > "
          "Restricted entities; reset its credentials first", PERMANENT),
    smtp_reply("452", "4.5.3", None,
          "452 4.5.3 Too many recipients", "RCPT",
          "The server takes fewer recipients per message than the message has",
          "The recipients it deferred get the same message in another transaction; set "
          "extra.max_recipients_per_message to the server's limit to save the extra round", TRANSIENT),
    smtp_reply(None, "5.1.1", None,
          "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "RCPT / NDR",
          "The recipient address does not exist", "Check the recipient address", PERMANENT),
    smtp_reply(None, "5.1.10", None,
          "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "RCPT / NDR",
          "The recipient address does not exist", "Check the recipient address", PERMANENT),
    smtp_reply(None, "5.4.1", None,
          "550 5.4.1 Recipient address rejected: Access denied. [BN8NAM12FT001.eop-nam12.prod.protection]",
          "RCPT", "The recipient is unknown to the tenant; direct send only reaches the tenant's own domains",
          "Check the address; for external recipients use smtp_mode submission (SMTP AUTH) or a relay "
          "connector", PERMANENT),
    smtp_reply(None, "4.7.500-699", None,
          "451 4.7.500 Access denied, please try again later", "connect / MAIL FROM",
          "Exchange Online is throttling the sending IP (relay / direct send)",
          "The send is retried later; keep volumes reasonable or use SMTP AUTH submission", THROTTLED,
          retry_after=60.0),
    smtp_reply(None, "5.7.64", None,
          "550 5.7.64 TenantAttribution; Relay Access Denied", "MAIL FROM / RCPT",
          "No relay connector matches this sending IP or TLS certificate",
          "Check the inbound connector (Get-InboundConnector): SenderIPAddresses must hold this host's public "
          "IP, or TlsSenderCertificateName the CN/SAN of client_certificate_path (an accepted domain)",
          PERMANENT),
    smtp_reply(None, "5.7.51", None,
          "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the "
          "message's recipient domain", "RCPT",
          "A partner connector restricts the domain to certain IPs or certificates",
          "Send from an IP or with a certificate the partner connector lists (Get-InboundConnector)",
          PERMANENT),
    smtp_reply(None, "5.7.68", None,
          "550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from "
          "unauthorized sources", "RCPT / DATA",
          "The tenant rejects direct send (Set-OrganizationConfig -RejectDirectSend $true)",
          "Send through a relay connector (smtp_mode relay) or SMTP AUTH submission with auth_type oauth2_app",
          PERMANENT),
    smtp_reply(None, "5.7.708", None,
          "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP", "NDR / relay",
          "The sending IP has a low reputation (common for new or trial tenants)",
          "Use SMTP AUTH submission, or ask Microsoft support to delist the IP", PERMANENT),
    smtp_reply(None, "5.7.750", None,
          "550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains",
          "NDR / relay", "The sending domain is not a verified accepted domain of the tenant",
          "Add and verify the domain in the Microsoft 365 admin center > Settings > Domains", PERMANENT),
    smtp_reply(None, "5.7.705", None,
          "550 5.7.705 Access denied, tenant has exceeded threshold", "NDR / relay",
          "The tenant sent too much spam and is blocked from sending",
          "Find and clean the compromised accounts, then contact Microsoft support", PERMANENT),
    smtp_reply(None, "5.7.233", None,
          "550 5.7.233 Your message can't be sent because your organization has exceeded its tenant external "
          "recipient rate limit", "NDR",
          "The tenant hit its external recipient limit for the rolling 24 hours",
          "Wait for the window to pass; move bulk mail to Azure Communication Services Email", PERMANENT),
    smtp_reply(None, "5.3.4", None,
          "552 5.3.4 Message size exceeds fixed maximum message size", "DATA",
          "The message is larger than the mailbox or organization limit (35 MB by default, base64 adds ~33%)",
          "Send smaller attachments or links; an admin can raise the limit up to 150 MB "
          "(Set-Mailbox -MaxSendSize)", PERMANENT),
    smtp_reply("421", "4.4.2", None,
          "421 4.4.2 Connection dropped due to SocketError", "any",
          "The connection dropped", "The send is retried", TRANSIENT),
    smtp_reply(None, "5.5.3", None,
          "550 5.5.3 Too many recipients", "RCPT",
          "The message has more recipients than the server allows",
          "Lower extra.max_recipients_per_message (Exchange Online allows 500)", PERMANENT),
    smtp_reply(None, None, r"issue a STARTTLS|STARTTLS (command )?first|STARTTLS (is )?required",
          "530 5.7.0 Must issue a STARTTLS command first", "MAIL FROM / AUTH",
          "The server requires TLS before this command", "Set extra.security to 'starttls'", PERMANENT),
    smtp_reply(None, "5.7.8", None,
          "535 5.7.8 Authentication credentials invalid", "AUTH",
          "The server refused the credentials", "Check login and password, or the OAuth token's scope", AUTH),
    smtp_reply("535", None, None,
          "535 Authentication failed", "AUTH",
          "The server refused the credentials", "Check login and password, or the OAuth token's scope", AUTH),
)

_GRAPH_REPLIES = (
    graph_reply("ErrorSendAsDenied", 403,
           "The user account which was used to submit this request does not have the right to send mail on "
           "behalf of the specified sending account.",
           "The signed-in user may not send as (or on behalf of) the From mailbox",
           "Delegated sending needs Mail.Send.Shared and a grant: " + SEND_AS_STEPS,
           SEND_AS),
    graph_reply("ErrorAccessDenied", 403,
           "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
           "The app may not use this mailbox: an application access policy or RBAC for Applications scope "
           "excludes it, or Mail.Send lacks admin consent",
           "Include the mailbox in the scope (Test-ApplicationAccessPolicy -Identity <mailbox> -AppId <client "
           "id>; or New-ManagementRoleAssignment -App <service principal> -Role 'Application Mail.Send' "
           "-CustomResourceScope <scope>); changes take up to 2 hours: SendAsPermissionSensor waits", SEND_AS),
    graph_reply("MailboxNotEnabledForRESTAPI", 404, "The mailbox is either inactive, soft-deleted, or is hosted "
           "on-premise.",
           "The mailbox is not in Exchange Online (no licence, inactive, or on-premises)",
           "Assign an Exchange Online licence, or send over SMTP to the on-premises server", PERMANENT),
    graph_reply("ErrorInvalidRecipients", 400, "At least one recipient isn't valid.",
           "A recipient address is invalid", "Check the to/cc/bcc addresses", PERMANENT),
    graph_reply("ErrorMessageSizeExceeded", 400, "The message exceeds the maximum supported size.",
           "The message is larger than the mailbox allows",
           "Send smaller attachments; an admin can raise Set-Mailbox -MaxSendSize up to 150 MB", PERMANENT),
    graph_reply("ErrorItemNotFound", 404, "The specified object was not found in the store.",
           "The mailbox in the URL (or the draft) does not exist",
           "Check from_email / login: Graph sends from /users/<address>/sendMail", PERMANENT),
    graph_reply("InvalidAuthenticationToken", 401, "Access token validation failure. Invalid audience.",
           "The token was rejected (wrong audience, expired, or issued in another cloud)",
           "The token must be for the cloud's Graph (https://graph.microsoft.com/.default for global): check "
           "extra.cloud, extra.authority_host and extra.graph_endpoint", AUTH),
    graph_reply("Authorization_RequestDenied", 403, "Insufficient privileges to complete the operation.",
           "The app lacks the Graph permission for this call",
           "Add the Microsoft Graph application permission Mail.Send (Mail.ReadWrite for attachments over "
           "3 MB) and grant admin consent in Entra admin center > App registrations > API permissions", AUTH),
    graph_reply("ErrorMimeContentInvalidBase64String", 400, "Invalid base64 string for MIME content.",
           "Graph could not decode the MIME message", "Report it: the provider built malformed MIME",
           PERMANENT),
    graph_reply("ApplicationThrottled", 429, "Application is over its MailboxConcurrency limit.",
           "The app exceeded the per-mailbox request rate or the 4 concurrent requests",
           "The send is retried after Retry-After; cap concurrency at 4 per mailbox (an Airflow pool)",
           THROTTLED),
    graph_reply(None, 429, "Too Many Requests", "Graph throttled the request",
           "The send is retried after Retry-After; cap concurrency at 4 per mailbox (an Airflow pool)",
           THROTTLED),
    graph_reply(None, 503, "Service Unavailable", "Graph is temporarily unavailable", "The send is retried",
           TRANSIENT),
    graph_reply(None, 504, "Gateway Timeout", "Graph timed out", "The send is retried", TRANSIENT),
    graph_reply(None, 413, "Request Entity Too Large", "The request exceeds Graph's ~4 MB limit",
           "Attachments over 3 MB go through an upload session (needs Mail.ReadWrite)", PERMANENT),
)

_ENTRA_REPLIES = (
    entra_reply(7000215, "Invalid client secret provided.", "The client secret is wrong",
           "Put the secret's Value (not its Secret ID) in the password field or extra.client_secret; create a "
           "new one under Entra admin center > App registrations > Certificates & secrets"),
    entra_reply(7000222, "The provided client secret keys for app are expired.", "The client secret has expired",
           "Create a new secret under App registrations > Certificates & secrets and update the connection"),
    entra_reply(700016, "Application with identifier was not found in the directory.",
           "The client id is unknown in this tenant",
           "Check extra.client_id and extra.tenant_id (App registrations > Overview) and extra.cloud; a "
           "multi-tenant app needs admin consent in this tenant"),
    entra_reply(90002, "Tenant not found.", "The tenant id is unknown in this cloud",
           "Check extra.tenant_id (a GUID or a verified domain) and extra.cloud"),
    entra_reply(65001, "The user or administrator has not consented to use the application.",
           "The app's permissions have no consent",
           "Grant admin consent: Entra admin center > App registrations > API permissions > Grant admin "
           "consent"),
    entra_reply(50126, "Error validating credentials due to invalid username or password.",
           "The user name or password is wrong", "Check login and password"),
    entra_reply(50076, "Due to a configuration change made by your administrator, you must use multi-factor "
           "authentication.", "The account needs MFA, which a password sign-in (ROPC) cannot do",
           "Use auth_type oauth2_app, or oauth2_delegated with a refresh token from an interactive sign-in"),
    entra_reply(50079, "The user is required to use multi-factor authentication.",
           "The account must register for MFA, which a password sign-in (ROPC) cannot do",
           "Use auth_type oauth2_app, or oauth2_delegated with a refresh token from an interactive sign-in"),
    entra_reply(700027, "Client assertion failed signature validation.",
           "The certificate assertion was not accepted",
           "Upload the certificate's public part under App registrations > Certificates & secrets and check "
           "extra.certificate_thumbprint matches it"),
    entra_reply(53003, "Access has been blocked by Conditional Access policies.",
           "A Conditional Access policy blocked the sign-in",
           "Check Entra admin center > Monitoring > Sign-in logs and exclude the app or account from the "
           "policy"),
    entra_reply(700024, "Client assertion is not within its valid time range.",
           "The certificate assertion's time window is off", "Fix the worker's clock (NTP)"),
    entra_reply(700082, "The refresh token has expired due to inactivity.", "The delegated refresh token expired",
           "Sign the mailbox in again with `m365mail login --conn-id <id>` (or store a new extra.refresh_token)"),
    entra_reply(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
           "The delegated refresh token was replaced by a newer one or revoked",
           "Keep the rotated tokens in one file every worker shares (extra.token_cache_path), then sign in again "
           "with `m365mail login --conn-id <id>`"),
    entra_reply(500011, "The resource principal named https://outlook.office365.com was not found in the tenant.",
           "The scope's resource does not exist in this tenant or cloud",
           "Check extra.cloud: tokens and scopes differ between clouds; the tenant needs Exchange Online"),
    entra_reply(70011, "The provided value for the input parameter 'scope' is not valid.",
           "The requested scope is invalid", "Check extra.cloud and the auth_type (app-only uses /.default)"),
)

KNOWN_REPLIES: tuple[KnownReply, ...] = (
    _SMTP_REPLIES + HVE_SMTP_REPLIES + _GRAPH_REPLIES + _ENTRA_REPLIES + EWS_REPLIES + ACS_REPLIES + PROXY_REPLIES
)
