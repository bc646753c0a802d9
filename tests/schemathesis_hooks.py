"""Schemathesis hooks for tests/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

openapi.yaml documents NDJSON ingest (`application/x-ndjson`, a string of
one JSON object per line); Schemathesis has no serializer for that media
type, so this one sends a generated string as is, and an object or a list
of objects as NDJSON lines.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list):
        return "".join(json.dumps(v) + "\n" for v in value).encode()
    return (json.dumps(value) + "\n").encode()
