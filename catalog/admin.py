from django.contrib import admin, messages
from django.template.response import TemplateResponse

from catalog.models import PartnerSecret, RewardGame, StoreApp
from catalog.services import issue_partner_secret, revoke_partner_secret
from rewardhub.unlogged import UnloggedStr


@admin.register(StoreApp)
class StoreAppAdmin(admin.ModelAdmin):
    list_display = ["pid", "name", "created_at"]
    search_fields = ["pid", "name"]


@admin.register(RewardGame)
class RewardGameAdmin(admin.ModelAdmin):
    list_display = ["gid", "name", "play_package", "active", "created_at"]
    list_filter = ["active"]
    list_editable = ["active"]
    search_fields = ["gid", "name", "play_package"]

    def get_readonly_fields(self, request, obj=None):
        # Partners send the gid in every postback: renaming it would orphan their integration.
        return ["gid"] if obj else []


@admin.register(PartnerSecret)
class PartnerSecretAdmin(admin.ModelAdmin):
    list_display = [
        "prefix",
        "store_app",
        "label",
        "is_active",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["store_app", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "label", "store_app__pid"]
    actions = ["revoke"]
    fields = ["store_app", "label"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by"]

    @admin.display(boolean=True, description="active")
    def is_active(self, obj):
        return obj.is_active

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else ["store_app", "label", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["store_app", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the history of who could call us stays

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["label"])
            return
        created, plain = issue_partner_secret(
            store_app=form.cleaned_data["store_app"], label=form.cleaned_data["label"], created_by=request.user
        )
        obj.pk, obj.prefix, obj._plain_secret = created.pk, created.prefix, plain

    def response_add(self, request, obj, post_url_continue=None):
        """Show the plain secret in this one response; it is stored nowhere, not even in a message."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "secret": obj,
            "plain": UnloggedStr(obj._plain_secret),
        }
        return TemplateResponse(request, "admin/catalog/partnersecret/created.html", context)

    @admin.action(description="Revoke selected secrets")
    def revoke(self, request, queryset):
        revoked = sum(revoke_partner_secret(secret=secret, revoked_by=request.user) for secret in queryset)
        self.message_user(request, f"Revoked {revoked} secret(s).", messages.SUCCESS)
