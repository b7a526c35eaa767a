from django.db.models import QuerySet

from postbacks.models import UserPostback


def unapplied_postbacks(user_id) -> QuerySet[UserPostback]:
    """The postbacks a user's reward app has not acknowledged yet (served by the user_postback_unapplied index)."""
    return UserPostback.objects.filter(user_id=user_id, applied_at=None).select_related("game")
