"""Strict serializer fields: a JSON number is not a string, a string is not a number."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rest_framework import serializers

from huntaze.core.formats import iso_z


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class IsoDateTimeField(serializers.DateTimeField):
    """Out as every API writes times: `2025-11-01T12:00:06.000Z` (UTC, milliseconds)."""

    def to_representation(self, value: datetime) -> str:
        return iso_z(value)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# Mixins for Serializer subclasses: typed against Serializer, plain object classes at run time.
if TYPE_CHECKING:
    SerializerMixinBase = serializers.Serializer
else:
    SerializerMixinBase = object


class RejectUnknownFieldsMixin(SerializerMixinBase):
    """A misspelt field (`recipient_id` for `recipientId`) is a 400, not silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
