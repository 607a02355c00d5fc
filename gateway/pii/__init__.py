"""Normalize and SHA-256-hash visitor PII for ad platforms, one recipe per platform."""

from gateway.pii.hashing import is_sha256_hex, sha256_hex
from gateway.pii.normalize import (
    Normalizer,
    normalize_country,
    normalize_email,
    normalize_phone,
    normalize_place,
    normalize_postal_code,
    normalize_text,
)
from gateway.pii.recipes import GA4, META, TIKTOK, HashAction, HashedValue, PiiField, Recipe

__all__ = [
    "GA4",
    "META",
    "TIKTOK",
    "HashAction",
    "HashedValue",
    "Normalizer",
    "PiiField",
    "Recipe",
    "is_sha256_hex",
    "normalize_country",
    "normalize_email",
    "normalize_phone",
    "normalize_place",
    "normalize_postal_code",
    "normalize_text",
    "sha256_hex",
]
