from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from rewardhub.views import HealthzView

admin.site.site_header = "RewardHub operations"
admin.site.site_title = "RewardHub"
admin.site.index_title = "Partners, games, coins and giveaways"
admin.site.site_url = None  # no public home page: "View site" led to a 404

urlpatterns = [
    path("healthz", HealthzView.as_view(), name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("postbacks.urls")),
    path("api/app/", include("ledger.urls")),
    path("api/app/", include("postbacks.app_urls")),  # the app's partner postbacks: postbacks builds on ledger
    path("api/", include("postbacks.offers_urls")),
    path("admin/", admin.site.urls),
    path("", include("giveaways.urls")),  # public giveaway pages and the host API (/g/…, /public/v1/…)
] + static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
