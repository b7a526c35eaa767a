from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models.functions import Now


class RefusedCall(models.Model):
    """A partner postback or giveaway callback that was refused, so support can answer "why are our calls
    failing?". Written by rewardhub.refused_calls only (its rules say which refusals are kept); never the secret or
    signature a call carried. No foreign keys: the pid and giveaway are kept as sent, and this plumbing imports no
    app (both the postbacks and the giveaways app write here)."""

    class Source(models.TextChoices):
        PARTNER_POSTBACK = "partner_postback", "Partner postback"
        GIVEAWAY_CALLBACK = "giveaway_callback", "Giveaway callback"

    created_at = models.DateTimeField(db_default=Now())
    source = models.CharField(max_length=24, choices=Source.choices)
    code = models.CharField(max_length=32, help_text="The stable error code the caller got.")
    message = models.CharField(max_length=300, help_text="The message the caller got.")
    # The status we answered, never input: not a PositiveSmallIntegerField, whose CHECK every insert would run.
    status = models.SmallIntegerField("HTTP status")
    source_ip = models.GenericIPAddressField("source IP", null=True, blank=True)
    path = models.CharField(max_length=200)
    pid = models.CharField(
        "partner pid", max_length=64, blank=True, help_text="The pid the postback named, or its valid secret's."
    )
    giveaway_id = models.BigIntegerField("giveaway", null=True, blank=True)
    user_id = models.CharField(
        "user id / track_id", max_length=64, blank=True, help_text="The partner's uid, or the participant's track_id."
    )
    gid = models.CharField("game gid", max_length=100, blank=True)
    level_number = models.IntegerField(null=True, blank=True)
    event = models.CharField(max_length=64, blank=True, help_text="The giveaway task callback's event.")

    class Meta:
        db_table = "refused_calls"
        ordering = ["-id"]
        indexes = [
            # Append-only, in time order: a few pages serve the time filter, the dashboard's last 24 hours and
            # the retention command for millions of rows.
            BrinIndex(fields=["created_at"], name="refused_call_created_brin"),
            # The list's filters and exact searches, each with the list's order (newest first) behind it.
            models.Index(fields=["pid", "id"], name="refused_call_pid"),
            models.Index(fields=["user_id", "id"], name="refused_call_user"),
            models.Index(fields=["source_ip", "id"], name="refused_call_ip"),
            models.Index(fields=["giveaway_id", "id"], name="refused_call_giveaway"),
            models.Index(fields=["code", "id"], name="refused_call_code"),
            models.Index(fields=["source", "id"], name="refused_call_source"),
        ]

    def __str__(self):
        return f"Refused #{self.pk}: {self.code} at {self.created_at:%Y-%m-%d %H:%M:%S %Z}"


class ScheduledRun(models.Model):
    """The lease of a scheduled command while one node runs it (rewardhub.scheduling)."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=200, help_text="host:pid of the run holding it")
    started_at = models.DateTimeField(db_default=Now())
    expires_at = models.DateTimeField(help_text="After this another run may take it (a run that died kept it).")

    class Meta:
        db_table = "scheduled_runs"

    def __str__(self):
        return f"{self.name} held by {self.holder}"
