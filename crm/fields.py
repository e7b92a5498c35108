"""The CRM's serializer fields: times out as the pipeline writes them, money as decimals, ids,
tags and query-string booleans. The limits here are the ones the CSV import checks too."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from huntaze.core.fields import IsoDateTimeField, StrictCharField, StrictIntegerField
from huntaze.core.ids import MAX_ID

TAG_MAX_LENGTH = 64
TAGS_MAX = 50


class StrictDateTimeField(IsoDateTimeField):
    default_error_messages = {"invalid": "Must be an ISO 8601 date-time string."}

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid")
        return super().to_internal_value(value)


# Up to 10 digits before the point and 2 after (max_digits 12), never negative; the field and
# the schema check the same rule.
MONEY_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
MONEY_MAX = Decimal("9999999999.99")


class MoneyField(serializers.DecimalField):
    """Money as decimals, never floats: "12.50" out; "12.50" (or 12.5) in, never negative."""

    openapi_request_schema: dict[str, Any] = {
        "anyOf": [
            {"type": "string", "pattern": MONEY_PATTERN},
            {"type": "number", "minimum": 0, "maximum": float(MONEY_MAX), "multipleOf": 0.01},
        ]
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", Decimal("0"))
        super().__init__(max_digits=12, decimal_places=2, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # DRF's DecimalField reads a blank string as null when null is allowed; "" is not an
        # amount (null is "any"), as the schema says.
        return serializers.Field.validate_empty_values(self, data)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        if isinstance(data, str) and not re.fullmatch(MONEY_PATTERN, data):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryMoneyField(MoneyField):
    """An amount in a query string: always a string ("" is not an amount)."""

    openapi_request_schema = {"type": "string", "pattern": MONEY_PATTERN}


class IdField(StrictIntegerField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class TagsField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=StrictCharField(max_length=TAG_MAX_LENGTH), max_length=TAGS_MAX, **kwargs
        )

    def to_internal_value(self, data: Any) -> list[str]:
        tags = super().to_internal_value(data)
        return list(dict.fromkeys(tag for tag in tags if tag))  # drop blanks and repeats


class QueryBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        value = str(data).strip().lower()
        if value in {"true", "1"}:
            return True
        if value in {"false", "0"}:
            return False
        self.fail("invalid")
