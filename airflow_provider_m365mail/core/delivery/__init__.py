"""Delivery: the policy above the transports. ``Mailer`` splits, paces, retries and reports; ``pacing`` counts.

May import ``core.message``, ``core.settings``, ``core.errors``, ``core.identity`` and ``core.transports``.
"""
