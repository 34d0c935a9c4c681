"""Generators of the documentation pages that are derived from code (never imported by the package)."""
