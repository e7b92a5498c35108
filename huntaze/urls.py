from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from huntaze.auth import LoginApi, RefreshApi
from huntaze.core.errors import api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^api/auth/token/?$", LoginApi.as_view(), name="token-obtain"),
    re_path(r"^api/auth/token/refresh/?$", RefreshApi.as_view(), name="token-refresh"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # The CRM's API: /api/crm/…, /api/onlyfans/import/… and /api/onlyfans/webhooks/….
    path("api/", include("crm.urls")),
    path("api/onlyfans/", include("onlyfans.urls")),
    # The pages: login, logout, `/` and the inbox.
    path("", include("crm.ui.urls")),
    # Last of the API: an unknown API route is a JSON 404, with DEBUG on too (not Django's page).
    re_path(r"^api/", api_not_found),
]

if settings.ONLYFANS_SANDBOX_ENABLED:
    # The sandbox OnlyFans gateway: the gateway contract, for the local stack and tests.
    urlpatterns.append(path("sandbox/onlyfans/", include("onlyfans.sandbox.urls")))

handler400 = "huntaze.core.errors.handler400"
handler403 = "huntaze.core.errors.handler403"
handler404 = "huntaze.core.errors.handler404"
handler500 = "huntaze.core.errors.handler500"
