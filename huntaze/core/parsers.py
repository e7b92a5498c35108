from __future__ import annotations

from rest_framework.parsers import JSONParser


class AnyContentTypeJSONParser(JSONParser):
    """Parse every body as JSON, whatever its Content-Type: a non-JSON body is a 400
    (`invalid_json`), and a client that forgot the header still gets through."""

    media_type = "*/*"
