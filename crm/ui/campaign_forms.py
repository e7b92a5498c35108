"""The campaign create form: its fields as the API's body, so that one serializer
(crm.campaigns.serializers.CampaignCreateInputSerializer) validates the page and the API alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from crm.models import SubscriptionStatus
from huntaze.core.ids import parse_int

# Form field → the rules' camelCase key, and how the text is read.
RULE_FIELDS = (
    ("subscription_status", "subscriptionStatus", "text"),
    ("tags_any", "tagsAny", "tags"),
    ("tags_all", "tagsAll", "tags"),
    ("min_spent", "minSpent", "text"),
    ("max_spent", "maxSpent", "text"),
    ("min_tips", "minTips", "text"),
    ("max_tips", "maxTips", "text"),
    ("expiring_within_days", "expiringWithinDays", "int"),
    ("subscribed_within_days", "subscribedWithinDays", "int"),
    ("last_inbound_within_days", "lastInboundWithinDays", "int"),
)
# The API's field names in words, for the form's error messages.
FIELD_LABELS = {
    "name": "Name",
    "content": "Message",
    "mediaUrls": "Media URLs",
    "accountId": "Account",
    "segmentId": "Segment",
    "filter": "Audience rules",
    "scheduledAt": "Scheduled at",
    "skipIfRepliedWithinMinutes": "Skip fans a chatter wrote to within (minutes)",
    "subscriptionStatus": "Subscription status",
    "tagsAny": "Tags (any of)",
    "tagsAll": "Tags (all of)",
    "minSpent": "Spent from",
    "maxSpent": "Spent up to",
    "minTips": "Tips from",
    "maxTips": "Tips up to",
    "expiringWithinDays": "Expiring within (days)",
    "subscribedWithinDays": "Subscribed within (days)",
    "lastInboundWithinDays": "Last message within (days)",
}
STATUS_CHOICES = [("", "Any"), *SubscriptionStatus.choices]


def _number(text: str) -> Any:
    """An integer when the text is one, else the text itself (the serializer says what is wrong)."""
    text = text.strip()
    number = parse_int(text, signed=True)
    return text if number is None else number


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def rules_from(form: QueryDict) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for name, key, kind in RULE_FIELDS:
        value = form.get(name, "").strip()
        if not value:
            continue
        rules[key] = _tags(value) if kind == "tags" else _number(value) if kind == "int" else value
    return rules


def audience_from(form: QueryDict) -> dict[str, Any]:
    """The audience part of the body: accountId, and segmentId or filter."""
    body: dict[str, Any] = {}
    if account := form.get("account", "").strip():
        body["accountId"] = _number(account)
    if form.get("audience") == "segment":
        body["segmentId"] = _number(form.get("segment", ""))
    else:
        body["filter"] = rules_from(form)
    return body


def scheduled_at(text: str) -> str | None:
    """`<input type=datetime-local>` has no zone: the form says UTC, so it is read as UTC."""
    text = text.strip()
    if not text:
        return None
    if len(text) == 16:  # 2026-12-01T20:00
        text += ":00"
    return text if text.endswith("Z") or "+" in text[10:] else f"{text}Z"


def body_from(form: QueryDict) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "content": form.get("content", ""),
        "mediaUrls": form.get("media_urls", "").split(),
        **audience_from(form),
    }
    if when := scheduled_at(form.get("scheduled_at", "")):
        body["scheduledAt"] = when
    skip = form.get("skip_if_replied_within_minutes", "").strip()
    if skip:
        body["skipIfRepliedWithinMinutes"] = _number(skip)
    return body


def error_text(detail: Any, prefix: str = "") -> list[str]:
    """A serializer's errors as sentences naming each field in words."""
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            if isinstance(key, int):  # a list's item
                label = f"{prefix}line {key + 1}: "
            elif key == "non_field_errors":
                label = prefix
            else:
                label = f"{prefix}{FIELD_LABELS.get(key, key)}: "
            out += error_text(value, label)
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [prefix + " ".join(str(item) for item in detail)]
        return [line for item in detail for line in error_text(item, prefix)]
    return [prefix + str(detail)]


@dataclass
class FormValues:
    """What the user typed, to show the form again as it was."""

    data: QueryDict

    def __getitem__(self, name: str) -> str:
        # A KeyError for anything not typed lets the template fall back to the attributes.
        if name not in self.data:
            raise KeyError(name)
        return str(self.data[name])

    @property
    def audience_mode(self) -> str:
        return "segment" if self.data.get("audience") == "segment" else "rules"
