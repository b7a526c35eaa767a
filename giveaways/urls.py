from django.urls import path

from giveaways import views

app_name = "giveaways"

urlpatterns = [
    # The hosts' signed API (/public/v1/giveaway/…) is in the fast lane: rewardhub.urls.HOT_PATHS.
    path("g/<slug:slug>", views.giveaway_page, name="page"),
    path("g/<slug:slug>/join", views.join, name="join"),
    path("g/<slug:slug>/tasks/<int:task_id>", views.task_redirect, name="task"),
    path("g/<slug:slug>/fairness", views.fairness_page, name="fairness"),
    path("g/<slug:slug>/claim", views.claim_page, name="claim"),
]
