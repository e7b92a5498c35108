"""URLs for bench/send_throughput.py: the project's, plus one bare DRF + JWT view that validates
the send body and inserts one row — the yardstick for `POST /send`."""

from __future__ import annotations

from django.urls import include, path
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView


class BareSendApi(APIView):
    def post(self, request):
        from onlyfans.models import OutboundMessage
        from onlyfans.selectors import account_for_user
        from onlyfans.serializers import SendInputSerializer

        serializer = SendInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = account_for_user(user=request.user, account_pk=None)
        row = OutboundMessage.objects.create(
            account=account,
            sender=request.user,
            recipient_id=serializer.validated_data["recipientId"],
            content=serializer.validated_data["content"],
        )
        return Response({"messageId": str(row.pk)}, status=status.HTTP_202_ACCEPTED)


urlpatterns = [path("bare/send", BareSendApi.as_view()), path("", include("huntaze.urls"))]
