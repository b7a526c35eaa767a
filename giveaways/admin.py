"""The hosts' console: projects (API key), giveaways with tasks and custom rewards, draws, 'Check API callback'."""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from giveaways import selectors, services
from giveaways.models import (
    CallbackAttempt,
    Draw,
    DrawWinner,
    Giveaway,
    GiveawayProject,
    GiveawayReward,
    GiveawayTask,
    Participant,
    TaskProgress,
)
from giveaways.signing import task_callback_strings
from giveaways.views import with_track_id
from rewardhub.admin_export import CsvExportMixin

# Links typed without a scheme are https (Django 6's default, chosen now). Plain, narrower inputs in the task and
# reward tables: the admin's URL widget repeats the link above the field ("Currently: … Change:") and its text
# inputs are 20em wide, which pushed the tables past 1400 px.
HTTPS_URLS = {models.URLField: {"assume_scheme": "https", "widget": forms.URLInput(attrs={"size": 28})}}
COMPACT_ROWS = {**HTTPS_URLS, models.CharField: {"widget": forms.TextInput(attrs={"size": 18})}}


class ReadOnlyMixin:
    """Participants, progress, draws and callback attempts are records: nobody edits them by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GiveawayProject)
class GiveawayProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "created_at", "api_key_rotated_at"]
    search_fields = ["name", "website_links"]

    @admin.display(description="API key")
    def key_prefix(self, obj):
        return f"{obj.api_key[:6]}…"

    @admin.display(description="API key")
    def api_key_display(self, obj):
        return format_html(
            '<input type="text" readonly size="70" value="{}" style="font-family: monospace">', obj.api_key
        )

    def get_fields(self, request, obj=None):
        return (
            ["name", "website_links"]
            if obj is None
            else ["name", "website_links", "api_key_display", "api_key_rotated_at", "created_at"]
        )

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["api_key_display", "api_key_rotated_at", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            services.assign_new_api_key(obj)
        super().save_model(request, obj, form, change)

    def get_urls(self):
        rotate = self.admin_site.admin_view(self.rotate_key_view)
        return [
            path("<int:project_id>/rotate-key/", rotate, name="giveaways_giveawayproject_rotate"),
            *super().get_urls(),
        ]

    def rotate_key_view(self, request, project_id):
        project = get_object_or_404(GiveawayProject, pk=project_id)
        if not self.has_change_permission(request, project):
            raise PermissionDenied
        if request.method == "POST":
            services.rotate_api_key(project=project)
            self.log_change(request, project, "Rotated the API key")
            self.message_user(request, "New API key issued. The old key no longer verifies any callback.")
            return redirect("admin:giveaways_giveawayproject_change", project.pk)
        return confirm_page(
            self,
            request,
            project,
            title=f"Rotate the API key of {project.name}?",
            intro=(
                "Every callback signed with the current key will fail with a bad signature until each of "
                "this project's websites uses the new key. Only do this when the host asks for it."
            ),
            button="Rotate the API key",
        )


def confirm_page(model_admin, request, obj, *, title, intro, button):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": obj,
        "title": title,
        "intro": intro,
        "button": button,
    }
    return TemplateResponse(request, "admin/giveaways/confirm.html", context)


class DrawnGiveawayLockMixin:
    """Tasks and rewards are part of what a draw published: frozen once drawn."""

    def _drawn(self, obj):
        return obj is not None and Draw.objects.filter(giveaway=obj).exists()

    def has_add_permission(self, request, obj=None):
        return not self._drawn(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._drawn(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._drawn(obj) and super().has_delete_permission(request, obj)


class TaskInline(DrawnGiveawayLockMixin, admin.TabularInline):
    model = GiveawayTask
    formfield_overrides = COMPACT_ROWS
    fields = ["position", "kind", "name", "event", "website_url", "required_amount", "check_callback"]
    readonly_fields = ["check_callback"]
    extra = 0

    @admin.display(description="Check API callback")
    def check_callback(self, obj):
        if obj.pk is None:
            return "Save first"
        url = reverse("admin:giveaways_giveaway_check_callback", args=[obj.giveaway_id, obj.pk])
        return format_html('<a href="{}">Check API callback</a>', url)


class RewardInline(DrawnGiveawayLockMixin, admin.TabularInline):
    model = GiveawayReward
    formfield_overrides = COMPACT_ROWS
    fields = ["position", "name", "winners", "image", "tag", "reward_url"]
    extra = 0


@admin.register(Giveaway)
class GiveawayAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "project", "status", "starts_at", "ends_at", "is_drawn"]
    list_filter = ["status", "project", ("draw", admin.EmptyFieldListFilter)]
    search_fields = ["title", "slug", "project__name"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["seed_commitment", "created_at"]
    fields = [
        "project",
        "title",
        "slug",
        "description",
        "starts_at",
        "ends_at",
        "status",
        "seed_commitment",
        "created_at",
    ]
    inlines = [TaskInline, RewardInline]
    list_select_related = ["project", "draw"]
    # Console: how the giveaway is doing, on its own page (read-only, after the editable fields).
    progress_fields = ["entries", "completions", "winners"]

    def get_fields(self, request, obj=None):
        return [*super().get_fields(request, obj), *self.progress_fields] if obj else super().get_fields(request, obj)

    @admin.display(description="entries")
    def entries(self, obj):
        count = obj.participants.filter(is_test=False).count()
        url = reverse("admin:giveaways_participant_changelist") + f"?giveaway__id__exact={obj.pk}&is_test__exact=0"
        return format_html('<a href="{}">{} participant(s)</a> (test participants excluded)', url, count)

    @admin.display(description="completed every task")
    def completions(self, obj):
        return len(selectors.eligible_track_ids(obj))

    @admin.display(description="winners")
    def winners(self, obj):
        draw = selectors.draw_of(obj)
        if draw is None:
            return "Not drawn yet."
        rows = draw.winners.select_related("reward", "participant").order_by("pick")
        return (
            format_html_join(
                mark_safe("<br>"),
                '{}: <a href="{}">{}</a>, {}',
                (
                    (
                        winner.reward.name,
                        reverse("admin:giveaways_participant_change", args=[winner.participant_id]),
                        winner.participant.email,
                        f"delivered {winner.delivered_at:%Y-%m-%d %H:%M %Z}"
                        if winner.delivered_at
                        else "not delivered yet",
                    )
                    for winner in rows
                ),
            )
            or "No winners (no eligible entrant)."
        )

    @admin.display(boolean=True, description="drawn")
    def is_drawn(self, obj):
        return hasattr(obj, "draw")

    def get_readonly_fields(self, request, obj=None):
        # The public address and the project (its key signs callbacks) are fixed once participants may hold links.
        return [*self.readonly_fields, "project", "slug", *self.progress_fields] if obj else self.readonly_fields

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else self.prepopulated_fields

    def save_model(self, request, obj, form, change):
        if not change:
            services.assign_server_seed(obj)
        super().save_model(request, obj, form, change)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A draw is final: once drawn, the page links to its results instead of offering to draw again.
        drawn = Draw.objects.filter(giveaway_id=object_id).only("pk").first() if object_id.isdigit() else None
        return super().change_view(request, object_id, form_url, {"drawn": drawn, **(extra_context or {})})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:giveaway_id>/draw/", view(self.draw_view), name="giveaways_giveaway_draw"),
            path(
                "<int:giveaway_id>/tasks/<int:task_id>/check-callback/",
                view(self.check_callback_view),
                name="giveaways_giveaway_check_callback",
            ),
            path(
                "<int:giveaway_id>/check-callback/<str:track_id>/",
                view(self.check_callback_status_view),
                name="giveaways_giveaway_check_callback_status",
            ),
            *super().get_urls(),
        ]

    def draw_view(self, request, giveaway_id):
        giveaway = get_object_or_404(Giveaway, pk=giveaway_id)
        if not self.has_change_permission(request, giveaway):
            raise PermissionDenied
        if request.method == "POST":
            try:
                draw = services.draw_giveaway(giveaway=giveaway)
            except services.DrawRefused as refused:
                self.message_user(request, str(refused), messages.ERROR)
            else:
                self.log_change(request, giveaway, "Drew the winners")
                self.message_user(
                    request, f"Drawn: {draw.winners.count()} winner(s) from {len(draw.entrants)} entrant(s)."
                )
            return redirect("admin:giveaways_giveaway_change", giveaway.pk)
        return confirm_page(
            self,
            request,
            giveaway,
            title=f"Draw the winners of {giveaway.title}?",
            intro=(
                "Participants who completed every task enter; test participants never do. The draw is final: "
                "it cannot be repeated or undone, and the server seed is published with the results."
            ),
            button="Draw now",
        )

    def check_callback_view(self, request, giveaway_id, task_id):
        """Create a test participant for this task and go to the page that shows its callbacks."""
        task = get_object_or_404(GiveawayTask.objects.select_related("giveaway"), pk=task_id, giveaway_id=giveaway_id)
        if not self.has_change_permission(request, task.giveaway):
            raise PermissionDenied
        if request.method == "POST":
            participant = services.create_test_participant(giveaway=task.giveaway)
            url = reverse("admin:giveaways_giveaway_check_callback_status", args=[giveaway_id, participant.track_id])
            return redirect(f"{url}?task={task.pk}")
        return confirm_page(
            self,
            request,
            task.giveaway,
            title=f"Check API callback: {task.name}",
            intro=(
                "RewardHub creates a test participant (never drawn, accepted even while the giveaway is not "
                "running) and shows the link to open. Complete the task on your website; this page then shows "
                "whether your callback arrived and whether its signature holds."
            ),
            button="Create a test participant",
        )

    def check_callback_status_view(self, request, giveaway_id, track_id):
        participant = get_object_or_404(
            Participant.objects.select_related("giveaway"), giveaway_id=giveaway_id, track_id=track_id, is_test=True
        )
        if not self.has_change_permission(request, participant.giveaway):  # as the view that created it
            raise PermissionDenied
        task = GiveawayTask.objects.filter(giveaway_id=giveaway_id, pk=request.GET.get("task") or 0).first()
        attempts = selectors.latest_attempts(participant)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": participant.giveaway,
            "title": f"Check API callback{f': {task.name}' if task else ''}",
            "participant": participant,
            "task": task,
            "task_link": with_track_id(task.website_url, participant.track_id) if task else None,
            "example_string": (
                task_callback_strings(track_id=participant.track_id, event=task.event, value=None, remark=None)[0]
                if task
                else None
            ),
            "attempts": attempts,
            "latest": attempts[0] if attempts else None,
        }
        return TemplateResponse(request, "admin/giveaways/check_callback.html", context)


class TaskProgressInline(ReadOnlyMixin, admin.TabularInline):
    model = TaskProgress
    fields = ["task", "clicks", "first_clicked_at", "amount", "completed_at", "last_remark"]
    readonly_fields = fields
    extra = 0


@admin.register(Participant)
class ParticipantAdmin(CsvExportMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["email", "track_id", "giveaway", "is_test", "joined_at"]
    list_filter = ["is_test", "giveaway"]
    search_fields = ["email", "=track_id"]
    fields = ["giveaway", "email", "track_id", "is_test", "joined_at", "personal_link", "claim_link"]
    readonly_fields = fields
    inlines = [TaskProgressInline]
    list_select_related = ["giveaway"]

    @admin.display(description="personal link")
    def personal_link(self, obj):
        """What support sends a participant who lost their page: it shows their progress."""
        return public_link(obj, "giveaways:page")

    @admin.display(description="claim link")
    def claim_link(self, obj):
        win = selectors.win_of(obj)
        note = f"won {win.reward.name}" if win else "shows the reward only if they win"
        return format_html("{} ({})", public_link(obj, "giveaways:claim"), note)


def public_link(participant, view_name):
    path = reverse(view_name, args=[participant.giveaway.slug])
    url = f"{settings.PUBLIC_BASE_URL}{path}?{urlencode({'track_id': participant.track_id})}"
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)


class DeliveredFilter(admin.SimpleListFilter):
    title = "delivered by the host"
    parameter_name = "delivered"

    def lookups(self, request, model_admin):
        return [("no", "Not yet"), ("yes", "Delivered")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(delivered_at__isnull=self.value() == "no")
        return queryset


@admin.register(DrawWinner)
class DrawWinnerAdmin(CsvExportMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Every winner of every draw, for support to follow up deliveries across giveaways."""

    list_display = ["draw_giveaway", "pick", "reward", "participant_email", "track_id", "delivered_at"]
    list_filter = [DeliveredFilter, "draw__giveaway"]
    search_fields = ["participant__email", "=participant__track_id", "draw__giveaway__slug"]
    list_select_related = ["draw__giveaway", "reward", "participant"]
    fields = ["draw", "pick", "reward", "participant", "delivered_at"]
    readonly_fields = fields

    @admin.display(description="giveaway", ordering="draw__giveaway__title")
    def draw_giveaway(self, obj):
        return obj.draw.giveaway

    @admin.display(description="email", ordering="participant__email")
    def participant_email(self, obj):
        return obj.participant.email

    @admin.display(description="track_id")
    def track_id(self, obj):
        return obj.participant.track_id


class DrawWinnerInline(ReadOnlyMixin, admin.TabularInline):
    model = DrawWinner
    fields = ["pick", "reward", "participant", "delivered_at"]
    readonly_fields = fields
    extra = 0


@admin.register(Draw)
class DrawAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["giveaway", "drawn_at", "entrant_count", "entrants_digest"]
    search_fields = ["giveaway__title", "giveaway__slug", "entrants_digest"]
    fields = ["giveaway", "drawn_at", "server_seed", "entrants_digest", "rewards", "entrants"]
    readonly_fields = fields
    inlines = [DrawWinnerInline]
    list_select_related = ["giveaway"]

    @admin.display(description="entrants")
    def entrant_count(self, obj):
        return len(obj.entrants)


@admin.register(CallbackAttempt)
class CallbackAttemptAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "participant", "endpoint", "event", "signature_valid", "result_code"]
    list_filter = ["endpoint", "signature_valid", "result_code"]
    search_fields = ["=participant__track_id", "event"]
    fields = ["received_at", "participant", "endpoint", "event", "signature_valid", "expected_string", "result_code"]
    readonly_fields = fields
    list_select_related = ["participant"]
