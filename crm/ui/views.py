"""The inbox page `/messages/onlyfans` and its htmx fragments.

Thin views: each parses the request, calls the same selectors and services as the API (or the
delivery adapter in crm.delivery_state) and renders the page or one of its named partials
(templates/inbox/inbox.html#…). Another user's conversation or message is a 404.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from crm import delivery_state, services
from crm.serializers import FanInputSerializer
from crm.thread_serializers import ThreadMessageInputSerializer
from crm.ui import selectors
from crm.ui.http import HtmxHttpRequest, state_version
from crm.ui.selectors import ListQuery
from huntaze.core.errors import ApplicationError, InvalidInput, NotFound
from huntaze.core.ids import parse_id, parse_int
from huntaze.core.throttles import UserSendThrottle
from onlyfans.models import DEFAULT_PRIORITY, OutboundMessage

if TYPE_CHECKING:
    from crm.models import Conversation, Message

TEMPLATE = "inbox/inbox.html"
FILTER_CHOICES = [
    ("all", "All"),
    ("unread", "Unread"),
    ("pinned", "Pinned"),
    ("expiring", "Expiring soon"),
]
FIELD_LABELS = {
    "content": "Message",
    "mediaUrls": "Media URLs",
    "priority": "Priority",
    "tags": "Tags",
    "notes": "Notes",
}


def page_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, and the selectors' "not found" is the page's 404."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if request.htmx:
                # A fragment request after the session ended: the whole page goes to the login,
                # not the login form into a pane.
                back = request.htmx.current_url_abs_path or reverse("inbox")
                return HttpResponseClientRedirect(
                    f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back})}"
                )
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None

    return wrapper


def home(request: HttpRequest) -> HttpResponse:
    return redirect("inbox" if request.user.is_authenticated else "login")


def error_text(detail: Any) -> str:
    """A DRF validation error's details as one sentence per field, with readable names."""
    if isinstance(detail, dict):
        return " ".join(f"{FIELD_LABELS.get(k, k)}: {error_text(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(error_text(item) for item in detail)
    return str(detail)


# --- The page ------------------------------------------------------------------------------------
def list_query(request: HttpRequest, accounts: list | None = None) -> ListQuery:
    """The list's state from the query string; the accounts are read only to check `account`."""
    wanted = request.GET.get("filter", "all")
    account = request.GET.get("account")
    if account and accounts is None:
        accounts = selectors.user_accounts(user=request.user)
    return ListQuery(
        account_id=selectors.parse_account(account, accounts or []),
        search=request.GET.get("q", "").strip()[:100],
        filter=wanted if wanted in selectors.FILTERS else "all",
        cursor=request.GET.get("cursor", ""),
    )


def conversation_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    if conversation.unread_count:
        services.conversation_mark_read(conversation=conversation)
    return {
        "conversation": conversation,
        "fan": conversation.fan,
        "thread": selectors.thread_page(conversation=conversation),
        "composer": {"key": uuid.uuid4()},
    }


@page_view
@require_GET
def inbox(request: HtmxHttpRequest, conversation_id: int | None = None) -> HttpResponse:
    accounts = selectors.user_accounts(user=request.user)
    context: dict[str, Any] = {
        "accounts": accounts,
        "conversation": None,
        "filter_choices": FILTER_CHOICES,
    }
    if conversation_id is not None:
        conversation = selectors.conversation_for(
            user=request.user, conversation_id=conversation_id
        )
        context.update(conversation_context(request, conversation))
        if request.htmx and request.htmx.target == "conversation-pane":
            return render(request, f"{TEMPLATE}#conversation", context)
    try:
        query = list_query(request, accounts)
        page = selectors.conversation_page(user=request.user, query=query)
    except InvalidInput:
        query = ListQuery(account_id=query.account_id)
        page = selectors.conversation_page(user=request.user, query=query)
    in_flight = (
        [m for m in context["thread"].messages if m.delivery and m.delivery.in_flight]
        if conversation_id
        else []
    )
    version = poll_version(selectors.fingerprint_of(page), [], in_flight)
    context.update(query=query, page=page, version=version)
    return render(request, TEMPLATE, context)


@page_view
@require_GET
def conversation_list(request: HttpRequest) -> HttpResponse:
    """List rows for a search, a filter or the next page (`cursor`)."""
    query = list_query(request)
    try:
        page = selectors.conversation_page(user=request.user, query=query)
    except InvalidInput as exc:
        return HttpResponse(error_text(exc.details), status=400, content_type="text/plain")
    return render(request, f"{TEMPLATE}#conversation-rows", {"page": page, "query": query})


@page_view
@require_GET
def thread_older(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = selectors.conversation_for(user=request.user, conversation_id=conversation_id)
    before = parse_id(request.GET.get("before", ""))
    if before is None:
        return HttpResponse("`before` must be a message id.", status=400, content_type="text/plain")
    thread = selectors.thread_page(conversation=conversation, before=before)
    return render(request, f"{TEMPLATE}#older", {"conversation": conversation, "thread": thread})


# --- Composer ------------------------------------------------------------------------------------
def composer_response(
    request: HttpRequest,
    conversation: Conversation,
    *,
    key: uuid.UUID | str,
    status: int = 200,
    error: str = "",
    values: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    message: Message | None = None,
) -> HttpResponse:
    context = {
        "conversation": conversation,
        "composer": {"key": key, "error": error, **(values or {})},
        "sent_message": message,
    }
    response = render(request, f"{TEMPLATE}#composer-response", context, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@page_view
@require_POST
def send(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = selectors.conversation_for(user=request.user, conversation_id=conversation_id)
    content = request.POST.get("content", "")
    media = request.POST.get("media_urls", "")
    priority = request.POST.get("priority", "").strip()
    key = request.POST.get("idempotency_key") or str(uuid.uuid4())
    typed = {"content": content, "media_urls": media, "priority": priority}

    throttle = UserSendThrottle()
    if not throttle.allow_request(request, None):
        wait = math.ceil(throttle.wait() or 1)
        return composer_response(
            request, conversation, key=key, status=429, values=typed,
            error=f"Too many messages in a minute: wait {wait} s, then send again.",
            headers={"Retry-After": str(wait)},
        )  # fmt: skip
    data: dict[str, Any] = {"content": content, "mediaUrls": media.split()}
    if priority:
        number = parse_int(priority, signed=True)
        data["priority"] = priority if number is None else number
    serializer = ThreadMessageInputSerializer(data=data)
    if not serializer.is_valid():
        return composer_response(
            request,
            conversation,
            key=key,
            status=400,
            values=typed,
            error=error_text(serializer.errors),
        )
    valid = serializer.validated_data
    try:
        outcome = services.conversation_message_send(
            user=request.user,
            conversation=conversation,
            content=valid["content"],
            media_urls=valid.get("mediaUrls", []),
            priority=valid.get("priority", DEFAULT_PRIORITY),
            metadata={},
            idempotency_key=key,
        )
    except ApplicationError as exc:
        return composer_response(
            request, conversation, key=key, status=exc.status_code, values=typed, error=exc.message
        )
    message = outcome.message
    sent = outcome.pipeline.message
    message.delivery = delivery_state.delivery_states([sent])[sent.pk]
    return composer_response(request, conversation, key=uuid.uuid4(), message=message)


# --- Fan panel -----------------------------------------------------------------------------------
@page_view
@require_POST
def fan_update(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Tags (comma-separated) or notes, whichever the request carries."""
    conversation = selectors.conversation_for(user=request.user, conversation_id=conversation_id)
    fan = conversation.fan
    if "tags" in request.POST:
        data: dict[str, Any] = {
            "tags": [t.strip() for t in request.POST["tags"].split(",") if t.strip()]
        }
        partial = "fan-tags"
    elif "notes" in request.POST:
        data = {"notes": request.POST["notes"]}
        partial = "notes-status"
    else:
        return HttpResponse("Send tags or notes.", status=400, content_type="text/plain")
    serializer = FanInputSerializer(data=data, partial=True)
    if serializer.is_valid():
        fan = services.fan_update(fan=fan, data=serializer.validated_data)
        error, status = "", 200
    else:
        error, status = error_text(serializer.errors), 400
    context = {
        "conversation": conversation,
        "fan": fan,
        "fan_error": error,
        "saved_at": timezone.now(),
    }
    return render(request, f"{TEMPLATE}#{partial}", context, status=status)


# --- Cancel and retry ----------------------------------------------------------------------------
def _message_action(
    request: HttpRequest,
    message_id: int,
    action: Callable[[OutboundMessage], bool],
    refused: str,
) -> HttpResponse:
    message = selectors.thread_message(user=request.user, message_id=message_id)
    outbound = message.outbound
    assert outbound is not None  # thread_message finds only messages the pipeline sends
    done = action(outbound)
    outbound.refresh_from_db()
    message.delivery = delivery_state.delivery_states([outbound])[outbound.pk]
    selectors.mark_campaign_messages([message])
    context = {"m": message, "action_error": "" if done else refused}
    return render(request, f"{TEMPLATE}#message", context, status=200 if done else 409)


@page_view
@require_POST
def message_cancel(request: HttpRequest, message_id: int) -> HttpResponse:
    return _message_action(
        request, message_id, delivery_state.message_cancel,
        "Too late to cancel: this message is already being sent or has been delivered.",
    )  # fmt: skip


@page_view
@require_POST
def message_retry(request: HttpRequest, message_id: int) -> HttpResponse:
    return _message_action(
        request, message_id, delivery_state.message_retry, "Only a failed message can be retried."
    )


# --- Live updates --------------------------------------------------------------------------------
def poll_version(list_rows: list[tuple], new_messages: list, watched: list) -> str:
    """What the client has on screen, in 16 hex digits: the poll answers 204 while it holds."""
    state = (
        list_rows,
        [m.pk for m in new_messages],
        [(m.pk, m.delivery.fingerprint() if m.delivery else None) for m in watched],
    )
    return state_version(state)


def _ids(value: str) -> list[int]:
    """Message ids from `watch`; anything that is not one is ignored."""
    ids = (parse_id(part) for part in value.split(",")[:100])
    return [pk for pk in ids if pk is not None]


@page_view
@require_GET
def poll(request: HttpRequest) -> HttpResponse:
    """What changed since the client's `version`: the list's first page, the open thread's new
    messages and the state of its in-flight ones. 204 when nothing did."""
    query = ListQuery(**{**list_query(request).__dict__, "cursor": ""})
    new_messages: list = []
    conversation = None
    if conversation_id := request.GET.get("conversation"):
        conversation = selectors.conversation_for(
            user=request.user, conversation_id=conversation_id
        )
        after = parse_id(request.GET.get("after", "")) or 0
        new_messages = selectors.messages_after(conversation=conversation, after=after)
        if any(m.direction == "inbound" for m in new_messages):
            services.conversation_mark_read(conversation=conversation)
    watched = selectors.thread_messages(
        user=request.user, message_ids=_ids(request.GET.get("watch", ""))
    )
    watched = [m for m in watched if m.pk not in {n.pk for n in new_messages}]
    states = delivery_state.delivery_states(m.outbound for m in [*new_messages, *watched])
    for m in [*new_messages, *watched]:
        m.delivery = states.get(m.outbound_id)
    selectors.mark_campaign_messages([*new_messages, *watched])
    # The cheap check first: the first page's changing columns, without building its rows.
    version = poll_version(
        selectors.list_fingerprint_rows(user=request.user, query=query), new_messages, watched
    )
    if version == request.GET.get("version"):
        return HttpResponse(status=204, headers={"X-Inbox-Version": version})
    page = selectors.conversation_page(user=request.user, query=query)
    body = render_to_string(
        f"{TEMPLATE}#poll",
        {
            "page": page,
            "query": query,
            "new_messages": new_messages,
            "watched": watched,
            "conversation": conversation,
        },
        request=request,
    )
    return HttpResponse(body, headers={"X-Inbox-Version": version})
