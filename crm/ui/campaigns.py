"""The campaign pages: `/campaigns` (the list), `/campaigns/new` (the create form with its live
audience count) and `/campaigns/<id>` (progress, chart, Pause / Resume / Cancel, the poll).

Thin views over the same serializer, services and selectors as /api/crm/campaigns; every read
is scoped to the user's accounts, so another user's campaign is a 404.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from crm.campaigns import selectors, services
from crm.campaigns.models import Campaign, CampaignState, SkipReason
from crm.campaigns.selectors import RECIPIENT_STATES, resolve_audience
from crm.campaigns.serializers import CampaignCreateInputSerializer
from crm.models import Segment
from crm.selectors import scope_to_accounts
from crm.serializers import RulesSerializer
from crm.ui import campaign_forms as forms
from crm.ui.charts import sends_chart
from crm.ui.http import HtmxHttpRequest, state_version
from crm.ui.selectors import user_accounts
from crm.ui.views import page_view
from huntaze.core.errors import ApplicationError, InvalidInput
from huntaze.core.ids import parse_id

LIST_TEMPLATE = "campaigns/list.html"
FORM_TEMPLATE = "campaigns/new.html"
DETAIL_TEMPLATE = "campaigns/detail.html"
LIST_SIZE = 50
LIVE = (CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED)
STATE_LABELS = {
    "waiting": "Waiting for its message",
    "pending": "Pending",
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "dead_lettered": "Dead-lettered",
    "cancelled": "Cancelled",
    "skipped": "Skipped",
}
WAITING_LABELS = {
    "scheduled": "Scheduled: it starts at its scheduled time.",
    "paused": "Paused: nothing more is sent until you resume it; unsent messages are held.",
    "launching": (
        "Launching: the audience is being frozen and its messages created, batch by batch."
    ),
    "rate_limit": "Sending at the account's bulk pace, which keeps room for chatters' replies.",
}
ACTIONS = {"launch": services.campaign_launch, "pause": services.campaign_pause,
           "resume": services.campaign_resume, "cancel": services.campaign_cancel}  # fmt: skip


# --- The list ------------------------------------------------------------------------------------
@page_view
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = list(
        scope_to_accounts(Campaign.objects.select_related("account"), user=request.user).order_by(
            "-created_at", "-id"
        )[:LIST_SIZE]
    )
    progress = selectors.campaigns_progress_summary(campaigns)
    rows = [(campaign, progress[campaign.pk]) for campaign in campaigns]
    return render(request, LIST_TEMPLATE, {"rows": rows})


# --- The create form -----------------------------------------------------------------------------
def form_context(
    request: HttpRequest, *, values: Any = None, errors: list[str] | None = None
) -> dict[str, Any]:
    accounts = user_accounts(user=request.user)
    segments = list(
        scope_to_accounts(Segment.objects.select_related("account"), user=request.user).order_by(
            "name", "pk"
        )[:200]
    )
    return {
        "accounts": accounts,
        "segments": segments,
        "values": values or forms.FormValues(request.GET.copy()),
        "errors": errors or [],
        "status_choices": forms.STATUS_CHOICES,
    }


@page_view
@require_http_methods(["GET", "POST"])
def campaign_new(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "GET":
        context = form_context(request)
        context["preview"] = _preview(request, request.GET)
        return render(request, FORM_TEMPLATE, context)
    serializer = CampaignCreateInputSerializer(data=forms.body_from(request.POST))
    values = forms.FormValues(request.POST)
    if not serializer.is_valid():
        return _form_error(request, values, forms.error_text(serializer.errors))
    try:
        campaign = services.campaign_create_from_input(
            user=request.user, data=serializer.validated_data
        )
        if request.POST.get("action") == "launch":
            campaign = services.campaign_launch(campaign=campaign)
    except InvalidInput as exc:
        return _form_error(request, values, forms.error_text(exc.details))
    except ApplicationError as exc:  # NotFound too: a 404 that says what was not found
        return _form_error(request, values, [exc.message], status=exc.status_code)
    url = reverse("campaign-detail", args=[campaign.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _form_error(
    request: HttpRequest, values: forms.FormValues, errors: list[str], status: int = 400
) -> HttpResponse:
    context = form_context(request, values=values, errors=errors)
    context["preview"] = _preview(request, request.POST)
    return render(request, FORM_TEMPLATE, context, status=status)


def _preview(request: HttpRequest, form: QueryDict) -> dict[str, Any]:
    """The live count and forecast for the audience the form describes, or why it has none."""
    body = forms.audience_from(form)
    if "segmentId" in body and form.get("segment", "") == "":
        return {"error": "Choose a segment."}
    if "accountId" in body and parse_id(body["accountId"]) is None:
        return {"error": "OnlyFans account not found."}
    rules = None
    if "filter" in body:
        serializer = RulesSerializer(data=body["filter"])
        if not serializer.is_valid():
            return {"error": " ".join(forms.error_text(serializer.errors))}
        rules = serializer.validated_data
    try:
        account, segment = resolve_audience(user=request.user, data=body)
    except InvalidInput as exc:
        return {"error": " ".join(forms.error_text(exc.details))}
    except ApplicationError as exc:  # NotFound too
        return {"error": exc.message}
    return {"result": selectors.audience_preview(account=account, segment=segment, rules=rules)}


@page_view
@require_GET
def campaign_audience(request: HttpRequest) -> HttpResponse:
    """The form's live count: the audience the fields describe, counted now."""
    preview = _preview(request, request.GET)
    return render(
        request,
        f"{FORM_TEMPLATE}#audience-preview",
        {"preview": preview},
        status=400 if "error" in preview else 200,
    )


# --- The progress page ---------------------------------------------------------------------------
def progress_context(
    campaign: Campaign, progress: selectors.CampaignProgress | None = None
) -> dict[str, Any]:
    progress = progress or selectors.campaign_progress(campaign)
    final = sum(progress.by_state[state] for state in selectors.FINAL_STATES)
    return {
        "campaign": campaign,
        "progress": progress,
        "percent": round(100 * final / progress.total) if progress.total else 0,
        "final": final,
        "states": [
            (state, STATE_LABELS[state], progress.by_state[state]) for state in RECIPIENT_STATES
        ],
        "skip_reasons": [
            (SkipReason(reason).label, n) for reason, n in sorted(progress.skip_reasons.items())
        ],
        "forecast": progress.forecast,
        "waiting_text": WAITING_LABELS.get(progress.waiting_for or "", ""),
        "chart": sends_chart(selectors.sends_over_time(campaign)),
        "live": campaign.state in LIVE,
        "version": progress_version(campaign, progress),
    }


def progress_version(campaign: Campaign, progress: selectors.CampaignProgress) -> str:
    """What the progress fragment shows that can change, in 16 hex digits (the poll's 204)."""
    finish = progress.projected_finish_at
    state = (campaign.state, progress.total, sorted(progress.by_state.items()),
             sorted(progress.skip_reasons.items()), progress.waiting_for,
             progress.rate_per_minute, progress.forecast,
             # To the minute: a live finish that only drifts does not make every poll a change.
             finish.replace(second=0, microsecond=0) if finish else None)  # fmt: skip
    return state_version(state)


@page_view
@require_GET
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
    return render(request, DETAIL_TEMPLATE, progress_context(campaign))


@page_view
@require_GET
def campaign_poll(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The progress fragment when something changed since `version`; 204 otherwise."""
    campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
    progress = selectors.campaign_progress(campaign)
    version = progress_version(campaign, progress)
    if version == request.GET.get("version"):
        return HttpResponse(status=204, headers={"X-Campaign-Version": version})
    body = render_to_string(
        f"{DETAIL_TEMPLATE}#progress", progress_context(campaign, progress), request=request
    )
    return HttpResponse(body, headers={"X-Campaign-Version": version})


@page_view
@require_POST
def campaign_action(request: HtmxHttpRequest, campaign_id: int, action: str) -> HttpResponse:
    campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
    error, status = "", 200
    try:
        campaign = ACTIONS[action](campaign=campaign)
    except ApplicationError as exc:  # a state conflict, an inactive account, the limiter off
        campaign.refresh_from_db()
        error, status = f"{exc.message} Nothing was changed.", exc.status_code
    context = {**progress_context(campaign), "action_error": error}
    if request.htmx:
        return render(request, f"{DETAIL_TEMPLATE}#progress", context, status=status)
    if not error:
        return redirect("campaign-detail", campaign.pk)
    return render(request, DETAIL_TEMPLATE, context, status=status)
