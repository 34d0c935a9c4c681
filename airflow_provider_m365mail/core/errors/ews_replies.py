"""The replies Exchange Server's EWS gives (transport ``ews``), what they mean and what fixes them."""

from __future__ import annotations

from airflow_provider_m365mail.core.errors.known_reply import (
    AUTH,
    PERMANENT,
    SEND_AS,
    SEND_AS_GRANT,
    THROTTLED,
    TRANSIENT,
    ews_reply,
)

EWS_REPLIES = (
    ews_reply("ErrorSendAsDenied", "The user account which was used to submit this request does not have the right to "
         "send mail on behalf of the specified sending account.",
         "The signed-in account may not send as (or on behalf of) the From mailbox, or the grant is not live yet",
         SEND_AS_GRANT, SEND_AS),
    ews_reply("ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user.",
         "The account lacks the ApplicationImpersonation role for this mailbox",
         "New-ManagementRoleAssignment -Role ApplicationImpersonation -User <account> [-CustomRecipientWriteScope "
         "<scope>], or set ews_impersonation false and grant Send As instead", SEND_AS),
    ews_reply("ErrorAccessDenied", "Access is denied. Check credentials and try again.",
         "The account may not use this mailbox or operation",
         "Grant the account access to the mailbox (Add-MailboxPermission -AccessRights FullAccess) or check "
         "that EWS is allowed for it (Get-CASMailbox <account> | fl EwsEnabled)", PERMANENT),
    ews_reply("ErrorServerBusy", "The server cannot service this request right now. Try again later.",
         "Exchange Server's throttling policy holds the account back (BackOffMilliseconds says how long)",
         "The provider waits as long as the server asks; for steady volume raise the account's throttling "
         "policy (New-ThrottlingPolicy, Set-ThrottlingPolicyAssociation)", THROTTLED),
    ews_reply("ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.",
         "The message is larger than the server or mailbox allows",
         "Send smaller attachments, or raise the limit: Set-TransportConfig -MaxSendSize, Set-Mailbox "
         "-MaxSendSize, and maxAllowedContentLength / maxReceivedMessageSize of the EWS virtual directory",
         PERMANENT),
    ews_reply("ErrorNonExistentMailbox", "No mailbox with such guid.",
         "The From (or impersonated) mailbox does not exist on this Exchange organisation",
         "Check the address, or the mailbox's PrimarySmtpAddress", PERMANENT),
    ews_reply("ErrorInternalServerTransientError", "An internal server transient error occurred.",
         "A passing failure inside Exchange Server", "Nothing: the provider retries it", TRANSIENT),
    ews_reply("HTTP401", "401 Unauthorized",
         "Exchange Server refused the credentials (wrong password, a locked account, or the authentication "
         "method is off on the EWS virtual directory)",
         "Check login and password; auth_type ntlm or basic must match Get-WebServicesVirtualDirectory | fl "
         "*Authentication", AUTH),
)
