from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from giveaways import api as giveaway_api
from ledger import api as app_api
from postbacks.offers import api as offers_api
from postbacks.partner import api as partner_api
from rewardhub.hot_paths import HotPath
from rewardhub.metrics import metrics
from rewardhub.views import healthz

admin.site.site_header = "RewardHub operations"
admin.site.site_title = "RewardHub"
admin.site.index_title = "Partners, games, coins and giveaways"
admin.site.site_url = None  # no public home page: "View site" led to a 404

# The fast lane: served by rewardhub.asgi.application straight from this table, before Django's handler and its
# middleware (rewardhub.hot_paths says what they keep and why). A route is one line: its path, the view coroutine
# `view(request, db, **path arguments)` that answers every method, its URL name, and what /api/schema/ says of it.
HOT_PATHS = [
    HotPath("healthz", healthz, name="healthz"),
    HotPath("metrics", metrics, name="metrics"),
    HotPath("api/postback", partner_api.partner_postback, name="partner-postback", docs={"post": partner_api.POSTBACK_DOCS}),
    HotPath("api/callbacks/<str:slug>", offers_api.offer_callback, name="offer-callback", docs={"get": offers_api.CALLBACK_DOCS}),
    HotPath("public/v1/giveaway/task/callback", giveaway_api.task_callback, name="giveaway-task-callback", docs={"post": giveaway_api.TASK_CALLBACK_DOCS}),
    HotPath("public/v1/giveaway/player/status", giveaway_api.player_status, name="giveaway-player-status", docs={"post": giveaway_api.PLAYER_STATUS_DOCS}),
    HotPath("api/app/me", app_api.app_me, name="app-me", docs={"get": app_api.APP_ME_DOCS}),
    HotPath("public/v1/giveaway/prize/callback", giveaway_api.prize_callback, name="giveaway-prize-callback", docs={"post": giveaway_api.PRIZE_CALLBACK_DOCS}),
]  # fmt: skip

urlpatterns = [
    *(hot_path.reversible() for hot_path in HOT_PATHS),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("postbacks.partner.urls")),
    path("api/app/", include("ledger.urls")),
    path("api/app/", include("postbacks.partner.app_urls")),  # the app's partner postbacks: postbacks builds on ledger
    path("admin/", admin.site.urls),
    path("", include("giveaways.urls")),  # public giveaway pages and the host API (/g/…, /public/v1/…)
] + static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
urlpatterns += staticfiles_urlpatterns()  # DEBUG only, as static(): `make run` serves the admin's and docs' assets
