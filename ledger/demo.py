from ledger.models import RewardUser
from ledger.services import issue_app_token


def seed_app_demo(user: RewardUser) -> dict:
    """A fresh app token for the demo user each run (only its hash is stored, so it cannot be shown again)."""
    _, token = issue_app_token(user=user)
    return {"app": {"token": token}}
