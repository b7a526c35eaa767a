from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def legacy_postback(request):
    """Old integrations' paths: 308 keeps the method and body. /api/postback itself is in the fast lane
    (rewardhub.urls.HOT_PATHS)."""
    query = request.META.get("QUERY_STRING")
    return redirect("/api/postback" + (f"?{query}" if query else ""), permanent=True, preserve_request=True)


urlpatterns = [
    path("reward/postback", legacy_postback),
    path("rewards/postback", legacy_postback),
]
