"""Build config files for tests: the shipped config's shape with test-friendly values."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SECRET = "test-secret-0123456789abcdef"
TOKEN = "EAAtesttoken-do-not-leak-123"
PIXEL = "1234567890"

#: a webhook decided as the shipped ga4 destination is (Google is TCF vendor 755): it
#: receives the governed event whole, so a test sees the verdict's consent section
GOOGLE_STAND_IN: dict[str, Any] = {
    "type": "webhook",
    "requires": ["analytics"],
    "tcf_vendor_id": 755,
    "restrictions": {
        "ad_user_data": ["ad_user_data"],
        "ad_personalization": ["ad_personalization"],
    },
    "secret": "webhook-secret-0123456789",
}


def base_config(queue_path: Path, meta_endpoint: str = "http://127.0.0.1:9") -> dict[str, Any]:
    """A valid config as a dict: one Meta destination, fast batching and retries."""
    return {
        "version": 1,
        "server": {
            "trusted_proxies": ["127.0.0.1/32", "::1/128"],
            "region_headers": {"country": ["CF-IPCountry"], "subdivision": ["CF-Region-Code"]},
        },
        "identity": {"secret": SECRET, "cookie": {"secure": False, "requires": ["analytics"]}},
        "consent": {
            "purposes": {
                "analytics": {
                    "signals": {"categories": ["analytics"], "gcm": ["analytics_storage"]}
                },
                "advertising": {
                    "signals": {
                        "categories": ["advertising", "marketing"],
                        "gcm": ["ad_storage", "ad_user_data"],
                        "gpc": True,
                    }
                },
            },
            "regions": {
                "opt_in": ["DE", "FR", "GB", "NO"],
                "opt_out": ["US"],
                "none": [],
                "default": "opt_in",
            },
        },
        "queue": {"path": str(queue_path), "synchronous": "normal", "lease_secs": 5},
        "logging": {"level": "info", "decisions": True},
        "destinations": {
            "meta": {
                "type": "meta_capi",
                "requires": ["advertising"],
                "pixel_id": PIXEL,
                "access_token": TOKEN,
                "endpoint": meta_endpoint,
                "batch": {"max_events": 1000, "max_wait_ms": 20},
                "retry": {"max_attempts": 5, "initial_backoff_secs": 0.02, "max_backoff_secs": 0.2},
                "timeout": {"connect_secs": 1, "read_secs": 2},
            }
        },
    }


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in (mappings recursively; None deletes a key)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
