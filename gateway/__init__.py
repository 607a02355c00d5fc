"""Consent-aware server-side tagging gateway."""
