"""drf-spectacular hooks: document the routes as the seed writes them, bodies as JSON."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as _AutoSchema

# simplejwt's conventional paths keep their slash (DESIGN.md writes them so).
_KEEP_TRAILING_SLASH = ("/api/auth/",)


def document_seed_paths(endpoints, **kwargs):
    """A route served with and without its trailing slash (`…/?$`) is documented once, in the
    seed's form without it: `/api/onlyfans/messages/send`, not `/api/onlyfans/messages/send/`."""
    documented = []
    for path, path_regex, method, callback in endpoints:
        if (
            path_regex.endswith("/?$")
            and path.endswith("/")
            and len(path) > 1
            and not path.startswith(_KEEP_TRAILING_SLASH)
        ):
            path = path[:-1]
        documented.append((path, path_regex, method, callback))
    return documented


class AutoSchema(_AutoSchema):
    """Our JSON parser accepts any Content-Type (a client that forgot the header still gets
    through), but the body it documents is JSON."""

    def map_parsers(self):
        return list(
            dict.fromkeys("application/json" if media == "*/*" else media for media in super().map_parsers())
        )
