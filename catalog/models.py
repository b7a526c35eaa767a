from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

game_id_validator = RegexValidator(r"^[A-Za-z0-9_.-]+$", "Letters, digits, dots, hyphens and underscores only.")
play_package_validator = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$", "A Google Play package name, such as com.example.game."
)


class StoreApp(models.Model):
    """A reward app in the store; partners name it by `pid` in every postback."""

    pid = models.SlugField("partner id (pid)", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "store_apps"
        ordering = ["pid"]

    def __str__(self):
        return self.pid


class RewardGame(models.Model):
    """A partner game players install from a reward app; `gid` is the seed's `reward_games.id`."""

    gid = models.CharField("game id (gid)", max_length=100, unique=True, validators=[game_id_validator])
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True, help_text="Inactive games refuse postbacks.")
    play_package = models.CharField(
        "Google Play package",
        max_length=255,
        blank=True,
        validators=[play_package_validator],
        help_text="The game's Play Store package name, used in install links.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "reward_games"
        ordering = ["gid"]

    def __str__(self):
        return f"{self.name} ({self.gid})"


class PartnerSecret(models.Model):
    """A bearer secret for one store app's partner API. Only its SHA-256 is stored."""

    store_app = models.ForeignKey(StoreApp, on_delete=models.PROTECT, related_name="secrets")
    label = models.CharField(max_length=100, blank=True, help_text="Who holds it, e.g. the partner studio.")
    prefix = models.CharField(max_length=12, help_text="The secret's first characters, to recognise it.")
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "partner_api_secrets"
        ordering = ["-created_at"]
        verbose_name = "partner API secret"

    def __str__(self):
        return f"{self.prefix}… ({self.store_app.pid})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
