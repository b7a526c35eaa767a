from django.db import models
from django.db.models.functions import Now

from catalog.models import RewardGame
from ledger.models import RewardUser

MAX_LEVEL = 2_147_483_647  # the column is a 32-bit integer


class UserPostback(models.Model):
    """A level a partner game reported (the seed's `user_postbacks`); the first report of a level wins."""

    user = models.ForeignKey(RewardUser, on_delete=models.PROTECT, related_name="postbacks")
    game = models.ForeignKey(RewardGame, on_delete=models.PROTECT, related_name="postbacks")
    pid = models.CharField(max_length=64)
    level_number = models.PositiveIntegerField()
    awarded = models.BooleanField()
    coin_delta = models.IntegerField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    applied_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the reward app acknowledged applying it."
    )

    class Meta:
        db_table = "user_postbacks"
        ordering = ["-id"]
        verbose_name = "partner postback"
        constraints = [
            models.UniqueConstraint(fields=["user", "game", "level_number"], name="uniq_postback_user_game_level"),
            models.CheckConstraint(condition=models.Q(level_number__gte=1), name="postback_level_positive"),
        ]
        indexes = [
            # The app's sync query: this user's postbacks it has not applied yet, oldest first.
            models.Index(fields=["user", "id"], condition=models.Q(applied_at=None), name="user_postback_unapplied"),
        ]

    def __str__(self):
        return f"{self.game_id} level {self.level_number} for {self.user_id}"
