from datetime import timedelta

from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.timesince import timeuntil

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


def admin_lockout(request, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE): a page that says how long it lasts."""
    now = timezone.now()
    lasts = timeuntil(now + (get_cool_off(request) or timedelta()), now)  # "1 hour", "30 minutes"
    context = {"lasts": lasts, "failure_limit": get_failure_limit(request, credentials)}
    return render(request, "lockout.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
