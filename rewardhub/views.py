from django.db import DatabaseError
from django.http import HttpResponse
from django.views import View

from rewardhub.db import DJANGO_DB, Database, run_now
from rewardhub.errors import json_response


class HealthzView(View):
    """200 when the database answers, 503 otherwise (load balancers take the instance out). A hot path
    (settings.HOT_PATHS), so under gunicorn it asks the worker's pool, the connections that serve the money."""

    def dispatch(self, request, *args, **kwargs):
        return run_now(self.respond(request, DJANGO_DB))

    async def respond(self, request, db: Database) -> HttpResponse:
        try:
            await db.fetchone("SELECT 1", None)
        except DatabaseError:
            return json_response({"ok": False, "error": "database_unavailable"}, 503)
        return json_response({"ok": True})
