"""Doctor: check a connection step by step (DNS, port, TLS, token, sign-in, Send As) and name the fix.

``diagnosis`` runs the checks in order; ``checks`` holds one function per step and ``report`` what each reports;
``dns`` and ``tls_inspection`` look at what the network says. May import anything in the core; nothing in the core
imports it.
"""
