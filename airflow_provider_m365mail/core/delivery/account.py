"""Say what a send did: delivered now, delivered by an earlier try, refused for good, left over for the next try."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_m365mail.core.errors import RecipientsPartlyRefusedError, classify_partial_refusal
from airflow_provider_m365mail.core.transports.base import SendResult


@dataclass
class DeliveryAccount:
    """The outcome of one try of a send, message by message.

    ``results`` holds one ``SendResult`` per message that is delivered, now or by an earlier try (those have
    ``already_sent``), in the order the messages were given. ``left_over`` maps the Message-ID of each message
    still unsent after its retry budget to the last transient error; ``skipped`` says why messages were not sent.
    """

    generation: int = 0
    results: list[SendResult] = field(default_factory=list)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    left_over: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def delivered_now(self) -> list[str]:
        """Message-IDs this try had accepted."""
        return [r.message_id for r in self.results if not r.already_sent]

    @property
    def delivered_earlier(self) -> list[str]:
        """Message-IDs an earlier try had accepted (per the ledger or Sent Items), not sent again."""
        return [r.message_id for r in self.results if r.already_sent]

    @property
    def message_ids(self) -> list[str]:
        """Every delivered Message-ID, in the order the messages were given."""
        return [r.message_id for r in self.results]

    def refusal(self) -> RecipientsPartlyRefusedError | None:
        """Return the error naming every refused recipient and the others who got the message, or None."""
        if not self.refused:
            return None
        accepted = [address for result in self.results for address in result.accepted]
        return classify_partial_refusal(self.refused, accepted)

    def summary(self) -> str:
        """Return the one line a run's log ends with."""
        text = (
            f"delivery: {len(self.delivered_now)} delivered now, {len(self.delivered_earlier)} delivered by an "
            f"earlier try, {len(self.refused)} recipient(s) refused, {len(self.left_over)} message(s) left over"
        )
        if self.generation:
            text += f" (send generation {self.generation})"
        if self.skipped:
            text += "; " + "; ".join(self.skipped)
        return text

    def as_json(self) -> dict[str, Any]:
        """Return the account as JSON (what the operator pushes to XCom)."""
        return {
            "message_ids": self.message_ids,
            "delivered_now": self.delivered_now,
            "delivered_earlier": self.delivered_earlier,
            "refused": {address: [code, reply] for address, (code, reply) in self.refused.items()},
            "left_over": dict(self.left_over),
            "generation": self.generation,
            "skipped": list(self.skipped),
        }
