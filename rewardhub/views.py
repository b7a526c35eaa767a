from django.db import DatabaseError
from django.http import HttpResponse

from rewardhub.db import Database
from rewardhub.errors import json_response


async def healthz(request, db: Database) -> HttpResponse:
    """200 when the database answers, 503 otherwise (load balancers take the instance out). A hot path, so it
    asks the worker's pool: the connections that serve the money."""
    try:
        await db.fetchone("SELECT 1", None)
    except DatabaseError:
        return json_response({"ok": False, "error": "database_unavailable"}, 503)
    return json_response({"ok": True})
