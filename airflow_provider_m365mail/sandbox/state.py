"""Hold what the emulated tenant knows: grants, access policies, stored messages, limits in use, faults, counters.

State is kept apart from the protocol adapters (``smtp``, ``oauth``, ``graph``, ``admin``): they ask it questions
and report to it; it does no network I/O. Everything runs on the sandbox's single event loop, so there are no
locks. Accepted messages are written to ``state_dir/messages`` before the client is told they were accepted, so
nothing accepted is lost when the sandbox restarts.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Literal

from .auth_codes import AuthorizationCodes
from .config import Grant, Right, TenantConfig
from .device_codes import DeviceCodes
from .refresh_tokens import RefreshTokens
from .tokens import TokenIssuer

FaultTarget = Literal["smtp", "graph", "token", "ews", "acs"]
# "lose_answer" (Graph sendMail only): the message is accepted, but the client gets a 504 instead of the 202.
# "fail_operation" (ACS only): the send is accepted (202) and its operation ends Failed with ``message``
# ("Code: text").
FaultKind = Literal["drop_mid_data", "reply", "timeout", "lose_answer", "fail_operation"]
SmtpStage = Literal["connect", "ehlo", "auth", "mail", "rcpt", "data"]
SendAsChannel = Literal["smtp", "graph", "ews"]
FAULT_WAIT_S = 30.0  # how long a "timeout" fault hangs by default: longer than the usual client timeouts
MAX_FAULT_WAIT_S = 60.0


@dataclass
class Fault:
    """A failure to inject into the next ``count`` matching requests (or each with ``probability``)."""

    target: FaultTarget
    kind: FaultKind
    code: int | None = None
    message: str | None = None
    retry_after_s: float | None = None
    count: int = 1
    probability: float | None = None  # when set, each matching request fails with this chance; count ignored
    stage: SmtpStage = "mail"  # SMTP only: where a "reply" fault answers ("data" = after the message body)
    # Graph only: a regular expression searched in "METHOD /path" (e.g. "/send$", "^DELETE "); None: every request
    route: str | None = None
    seed: int | None = None  # with probability: the seed of this fault's own random draws, for repeatable runs

    def wait_s(self) -> float:
        """Return how long a "timeout" fault hangs before answering: its ``retry_after_s``, bounded."""
        wait = self.retry_after_s or FAULT_WAIT_S
        return min(wait, MAX_FAULT_WAIT_S) if wait >= 0 else 0.0  # NaN (not comparable): no wait


@dataclass(frozen=True)
class StoredMessage:
    """An accepted message as the admin API lists it (the raw MIME lives beside it on disk)."""

    id: str
    message_id: str
    envelope_from: str
    envelope_to: tuple[str, ...]
    subject: str
    transport: str  # "smtp_submission" | "smtp_ssl" | "direct_send" | "relay" | "graph"
    principal: str | None  # who authenticated: mailbox address, app client id, or None
    size: int
    received_at: float

    def as_json(self) -> dict[str, Any]:
        """Return the admin API's JSON form."""
        data = asdict(self)
        data["envelope_to"] = list(self.envelope_to)
        return data


@dataclass
class _ActiveGrant:
    grant: Grant
    effective_at: float


@dataclass(frozen=True)
class _ScopeAddition:
    client_id: str
    mailbox: str
    delay_s: float
    effective_at: float


@dataclass
class SandboxState:
    """The tenant's mutable state. Construct with a tenant and a folder; ``reset()`` restores the config."""

    tenant: TenantConfig  # as changed at run time (``update_tenant``); ``configured_tenant`` is what reset restores
    state_dir: Path
    clock: Callable[[], float] = time.time
    tokens: TokenIssuer = field(init=False)
    configured_tenant: TenantConfig = field(init=False)
    # Delegated sign-ins in progress and their refresh tokens: kept across ``reset()``, as users stay signed in.
    device_codes: DeviceCodes = field(default_factory=DeviceCodes)
    authorization_codes: AuthorizationCodes = field(default_factory=AuthorizationCodes)
    refresh_tokens: RefreshTokens = field(default_factory=RefreshTokens)
    stats: Counter[str] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)
    # SMTP replies a "timeout" fault holds back right now: a gauge, so a reset never makes it lie
    smtp_replies_held: int = 0
    _grants: dict[tuple[str, str, Right], _ActiveGrant] = field(default_factory=dict)
    _scope_additions: dict[tuple[str, str], _ScopeAddition] = field(default_factory=dict)
    _send_as_refusals: Counter[tuple[SendAsChannel, str]] = field(default_factory=Counter)
    _messages: dict[str, StoredMessage] = field(default_factory=dict)
    _sent_times: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _recipient_times: dict[str, deque[tuple[float, int]]] = field(default_factory=lambda: defaultdict(deque))
    _smtp_sessions: Counter[str] = field(default_factory=Counter)
    _graph_requests: Counter[str] = field(default_factory=Counter)
    _fault_draws: dict[int, random.Random] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._messages_dir.mkdir(exist_ok=True)
        self.configured_tenant = self.tenant
        self.tokens = TokenIssuer(self.tenant, self.state_dir, clock=self.clock)
        self._load_grants_from_config()
        self._load_messages()

    # -- configuration -------------------------------------------------------------------------------------

    def reset(self, tenant: TenantConfig | None = None) -> None:
        """Forget messages, faults, counters, admin-API grants and tenant changes; optionally switch tenants.

        The tenant goes back to the configured one (or to ``tenant``, which becomes the configured one), so a
        change made through ``update_tenant`` or the admin API never leaks into whatever runs after a reset.
        """
        if tenant is not None:
            self.configured_tenant = tenant
        self.tenant = self.configured_tenant
        self.tokens.tenant = self.tenant
        self.clear_messages()
        self.faults.clear()
        self._fault_draws.clear()
        self.stats.clear()
        self._sent_times.clear()
        self._recipient_times.clear()
        self._smtp_sessions.clear()
        self._graph_requests.clear()
        self._scope_additions.clear()
        self._send_as_refusals.clear()
        self._load_grants_from_config()

    def update_tenant(self, **changes: Any) -> None:
        """Change tenant settings at run time (e.g. ``smtp_auth_enabled=False``, ``limits=Limits(...)``)."""
        self.tenant = replace(self.tenant, **changes)
        self.tokens.tenant = self.tenant

    # -- Send As / Send on Behalf --------------------------------------------------------------------------

    def grant(self, principal: str, mailbox: str, right: Right, delay_s: float = 0.0) -> None:
        """Grant a right that Exchange honours ``delay_s`` seconds from now (propagation)."""
        key = (principal.casefold(), mailbox.casefold(), right)
        self._grants[key] = _ActiveGrant(Grant(principal, mailbox, right, delay_s), self.clock() + delay_s)

    def revoke(self, principal: str, mailbox: str, right: Right) -> bool:
        """Remove a right at once; return whether it existed."""
        return self._grants.pop((principal.casefold(), mailbox.casefold(), right), None) is not None

    def has_right(self, principal: str, mailbox: str, right: Right) -> bool:
        """Tell whether ``principal`` may act as ``mailbox`` now (a mailbox may always send as itself)."""
        if principal.casefold() == mailbox.casefold():
            return True
        active = self._grants.get((principal.casefold(), mailbox.casefold(), right))
        return active is not None and self.clock() >= active.effective_at

    def grants_view(self) -> list[dict[str, Any]]:
        """Return every grant with when it takes (or took) effect, for the admin API."""
        now = self.clock()
        return [
            {**asdict(a.grant), "effective_at": a.effective_at, "effective": now >= a.effective_at}
            for a in self._grants.values()
        ]

    def refuse_send_as(self, channel: SendAsChannel, mailbox: str) -> None:
        """Record that ``channel`` refused to send as (or, over Graph, to reach) ``mailbox``."""
        self._send_as_refusals[(channel, mailbox.casefold())] += 1

    def send_as_refusals(self, channel: SendAsChannel, mailbox: str) -> int:
        """Return how often ``channel`` refused ``mailbox`` since the last reset (a waiting client's attempts)."""
        return self._send_as_refusals[(channel, mailbox.casefold())]

    def _load_grants_from_config(self) -> None:
        self._grants.clear()
        for g in self.tenant.grants:
            self.grant(g.principal, g.mailbox, g.right, g.delay_s)

    # -- application access policies (Graph app-only) -------------------------------------------------------

    def add_to_graph_scope(self, client_id: str, mailbox: str, delay_s: float = 0.0) -> None:
        """Include ``mailbox`` in the app's access policy scope ``delay_s`` seconds from now.

        Exchange applies access policy and RBAC for Applications changes after a cache delay (30 minutes to
        2 hours). Only apps whose ``graph_scope`` restricts them are affected: an unrestricted app already
        reaches every mailbox.
        """
        key = (client_id.casefold(), mailbox.casefold())
        self._scope_additions[key] = _ScopeAddition(client_id, mailbox, delay_s, self.clock() + delay_s)

    def remove_from_graph_scope(self, client_id: str, mailbox: str) -> bool:
        """Withdraw an addition made by ``add_to_graph_scope`` at once; return whether it existed."""
        return self._scope_additions.pop((client_id.casefold(), mailbox.casefold()), None) is not None

    def in_graph_scope(self, client_id: str, mailbox: str) -> bool:
        """Tell whether the app may use ``mailbox`` through Graph app-only now (an unknown app may not)."""
        app = self.tenant.app(client_id)
        if app is None:
            return False
        if app.graph_scope is None or mailbox.casefold() in {m.casefold() for m in app.graph_scope}:
            return True
        added = self._scope_additions.get((client_id.casefold(), mailbox.casefold()))
        return added is not None and self.clock() >= added.effective_at

    def graph_scope_view(self) -> list[dict[str, Any]]:
        """Return every pending or applied scope addition with when it takes (or took) effect."""
        now = self.clock()
        return [
            {**asdict(a), "effective": now >= a.effective_at} for a in self._scope_additions.values()
        ]

    # -- limits ----------------------------------------------------------------------------------------------

    def admit_submission(self, mailbox: str, recipients: int) -> str | None:
        """Count one submission for ``mailbox``; return the Exchange refusal when a limit is exceeded."""
        limits = self.tenant.limits
        now = self.clock()
        key = mailbox.casefold()
        if recipients > limits.recipients_per_message:
            return "550 5.5.3 RESOLVER.ADR.RecipLimit; too many recipients"
        sent = self._sent_times[key]
        while sent and sent[0] <= now - limits.window_s:
            sent.popleft()
        if len(sent) >= limits.messages_per_window:
            self.stats["throttled"] += 1
            return (
                "554 5.2.2 Submission quota exceeded. "
                "Message submission rate for this client has exceeded the configured limit"
            )
        day = self._recipient_times[key]
        while day and day[0][0] <= now - 86_400:
            day.popleft()
        if sum(n for _, n in day) + recipients > limits.recipients_per_day:
            self.stats["throttled"] += 1
            return (
                "550 5.1.90 Your message can't be sent because you've reached your daily limit "
                "for message recipients"
            )
        sent.append(now)
        day.append((now, recipients))
        return None

    def open_smtp_session(self, mailbox: str) -> bool:
        """Claim one of the mailbox's concurrent SMTP connections; False means answer 432 4.3.2."""
        key = mailbox.casefold()
        if self._smtp_sessions[key] >= self.tenant.limits.smtp_concurrent_connections:
            self.stats["throttled"] += 1
            return False
        self._smtp_sessions[key] += 1
        return True

    def close_smtp_session(self, mailbox: str) -> None:
        """Release a connection claimed by ``open_smtp_session``."""
        key = mailbox.casefold()
        self._smtp_sessions[key] = max(0, self._smtp_sessions[key] - 1)

    def open_smtp_sessions(self) -> int:
        """Return how many authenticated SMTP connections are open (to show that clients close theirs)."""
        return sum(self._smtp_sessions.values())

    def open_graph_request(self, app_and_mailbox: str) -> bool:
        """Claim one of the four concurrent Graph requests per app and mailbox; False means answer 429."""
        if self._graph_requests[app_and_mailbox] >= self.tenant.limits.graph_concurrent_requests:
            self.stats["throttled"] += 1
            return False
        self._graph_requests[app_and_mailbox] += 1
        return True

    def close_graph_request(self, app_and_mailbox: str) -> None:
        """Release a request claimed by ``open_graph_request``."""
        self._graph_requests[app_and_mailbox] = max(0, self._graph_requests[app_and_mailbox] - 1)

    # -- faults ----------------------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        """Arm a fault; it fires on the next matching requests."""
        self.faults.append(fault)
        self._fault_draws[id(fault)] = random.Random(fault.seed)

    def take_fault(
        self,
        target: FaultTarget,
        stage: SmtpStage | None = None,
        kinds: Collection[FaultKind] | None = None,
        route: str = "",
    ) -> Fault | None:
        """Return the fault to apply to this request (consuming one use), or None.

        ``kinds`` narrows the search to the kinds the caller can apply at this point (a dropped DATA transfer
        is not a reply at a stage, for instance); ``route`` ("METHOD /path") is matched by faults with a route.
        """
        for fault in list(self.faults):
            if fault.target != target or (stage is not None and fault.target == "smtp" and fault.stage != stage):
                continue
            if kinds is not None and fault.kind not in kinds:
                continue
            if fault.route is not None and re.search(fault.route, route) is None:
                continue
            if fault.probability is not None:
                if self._fault_draws.setdefault(id(fault), random.Random()).random() < fault.probability:
                    self.stats["faults_fired"] += 1
                    return fault
                continue
            fault.count -= 1
            if fault.count <= 0:
                self.faults.remove(fault)
            self.stats["faults_fired"] += 1
            return fault
        return None

    # -- message store -------------------------------------------------------------------------------------

    @property
    def _messages_dir(self) -> Path:
        return self.state_dir / "messages"

    def store_message(
        self,
        *,
        raw: bytes,
        envelope_from: str,
        envelope_to: Sequence[str],
        transport: str,
        principal: str | None,
    ) -> StoredMessage:
        """Persist an accepted message (raw MIME and its metadata) and return its record."""
        parsed = BytesHeaderParser(policy=policy.default).parsebytes(raw)  # headers only: bodies can be 150 MB
        stored = StoredMessage(
            id=uuid.uuid4().hex,
            message_id=str(parsed.get("Message-ID", "")).strip(),
            envelope_from=envelope_from,
            envelope_to=tuple(envelope_to),
            subject=str(parsed.get("Subject", "")).strip(),  # unfolding keeps the space after a fold
            transport=transport,
            principal=principal,
            size=len(raw),
            received_at=self.clock(),
        )
        (self._messages_dir / f"{stored.id}.eml").write_bytes(raw)
        meta = self._messages_dir / f"{stored.id}.json"
        meta.write_text(json.dumps(stored.as_json()), encoding="utf-8")
        self._messages[stored.id] = stored
        self.stats["messages_accepted"] += 1
        return stored

    def messages(self) -> list[StoredMessage]:
        """Return every stored message, oldest first."""
        return sorted(self._messages.values(), key=lambda m: m.received_at)

    def message(self, message_id: str) -> StoredMessage | None:
        """Return one stored message by its sandbox id."""
        return self._messages.get(message_id)

    def raw(self, message_id: str) -> bytes:
        """Return the raw MIME of a stored message."""
        return (self._messages_dir / f"{message_id}.eml").read_bytes()

    def find_by_internet_message_id(self, internet_message_id: str) -> list[StoredMessage]:
        """Return the stored messages with this Message-ID header (Graph's sent-items lookup)."""
        return [m for m in self.messages() if m.message_id == internet_message_id]

    def clear_messages(self) -> None:
        """Delete every stored message."""
        for path in self._messages_dir.glob("*"):
            path.unlink()
        self._messages.clear()

    def _load_messages(self) -> None:
        for meta in self._messages_dir.glob("*.json"):
            data = json.loads(meta.read_text(encoding="utf-8"))
            data["envelope_to"] = tuple(data["envelope_to"])
            self._messages[data["id"]] = StoredMessage(**data)
