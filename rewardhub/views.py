from django.db import DatabaseError, connection
from django.http import JsonResponse


def healthz(request):
    """200 when the database answers, 503 otherwise (load balancers take the instance out)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"ok": False, "error": "database_unavailable"}, status=503)
    return JsonResponse({"ok": True})
