import uuid
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ledger.admin import ReadOnlyAdminMixin
from ledger.models import RewardUser
from postbacks.models import (
    CALLBACK_LOG_FIELDS,
    OfferConversion,
    OfferDelivery,
    OfferReversal,
    OfferwallIntegration,
    UserPostback,
)
from postbacks.offers.examples import callback_url, new_example_transaction_id, send_example_callback
from postbacks.offers.networks import get_network
from postbacks.offers.networks.base import Verdict
from postbacks.offers.services import mark_reviewed
from postbacks.selectors import ACCEPTED_VERDICTS, pending_reversals
from rewardhub.admin_export import CsvExportMixin
from rewardhub.admin_volume import ChoicesListFilter, VolumeAdminMixin
from rewardhub.hot_paths import LoopbackUnavailable

FORGERIES_SHOWN_FOR = timedelta(days=30)


@admin.register(UserPostback)
class UserPostbackAdmin(VolumeAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "user_link",
        "game",
        "pid",
        "level_number",
        "awarded",
        "coin_delta",
        "applied_at",
    ]
    list_filter = ["awarded", ("applied_at", admin.EmptyFieldListFilter), "game", "created_at"]
    exact_search_fields = ("pk", "user__id", "user__device_id")
    list_select_related = ["user", "game"]
    sortable_by = ("id",)

    @admin.display(description="user")
    def user_link(self, obj):
        return user_link(obj.user)


def user_link(user):
    """Short enough for a list column: the device id, the full id on hover, linking to the user's page."""
    if user is None:
        return "-"
    url = reverse("admin:ledger_rewarduser_change", args=[user.pk])
    return format_html('<a href="{}" title="{}">{}</a>', url, user.pk, user.device_id[:24])


class OfferwallIntegrationForm(forms.ModelForm):
    """The secret is write-only here: never rendered back; left blank on edit, it stays as it is."""

    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        # Which key signs differs: BitLabs' app secret is not its API key, ayeT's publisher API key is the one.
        help_text="The key the network signs its callbacks with (the README names it for each network). Leave blank "
        "to keep the current one.",
    )

    class Meta:
        model = OfferwallIntegration
        fields = ["name", "provider", "store_app", "secret", "ip_allowlist", "coin_rate"]
        help_texts = {
            "ip_allowlist": "Addresses or CIDR ranges, one per line. Empty: accept callbacks from any address. Left "
            "empty on a new integration of a network that publishes its servers' addresses, it starts with those."
        }

    def clean_secret(self):
        secret = self.cleaned_data["secret"].strip()
        if not secret and self.instance.pk is None:
            raise forms.ValidationError("A new integration needs the network's secret.")
        return secret or self.instance.secret

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider") or self.instance.provider
        allowlist = cleaned.get("ip_allowlist")  # None when the field itself was refused
        published = get_network(provider).server_ips if provider else ()
        if self.instance.pk is None and allowlist is not None and not allowlist.strip() and published:
            # A new integration starts with the addresses the network publishes; the operator may change them later.
            allowlist = cleaned["ip_allowlist"] = "\n".join(published)
        # In production only: the demo and local trials (DEBUG) call from anywhere.
        unguarded = provider and allowlist is not None and not allowlist.strip() and not settings.DEBUG
        if unguarded and (risk := unsigned_risk(get_network(provider))):
            self.add_error("ip_allowlist", f"{risk} Enter the network's server addresses.")
        return cleaned


def unsigned_risk(network) -> str:
    """What a captured callback of this network can be replayed to do, or "" when its signature covers it all."""
    if not network.needs_ip_allowlist:
        return ""
    fields = ", ".join(network.unsigned_coin_parameters)
    return (
        f"{network.label} does not sign {fields}: anyone who saw one callback can replay it with another {fields} "
        "(a credit turned into a reversal). An IP allowlist is required in production."
    )


# Sending a callback that moves coins takes what a staff adjustment of a balance takes (ledger.admin).
MOVE_COINS_PERMISSION = "ledger.add_ledgerentry"


class ExampleCallbackForm(forms.Form):
    user = forms.CharField(max_length=200, label="Reward user", widget=forms.TextInput(attrs={"class": "vTextField"}))
    event = forms.ChoiceField(label="Event", help_text="In the network's words, and what RewardHub does with it.")
    amount = forms.DecimalField(
        min_value=0, max_digits=16, decimal_places=4, initial=100, help_text="In the network's currency."
    )
    transaction_id = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"class": "vTextField"}),
        label="Transaction id",
        help_text="Blank for a new offer. An earlier callback's id to send that offer's next state.",
    )
    send_as = forms.ChoiceField(label="Send as", widget=forms.RadioSelect)

    def __init__(self, *args, integration: OfferwallIntegration, may_move_coins: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.integration = integration
        network = get_network(integration.provider)
        self.fields["user"].help_text = f"Their id or device id: a user of {integration.store_app}."
        self.fields["event"].choices = list(network.example_events.items())
        rate = f"{integration.coin_rate.normalize():f}"
        self.fields["amount"].help_text = f"In the network's currency; coins = amount * {rate} (the coin rate)."
        modes = [("test", f"Test: {network.label}'s test flag set, verified and logged, no coins move")]
        modes = modes if network.has_test_flag else []
        if may_move_coins:
            modes.append(("real", "Real: moves coins as a callback from the network does (recorded in the history)"))
        self.fields["send_as"].choices = modes
        self.fields["send_as"].initial = modes[0][0] if modes else None

    def clean_user(self) -> RewardUser:
        value = self.cleaned_data["user"].strip()
        users = RewardUser.objects.filter(store_app_id=self.integration.store_app_id)
        try:
            user = users.filter(pk=uuid.UUID(value)).first()
        except ValueError:
            user = users.filter(device_id=value).first()
        if user is None:
            raise forms.ValidationError(f"{self.integration.store_app} has no user with this id or device id.")
        return user


def day_ago():
    return timezone.now() - timedelta(hours=24)


def count_of(deliveries):
    return Coalesce(models.Subquery(deliveries.order_by().values("integration").annotate(n=Count("id")).values("n")), 0)


@admin.register(OfferwallIntegration)
class OfferwallIntegrationAdmin(admin.ModelAdmin):
    form = OfferwallIntegrationForm
    list_display = [
        "name",
        "provider",
        "replay_risk",  # before the long callback path, so it is seen without scrolling
        "has_allowlist",
        "store_app",
        "coin_rate",
        "last_delivery",
        "accepted_24h",
        "refused_24h",
    ]  # the callback URL, long, is on each integration's page with the templates to paste
    list_filter = ["provider", "store_app"]
    search_fields = ["name", "slug"]
    readonly_fields = ["signature_protection", "callback_templates", "created_at"]

    def get_fields(self, request, obj=None):
        fields = ["name", "provider", "store_app", "secret", "ip_allowlist", "coin_rate"]
        return [*fields, "signature_protection", "callback_templates", "created_at"] if obj else fields

    def get_urls(self):
        view = self.admin_site.admin_view(self.example_callback_view)
        return [
            path("<int:integration_id>/test-callback/", view, name="postbacks_offerwallintegration_test_callback"),
            *super().get_urls(),
        ]

    def example_callback_view(self, request, integration_id):
        """Send a callback signed as the network signs through the callback path, then (after a redirect) show
        the reply and the delivery it logged."""
        integration = get_object_or_404(OfferwallIntegration.objects.select_related("store_app"), pk=integration_id)
        if not self.has_change_permission(request, integration):
            raise PermissionDenied
        may_move_coins = request.user.has_perm(MOVE_COINS_PERMISSION)
        form = ExampleCallbackForm(
            request.POST or None,
            integration=integration,
            may_move_coins=may_move_coins,
            initial={"user": request.GET.get("user", "")},
        )
        sent = request.method == "POST" and form.is_valid() and self.send_example(request, integration, form)
        if sent:  # the result page's address
            return redirect(sent)
        delivery_id = request.GET.get("delivery", "")
        delivery = None
        if delivery_id.isascii() and delivery_id.isdigit() and len(delivery_id) < 19:  # a bigint ("²" is a digit)
            delivery = integration.deliveries.filter(pk=delivery_id).select_related("user").first()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": integration,
            "title": f"Send a test callback to {integration.name}",
            "network": get_network(integration.provider),
            "form": form,
            "delivery": delivery,
        }
        return TemplateResponse(request, "admin/postbacks/offerwallintegration/test_callback.html", context)

    def send_example(self, request, integration, form) -> str | None:
        """The address of the result page, or None with the form's error when it could not be sent."""
        data = form.cleaned_data
        user, real = data["user"], data["send_as"] == "real"
        transaction_id = data["transaction_id"].strip() or new_example_transaction_id()
        try:
            sent = send_example_callback(
                integration=integration,
                user=user,
                event=data["event"],
                amount=data["amount"],
                transaction_id=transaction_id,
                test=not real,
            )
        except (LoopbackUnavailable, TimeoutError) as error:
            form.add_error(None, f"Not sent: the callback path did not answer here ({error or 'timed out'}).")
            return None
        what = f"{'real' if real else 'test'} {data['event']} callback"
        logged = f"delivery #{sent.delivery.pk}, {sent.delivery.verdict}" if sent.delivery else "no delivery logged"
        self.log_change(
            request,
            integration,
            f"Sent a {what}: user {user.pk}, transaction {transaction_id}, amount {data['amount']:f}, as from "
            f"{sent.source_ip}; answered {sent.status} ({logged}).",
        )
        level = messages.SUCCESS if sent.status == 200 else messages.ERROR
        self.message_user(request, f"Sent a {what}; the callback path answered {sent.status}: {sent.body[:300]}", level)
        url = reverse("admin:postbacks_offerwallintegration_test_callback", args=[integration.pk]) + f"?user={user.pk}"
        return url + (f"&delivery={sent.delivery.pk}" if sent.delivery else "")

    def get_readonly_fields(self, request, obj=None):
        # The provider decides how callbacks are read; changing it would reinterpret the history.
        return [*self.readonly_fields, "provider"] if obj else self.readonly_fields

    def get_queryset(self, request):
        """Health over the last 24 hours, from the delivery log's received_at index (one day of rows)."""
        day = OfferDelivery.objects.filter(integration=models.OuterRef("pk"), received_at__gte=day_ago())
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_delivery_at=models.Subquery(day.order_by("-received_at").values("received_at")[:1]),
                accepted_24h=count_of(day.filter(verdict__in=ACCEPTED_VERDICTS)),
                refused_24h=count_of(day.exclude(verdict__in=[*ACCEPTED_VERDICTS, Verdict.RECEIVED])),
            )
        )

    @admin.display(description="last delivery (24 h)")
    def last_delivery(self, obj):
        url = reverse("admin:postbacks_offerdelivery_changelist") + f"?integration__id__exact={obj.pk}"
        when = f"{obj.last_delivery_at:%Y-%m-%d %H:%M %Z}" if obj.last_delivery_at else "none in 24 h"
        return format_html('<a href="{}" title="its delivery log">{}</a>', url, when)

    @admin.display(description="accepted (24 h)")
    def accepted_24h(self, obj):
        return obj.accepted_24h

    @admin.display(description="refused (24 h)")
    def refused_24h(self, obj):
        if not obj.refused_24h:
            return 0
        url = reverse("admin:postbacks_offerdelivery_changelist") + f"?integration__id__exact={obj.pk}"
        return format_html('<a href="{}" style="color: var(--error-fg)"><strong>{}</strong></a>', url, obj.refused_24h)

    @admin.display(boolean=True, description="IP allowlist")
    def has_allowlist(self, obj):
        return bool(obj.ip_allowlist.strip())

    @admin.display(description="replay risk")
    def replay_risk(self, obj):
        if not get_network(obj.provider).needs_ip_allowlist:
            return "-"
        if obj.ip_allowlist.strip():
            return "unsigned fields; allowlist set"
        return format_html('<strong style="color: var(--error-fg)">{}</strong>', "OPEN: needs an IP allowlist")

    @admin.display(description="what the signature protects")
    def signature_protection(self, obj):
        network = get_network(obj.provider)
        covers = format_html("The signature covers {}.", network.signature_covers)
        risk = unsigned_risk(network)
        if not risk:
            return format_html("{} A captured callback cannot be changed without the secret.", covers)
        if obj.ip_allowlist.strip():
            return format_html("{}<br>{} This one has an allowlist.", covers, risk)
        return format_html('{}<br><strong style="color: var(--error-fg)">{}</strong>', covers, risk)

    @admin.display(description="paste into the network's dashboard")
    def callback_templates(self, obj):
        templates = get_network(obj.provider).callback_templates(callback_url(obj))
        return format_html_join(
            "",
            '<p><strong>{}</strong><br><code style="word-break: break-all">{}</code></p>',
            templates.items(),
        )


class ConversionLookupsMixin:
    """A conversion carries its delivery's request and our answer (CALLBACK_LOG_FIELDS), shown on the delivery's page to
    whoever may view deliveries: the conversion lists take no URL filters on them, which would let a viewer of
    conversions read a raw query, signature included, a character at a time."""

    def lookup_allowed(self, lookup, value, request=None):
        field = lookup.split(LOOKUP_SEP, 1)[0]
        return field not in CALLBACK_LOG_FIELDS and super().lookup_allowed(lookup, value, request)


class TransactionSearchMixin(VolumeAdminMixin):
    """A transaction id is found through the (integration, transaction id, …) index: naming every integration
    (a handful) lets PostgreSQL descend it once per integration instead of scanning the table."""

    def term_query(self, term):
        query = super().term_query(term)
        if len(term) > 200:
            return query
        integrations = list(OfferwallIntegration.objects.values_list("pk", flat=True))
        return query | models.Q(integration_id__in=integrations, transaction_id=term)


@admin.register(OfferDelivery)
class OfferDeliveryAdmin(CsvExportMixin, TransactionSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "received_at",
        "integration_name",
        "verdict",
        "transaction_id",
        "user_link",
        "source_ip",
        "response_status",
    ]
    list_filter = ["verdict", "integration", "received_at"]
    exact_search_fields = ("pk", "user__id", "user__device_id")
    list_select_related = ["integration", "user"]
    sortable_by = ("id",)
    fields = [
        "received_at",
        "integration",
        "method",
        "path",
        "query",
        "source_ip",
        "verdict",
        "message",
        "transaction_id",
        "user",
        "response_status",
        "response_body",
        "entries",
    ]
    readonly_fields = fields

    @admin.display(description="integration")
    def integration_name(self, obj):
        return obj.integration.name

    @admin.display(description="user")
    def user_link(self, obj):
        return user_link(obj.user)

    @admin.display(description="ledger entries this delivery produced")
    def entries(self, obj):
        links = (
            (reverse("admin:ledger_ledgerentry_change", args=[entry.pk]), entry)
            for entry in obj.ledger_entries().order_by("id")
        )
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a>', links) or "-"


@admin.register(OfferConversion)
class OfferConversionAdmin(
    ConversionLookupsMixin, CsvExportMixin, TransactionSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = [
        "id",
        "created_at",
        "integration_name",
        "transaction_id",
        "network_state",
        "outcome",
        "coins",
        "available_delta",
        "held_delta",
        "user_link",
    ]
    list_filter = ["outcome", "integration", "created_at"]
    exact_search_fields = ("pk", "user__id", "user__device_id")
    list_select_related = ["integration", "user"]
    sortable_by = ("id",)
    # The request and our answer are on its delivery's page (the `delivery` link), with the delivery log's others.
    fields = readonly_fields = [
        field.name for field in OfferConversion._meta.fields if field.name not in CALLBACK_LOG_FIELDS
    ]

    @admin.display(description="network's state")
    def network_state(self, obj):
        """What the network said (its own words); `outcome` is what RewardHub did about it."""
        return obj.state

    @admin.display(description="integration")
    def integration_name(self, obj):
        return obj.integration.name

    @admin.display(description="user")
    def user_link(self, obj):
        return user_link(obj.user)


class ReviewedFilter(admin.SimpleListFilter):
    """The queue opens on what is left to do; "All" is a choice of its own."""

    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return [("no", "Not yet"), ("yes", "Reviewed"), ("all", "All")]

    def value(self):
        return super().value() or "no"

    def choices(self, changelist):
        for value, title in self.lookup_choices:  # no "All" without a parameter: the default is "no"
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(reviewed_at__isnull=self.value() == "no")
        return queryset


class ReversalOutcomeFilter(ChoicesListFilter):
    """Only the outcomes a reversal can have."""

    title = "outcome"
    parameter_name = "outcome"
    options = [(outcome.value, outcome.label) for outcome in OfferConversion.REVERSAL_OUTCOMES]


class UserBalanceFilter(admin.SimpleListFilter):
    title = "user's balance"
    parameter_name = "user_balance"

    def lookups(self, request, model_admin):
        return [("negative", "Negative")]

    def queryset(self, request, queryset):
        if self.value() == "negative":
            return queryset.filter(user__coins__lt=0)
        return queryset


class ReviewForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="What you found and decided; recorded with your name."
    )


@admin.register(OfferReversal)
class OfferReversalAdmin(
    ConversionLookupsMixin, CsvExportMixin, VolumeAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """Support's queue: reversals, the users they left short, and links to ban or unban them."""

    list_display = [
        "created_at",
        "integration_name",
        "transaction_id",
        "state",
        "outcome",
        "available_delta",
        "user_link",
        "user_balance",
        "user_banned",
        "network_ban",
        "reviewed",
    ]
    list_filter = [ReviewedFilter, UserBalanceFilter, "integration", ReversalOutcomeFilter, "created_at"]
    exact_search_fields = ("pk", "user__id", "user__device_id")
    list_select_related = ["integration", "user", "reviewed_by"]
    sortable_by = ("created_at", "user_balance")
    list_per_page = 50  # each row links its user and their ban: a review batch, not a data dump
    actions = ["mark_reviewed_action"]
    fields = [
        "created_at",
        "integration",
        "transaction_id",
        "state",
        "original_transaction_id",
        "outcome",
        "coins",
        "available_delta",
        "held_delta",
        "user_link",
        "user_balance",
        "user_banned",
        "network_ban",
        "delivery",
        "reviewed_at",
        "reviewed_by",
        "review_note",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(outcome__in=OfferConversion.REVERSAL_OUTCOMES)

    def changelist_view(self, request, extra_context=None):
        """Forged callbacks record no conversion, so the queue shows how many arrived and links to them."""
        since = timezone.now() - FORGERIES_SHOWN_FOR
        forged = OfferDelivery.objects.filter(verdict=Verdict.FORGED, received_at__gte=since).count()
        forged_url = reverse("admin:postbacks_offerdelivery_changelist") + f"?verdict={Verdict.FORGED}"
        context = {
            "forged_deliveries": forged,
            "forged_url": forged_url,
            "forged_days": FORGERIES_SHOWN_FOR.days,
            "title": f"Offer reversals to review: {pending_reversals().count()} not yet reviewed",
        }
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def has_change_permission(self, request, obj=None):
        # Reviewing needs it; a reversal itself is never edited, so its page has no Save button (obj given).
        return obj is None and self.can_review(request)

    def can_review(self, request):
        return request.user.has_perm("postbacks.change_offerconversion")

    def get_urls(self):
        review = self.admin_site.admin_view(self.review_view)
        return [path("<int:conversion_id>/review/", review, name="postbacks_offerreversal_review"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(
            request, object_id, form_url, {"can_review": self.can_review(request), **(extra_context or {})}
        )

    def review_view(self, request, conversion_id):
        """Mark one reversal reviewed from its own page, with the note the queue's action asks for."""
        if not self.can_review(request):
            raise PermissionDenied
        reversal = get_object_or_404(self.get_queryset(request).select_related("user", "integration"), pk=conversion_id)
        if reversal.reviewed_at is not None:
            self.message_user(request, "This reversal was already reviewed.")
            return redirect("admin:postbacks_offerreversal_change", reversal.pk)
        form = ReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            note = form.cleaned_data["note"]
            mark_reviewed(conversions=self.get_queryset(request).filter(pk=reversal.pk), note=note, staff=request.user)
            self.log_change(request, reversal, f"Reviewed: {note}")
            self.message_user(request, "Reversal marked reviewed.")
            return redirect(reverse("admin:postbacks_offerreversal_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Mark reversal reviewed",
            "form": form,
            "queryset": [reversal],
            "original": reversal,
        }
        return TemplateResponse(request, "admin/postbacks/offerreversal/mark_reviewed.html", context)

    @admin.display(description="user")
    def user_link(self, obj):
        return user_link(obj.user)

    @admin.display(description="integration")
    def integration_name(self, obj):
        return obj.integration.name

    @admin.display(description="balance now", ordering="user__coins")
    def user_balance(self, obj):
        return obj.user.coins

    @admin.display(description="operator ban")
    def user_banned(self, obj):
        label = "Unban" if obj.user.is_banned else "Ban"
        state = "banned" if obj.user.is_banned else "not banned"
        url = reverse("admin:ledger_rewarduser_ban", args=[obj.user_id])
        return format_html('{} (<a href="{}">{}</a>)', state, url, label)

    @admin.display(description="network ban")
    def network_ban(self, obj):
        if not obj.user.network_ban_state:
            return "-"
        return f"{obj.user.network_ban_state}: {obj.user.network_ban_reason}".rstrip(": ")

    @admin.display(boolean=True, description="reviewed")
    def reviewed(self, obj):
        return obj.reviewed_at is not None

    @admin.action(description="Mark selected reversals reviewed…")
    def mark_reviewed_action(self, request, queryset):
        form = ReviewForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            note = form.cleaned_data["note"]
            marked = mark_reviewed(conversions=queryset, note=note, staff=request.user)
            for conversion in queryset:
                self.log_change(request, conversion, f"Reviewed: {note}")
            self.message_user(request, f"{marked} reversal(s) marked reviewed.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Mark reversals reviewed",
            "form": form,
            "queryset": queryset,
            "action": "mark_reviewed_action",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/postbacks/offerreversal/mark_reviewed.html", context)
