from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from postbacks.api import PartnerPostbackApi


@csrf_exempt
def legacy_postback(request):
    """Old integrations' paths: 308 keeps the method and body."""
    query = request.META.get("QUERY_STRING")
    return redirect("/api/postback" + (f"?{query}" if query else ""), permanent=True, preserve_request=True)


urlpatterns = [
    path("postback", PartnerPostbackApi.as_view(), name="partner-postback"),
    path("reward/postback", legacy_postback),
    path("rewards/postback", legacy_postback),
]
