"""Name the High Volume Email fix for a refused sign-in or envelope, with the HVE account and app filled in.

HVE answers with Exchange Online's replies, which say nothing of HVE: a ``535 5.7.3`` for an app not on the HVE
account's allowed apps reads like any wrong token, and an account without a billing policy is refused only when
it sends. The doctor knows the connection, so it can name the account, the app and the cmdlet.
"""

from __future__ import annotations

import re

from airflow_provider_m365mail.core.errors import AuthenticationError, M365MailError
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, SmtpMode

_NOT_ACTIVE = re.compile(r"not active|billing polic", re.IGNORECASE)


def hve_fix(settings: MailSettings, error: M365MailError) -> str | None:
    """Return the fix for ``error`` over an HVE connection, naming the account and app; None when not HVE's."""
    if settings.smtp_mode is not SmtpMode.HVE:
        return None
    account = settings.username or "<HVE account>"
    if _NOT_ACTIVE.search(error.message):
        return (
            f"the HVE account {account} has no valid billing policy (it shows Not active): "
            f"Get-HVEAccountBillingPolicy -Identity {account} shows BillingPolicyStatus; assign one with "
            f"Set-HVEAccountBillingPolicy -Identity {account} -BillingPolicyId <id> (Get-BillingPolicy -ResourceType "
            "HVE lists them) or in Exchange admin center > Mail flow > High Volume Email > Connect a policy; "
            "changes take up to 5 minutes"
        )
    if not isinstance(error, AuthenticationError) or error.enhanced_status != "5.7.3":
        return None
    if settings.auth_type is AuthType.OAUTH2_APP:
        return (
            f"the app {settings.client_id} is not on the allowed apps of the HVE account {account} (or was added "
            f"less than 5 minutes ago): Add-HVEAppAccess -Identity {account} -AppIds {settings.client_id}; "
            f"Get-HVEAccountSettings -Identity {account} lists AllowedApps. The app needs Office 365 Exchange "
            "Online Mail.Send (application, admin consent), and login must be the HVE account"
        )
    return (
        f"the HVE account {account} refused its password: check login and password (reset it in Exchange admin "
        "center > Mail flow > High Volume Email), and that login is the HVE account, not a mailbox"
    )
