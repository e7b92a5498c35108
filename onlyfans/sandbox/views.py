"""A sandbox OnlyFans gateway with the real contract, for the local stack and tests.

It checks the bearer key, honours Idempotency-Key (a repeated key answers the original
delivery), answers 429 itself when an account goes over its limit within the rate window,
records every delivery, and can be told to fail (SandboxFault rows, in admin or through
`POST /sandbox/onlyfans/_faults`).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from onlyfans.pacing import account_pace
from onlyfans.sandbox.models import SandboxDelivery, SandboxFault


def _error(status: int, message: str, **headers: object) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = str(value)
    return response


def _authorized(request: HttpRequest) -> bool:
    return request.headers.get("Authorization", "") == f"Bearer {settings.ONLYFANS_API_KEY}"


def _limit_for(account: str) -> int:
    return account_pace(account).limit


def _take_fault(account: str) -> SandboxFault | None:
    with transaction.atomic():
        fault = (
            SandboxFault.objects.filter(remaining__gt=0)
            .filter(account__in=["", account])
            .order_by("created_at")
            .first()
        )
        if fault is None:
            return None
        SandboxFault.objects.filter(pk=fault.pk, remaining__gt=0).update(
            remaining=fault.remaining - 1
        )
    return fault


def _delivery_body(delivery: SandboxDelivery) -> dict:
    return {
        "id": delivery.upstream_id,
        "account": delivery.account,
        "recipientId": delivery.recipient_id,
        "receivedAt": delivery.received_at.isoformat(),
    }


@csrf_exempt
@require_POST
def send_message(request: HttpRequest, account: str, recipient_id: str) -> JsonResponse:
    if not _authorized(request):
        return _error(401, "Invalid API key.")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error(400, "Body must be JSON.")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("text"), str)
        or not body["text"].strip()
    ):
        return _error(400, "`text` is required.")
    key = request.headers.get("Idempotency-Key") or None

    if key:
        original = SandboxDelivery.objects.filter(idempotency_key=key).first()
        if original is not None:
            SandboxDelivery.objects.filter(pk=original.pk).update(replays=original.replays + 1)
            response = JsonResponse(_delivery_body(original), status=200)
            response["Idempotent-Replayed"] = "true"
            return response

    fault = _take_fault(account)
    if fault is not None:
        if fault.delay_seconds or fault.status_code == 0:
            time.sleep(fault.delay_seconds or settings.ONLYFANS_READ_TIMEOUT + 1)
        if fault.status_code == 429:
            return _error(429, "Injected: rate limited.", Retry_After=fault.retry_after or 1)
        if fault.status_code:
            return _error(fault.status_code, f"Injected failure {fault.status_code}.")

    window = timedelta(seconds=settings.ONLYFANS_RATE_WINDOW_SECONDS)
    recent = SandboxDelivery.objects.filter(
        account=account, received_at__gt=timezone.now() - window
    )
    if recent.count() >= _limit_for(account):
        oldest = recent.order_by("received_at").values_list("received_at", flat=True).first()
        assert oldest is not None  # the count above found at least one
        retry_after = max(int((oldest + window - timezone.now()).total_seconds() + 0.999), 1)
        return _error(429, "Rate limit exceeded for this account.", Retry_After=retry_after)

    try:
        with transaction.atomic():
            delivery = SandboxDelivery.objects.create(
                account=account,
                recipient_id=recipient_id,
                text=body["text"],
                media_files=body.get("mediaFiles") or [],
                idempotency_key=key,
            )
    except IntegrityError:
        delivery = SandboxDelivery.objects.get(idempotency_key=key)
    return JsonResponse(_delivery_body(delivery), status=200)


@csrf_exempt
@require_POST
def add_fault(request: HttpRequest) -> JsonResponse:
    """`{"statusCode": 500, "count": 3, "account": "…", "retryAfter": 5, "delaySeconds": 0}`"""
    if not _authorized(request):
        return _error(401, "Invalid API key.")
    try:
        body = json.loads(request.body or b"{}")
        fault = SandboxFault.objects.create(
            account=str(body.get("account", "")),
            status_code=int(body.get("statusCode", 500)),
            remaining=int(body.get("count", 1)),
            retry_after=body.get("retryAfter"),
            delay_seconds=float(body.get("delaySeconds", 0)),
        )
    except (ValueError, TypeError) as exc:
        return _error(400, f"Bad fault: {exc}")
    return JsonResponse({"id": fault.pk, "remaining": fault.remaining}, status=201)
