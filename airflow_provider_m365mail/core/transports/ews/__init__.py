"""EWS on Exchange Server: ``CreateItem`` with the message's MIME, over httpx with NTLM, basic or OAuth2.

``soap`` writes the requests and reads the answers, ``ntlm`` signs in with Windows integrated authentication,
``transport`` sends. A small SOAP client rather than exchangelib: we send one operation with the MIME we already
build, and exchangelib would bring its own autodiscover, version probing and a requests-based stack.
"""
