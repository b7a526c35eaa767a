from django.db import InterfaceError, OperationalError

from rewardhub.errors import error_response


class DatabaseUnavailableMiddleware:
    """A lost or refused database connection is an outage, not a bug: answer 503 so clients retry.
    Nothing was committed (the transaction died with the connection) and Django reconnects on the
    next request, so the server recovers without a restart."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        return database_unavailable(exception)


def database_unavailable(exception: Exception):
    """The 503 answer for a lost or refused database connection; None for any other exception."""
    if not isinstance(exception, OperationalError | InterfaceError):
        return None
    response = error_response("service_unavailable", "The database is unavailable; retry shortly.", 503)
    response["Retry-After"] = "1"
    return response
