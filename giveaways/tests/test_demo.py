import hashlib
import hmac
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from rewardhub.testing import Client as ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


def seed() -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return json.loads(out.getvalue())["giveaway"]


def test_seed_demo_describes_a_running_giveaway():
    demo = seed()

    assert demo["events"] == ["sign_up", "deposit", "like_articles"]
    assert (demo["custom_event"], demo["custom_required"]) == ("like_articles", 3)
    assert len(demo["api_key"]) == 64
    assert Client().get(f"/g/{demo['slug']}").status_code == 200


def test_seed_demo_key_and_track_id_work_with_the_api():
    demo = seed()
    data = f"track_id={demo['track_id']}&event={demo['custom_event']}&value=3&remark="
    sign = hmac.new(demo["api_key"].encode(), data.encode(), hashlib.sha256).hexdigest()
    body = {"track_id": demo["track_id"], "event": demo["custom_event"], "value": 3, "sign": sign}

    response = ApiClient().post("/public/v1/giveaway/task/callback", json.dumps(body), content_type="application/json")

    assert response.json()["data"]["task_completed"] is True


def test_seed_demo_twice_keeps_the_same_giveaway():
    first = seed()

    assert seed() == first
