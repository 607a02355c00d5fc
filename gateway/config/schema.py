"""The config's JSON Schema, generated from the models (``config/gateway.schema.json``).

Editors use it for completion and inline errors. A test regenerates it and fails when
the committed file is stale; ``make schema`` rewrites it.
"""

from __future__ import annotations

import json

from gateway.config.models import Config


def schema_text() -> str:
    """The schema as the committed file holds it."""
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Consent gateway config"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
