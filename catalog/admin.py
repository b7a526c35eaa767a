from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from catalog.models import PartnerSecret, RewardGame, StoreApp
from catalog.services import issue_partner_secret, revoke_partner_secret
from rewardhub import crypto
from rewardhub.unlogged import UnloggedStr

# How long the page after "Save" shows a new secret to the operator who created it (a refresh shows it again).
SECRET_SHOWN_FOR_SECONDS = 10 * 60


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
        """Post/redirect/get: refreshing the page that shows the secret must not post the form again (which
        issued a second secret and lost the first). The plaintext waits for that page in this operator's session,
        encrypted, for SECRET_SHOWN_FOR_SECONDS; it is logged nowhere and put in no message."""
        request.session[created_secret_key(obj.pk)] = crypto.encrypt(obj._plain_secret)
        return redirect("admin:catalog_partnersecret_created", obj.pk)

    def get_urls(self):
        created = self.admin_site.admin_view(self.created_view)
        return [path("<int:secret_id>/created/", created, name="catalog_partnersecret_created"), *super().get_urls()]

    def created_view(self, request, secret_id):
        secret = get_object_or_404(PartnerSecret.objects.select_related("store_app"), pk=secret_id)
        if not self.has_view_permission(request, secret):
            raise PermissionDenied
        token = request.session.get(created_secret_key(secret.pk))
        plain = token and crypto.decrypt_fresh(token, SECRET_SHOWN_FOR_SECONDS)
        if token and not plain:
            del request.session[created_secret_key(secret.pk)]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": secret,
            "title": f"Partner API secret created for {secret.store_app.pid}",
            "plain": UnloggedStr(plain) if plain else None,
            "shown_for_minutes": SECRET_SHOWN_FOR_SECONDS // 60,
        }
        return TemplateResponse(request, "admin/catalog/partnersecret/created.html", context)

    @admin.action(description="Revoke selected secrets")
    def revoke(self, request, queryset):
        revoked = sum(revoke_partner_secret(secret=secret, revoked_by=request.user) for secret in queryset)
        self.message_user(request, f"Revoked {revoked} secret(s).", messages.SUCCESS)


def created_secret_key(secret_id: int) -> str:
    return f"catalog.created_partner_secret.{secret_id}"
