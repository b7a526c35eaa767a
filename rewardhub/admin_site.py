"""The operator console's site: Django's admin, refusing NUL in what a request sends before any view queries it.

PostgreSQL text cannot hold NUL, so a NUL in a list filter, a search, an object id in the path or a selected
action's id made the query fail: a 500 with a traceback. Every admin view, present and future (changelists,
change forms, actions, autocomplete, each ModelAdmin's own views), is wrapped by AdminSite.admin_view, so the
refusal lives there once, after the site's login check (a logged-out visitor is sent to the login page first):
a 400 page.
"""

from functools import wraps

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import BadRequest


class RewardHubAdminSite(AdminSite):
    # The list of every model beside every page took a fifth of a 1400 px screen and cut list columns off; the
    # first page lists the models, and breadcrumbs lead back to it.
    enable_nav_sidebar = False

    def admin_view(self, view, cacheable=False):
        return super().admin_view(refusing_nul(view), cacheable)

    def index(self, request, extra_context=None):
        """The first page is a dashboard: figures support acts on, each linking to its list."""
        from rewardhub.dashboard import at_a_glance  # spans the apps, which import this module

        return super().index(request, {**at_a_glance(request.user), **(extra_context or {})})


class RewardHubAdminConfig(AdminConfig):
    default_site = "rewardhub.admin_site.RewardHubAdminSite"


def refusing_nul(view):
    @wraps(view)
    def checked(request, *args, **kwargs):
        if sends_nul(request):
            raise BadRequest("NUL characters are not allowed in the address, its parameters or a form.")
        return view(request, *args, **kwargs)

    return checked


def sends_nul(request) -> bool:
    """In the path, a query parameter's name or value, or a posted form's."""
    forms = [request.GET, request.POST] if request.method == "POST" else [request.GET]
    return "\x00" in request.path or any(
        "\x00" in text for form in forms for name, values in form.lists() for text in (name, *values)
    )
