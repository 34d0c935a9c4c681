"""The sender options the operator and the notifier share: who a message is from, where replies go, its headers.

Both pass them to :meth:`M365MailHook.send` unchanged and derive the Message-ID on the domain they put in From, so
one implementation keeps the two from drifting apart (a notifier that lacked ``on_behalf_of`` failed at DAG parse).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_m365mail.hooks.m365mail import M365MailHook

SENDER_TEMPLATE_FIELDS: tuple[str, ...] = ("from_email", "on_behalf_of", "reply_to", "headers")


class SenderOptions:
    """Hold ``from_email``, ``on_behalf_of``, ``reply_to``, ``headers`` and ``importance`` for one message."""

    from_email: str | None
    on_behalf_of: str | None
    reply_to: str | Sequence[str] | None
    headers: dict[str, str]
    importance: str

    def set_sender_options(
        self,
        *,
        from_email: str | None = None,
        on_behalf_of: str | None = None,
        reply_to: str | Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        importance: str = "normal",
    ) -> None:
        """Keep the options as attributes, the templated ones under the names listed in SENDER_TEMPLATE_FIELDS."""
        self.from_email = from_email
        self.on_behalf_of = on_behalf_of
        self.reply_to = reply_to
        self.headers = dict(headers or {})
        self.importance = importance

    def sender_arguments(self, hook: M365MailHook, message_seed: str) -> dict[str, Any]:
        """Return the hook's send arguments for these options, with the Message-ID ``message_seed`` maps to."""
        return {
            "from_email": self.from_email,
            "on_behalf_of": self.on_behalf_of,
            "reply_to": self.reply_to,
            "headers": self.headers,
            "importance": self.importance,
            "message_id": hook.derive_message_id(
                message_seed, from_email=self.from_email, on_behalf_of=self.on_behalf_of
            ),
        }
