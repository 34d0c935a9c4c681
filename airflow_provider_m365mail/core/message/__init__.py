"""Messages: what is sent (``OutgoingMessage``, ``Attachment``), its addresses, and how its MIME headers are written.

``outgoing`` validates a message and builds its MIME; ``wire`` renders it to the bytes SMTP sends, a mail merge's
shared part once; ``addresses`` parses and checks addresses; ``header_factory``
and ``encoded_headers`` make the ``email`` package write headers fast and exactly. May import ``core.errors`` only
(and ``core.identity`` for the sender a message is built for).
"""

from __future__ import annotations
