"""The hot paths, served straight from the WSGI entry point.

Partner postbacks, offer-network callbacks and giveaway task callbacks are nearly all of the traffic. Their
views authenticate with their own secrets and signatures and use no session, user, CSRF token, message or
login-attempt tracking, yet Django's handler ran that whole middleware stack, and URL resolution, on every
request: most of each request's Python time besides the view's own (README, Performance). HotPaths calls
the views of the URLs named in settings.HOT_PATHS directly and keeps what matters for them from the handler:
request_started/request_finished (database connection upkeep), SecurityMiddleware and XFrameOptionsMiddleware
(HTTPS redirect, security headers), the 503 for a lost database, and Django's exception responses and logging.
Every other request goes to Django's handler unchanged.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_path_info
from django.db import DEFAULT_DB_ALIAS, connections
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import URLPattern, URLResolver, get_resolver, path
from django.utils.log import log_response

from rewardhub.middleware import database_unavailable


class HotPaths:
    def __init__(self, handler: WSGIHandler):
        self.handler = handler
        self.routes = hot_routes(get_resolver(), set(settings.HOT_PATHS))
        self.security = SecurityMiddleware(self.handler.get_response)
        self.frame_options = XFrameOptionsMiddleware(self.handler.get_response)

    def __call__(self, environ, start_response):
        path_info = get_path_info(environ)
        for route in self.routes:
            if match := route.pattern.match(path_info.removeprefix("/")):
                return self.serve(route.callback, match[2], environ, start_response)
        return self.handler(environ, start_response)

    def serve(self, view, kwargs: dict, environ, start_response):
        """What WSGIHandler.__call__ and BaseHandler.get_response do, minus the middleware and URL resolution."""
        # The one receiver of request_started/finished these views need (the others reset DEBUG's query log,
        # the URLconf and caches they never change), for the one database they use, without the signal dispatch.
        database = connections[DEFAULT_DB_ALIAS]
        connection_upkeep(database)
        request = WSGIRequest(environ)
        try:
            response = self.security.process_request(request) or view(request, **kwargs)
        except Exception as exc:  # answered as Django's handler answers a view's exception
            response = database_unavailable(exc) or response_for_exception(request, exc)
        response = self.frame_options.process_response(request, self.security.process_response(request, response))
        request.close()
        connection_upkeep(database)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        if not response.has_header("Content-Length"):  # keep-alive clients need it (CommonMiddleware's job elsewhere)
            response["Content-Length"] = str(len(response.content))
        cookies = [("Set-Cookie", cookie.output(header="")) for cookie in response.cookies.values()]
        headers = [*response.items(), *cookies]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return [response.content]


def connection_upkeep(database) -> None:
    """close_old_connections for the database these views use: drop a connection that broke or outlived
    CONN_MAX_AGE. A request never starts inside a transaction, except in a test whose transaction holds the
    connection (Django's test client skips the upkeep then too)."""
    if not database.in_atomic_block:
        database.close_if_unusable_or_obsolete()


def hot_routes(resolver: URLResolver, names: set[str], prefix: str = "", namespace: str = "") -> list[URLPattern]:
    """The URL patterns named in `names` ("name" or "namespace:name"), each with its full route from the root."""
    routes = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            routes += hot_routes(pattern, names, prefix + str(pattern.pattern), inner)
        elif pattern.name and f"{namespace}{pattern.name}" in names:
            names.discard(f"{namespace}{pattern.name}")
            routes.append(path(prefix + str(pattern.pattern), pattern.callback, name=pattern.name))
    if not prefix and names:
        raise ImproperlyConfigured(f"HOT_PATHS names no URL pattern: {', '.join(sorted(names))}")
    return routes
