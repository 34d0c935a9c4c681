"""Microsoft Graph: ``sendMail`` for small messages, a draft with upload sessions for large attachments.

``payload`` builds the Graph JSON, ``upload`` streams attachments, ``errors`` classifies Graph's answers.
"""
