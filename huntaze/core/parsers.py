from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as _JSONParser


class JSONParser(_JSONParser):
    """DRF's JSON parser, with a body nested too deeply for Python's decoder (`[[[[…`, well
    within the upload size limit) answered as a 400 instead of a RecursionError and a 500."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


class AnyContentTypeJSONParser(JSONParser):
    """Parse every body as JSON, whatever its Content-Type: a non-JSON body is a 400
    (`invalid_json`), and a client that forgot the header still gets through."""

    media_type = "*/*"
