import json
from decimal import Decimal

import pytest

from catalog.tests.factories import StoreAppFactory
from ledger.models import LedgerEntry, RewardUser
from ledger.tests.factories import RewardUserFactory
from postbacks.models import OfferConversion, OfferDelivery, OfferReversal, OfferSignature
from postbacks.tests.offer_factories import (
    BITLABS_SECRET,
    USER_ID,
    bitlabs_offer,
    bitlabs_path,
    integration,
)
from rewardhub.testing import Client

pytestmark = pytest.mark.django_db(transaction=True)
SLUG = "bl-test-slug"


@pytest.fixture
def app():
    return StoreAppFactory(pid="cashgiraffe")


@pytest.fixture
def bitlabs(app):
    return integration(app, "bitlabs", SLUG, BITLABS_SECRET)


@pytest.fixture
def user(app):
    return RewardUserFactory(id=USER_ID, store_app=app)


def get(path, **headers):
    return Client().get(path, headers=headers)


def balances(user):
    user.refresh_from_db()
    return user.coins, user.held_coins


def test_known_answer_signature_is_accepted_and_credits(bitlabs, user):
    # HMAC-SHA1 of the URL below with key "bitlabs-secret", computed with `openssl dgst -sha1 -hmac`.
    path = (
        f"/api/callbacks/{SLUG}?uid={USER_ID}&tx=o-1001&val=150.00&raw=1.50&type=COMPLETE&offer_state=NONE"
        "&offer_name=Foo%20Bar&hash=e2ff81e2d11ccc01c58d092f88963e83dfcecb0e"
    )

    response = get(path)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"ok": True, "result": "accepted", "message": "Credited"}
    assert balances(user) == (150, 0)


def test_uppercase_hex_hash_is_accepted(bitlabs, user):
    path = bitlabs_offer(SLUG, "o-1", "10")
    head, digest = path.rsplit("=", 1)

    assert get(f"{head}={digest.upper()}").status_code == 200


def test_wrong_hash_is_refused_with_403_and_logged(bitlabs, user):
    path = bitlabs_offer(SLUG, "o-1", "10", uid=USER_ID).rsplit("=", 1)[0] + "=" + "0" * 40

    response = get(path)

    assert response.status_code == 403
    assert response.json() == {"ok": False, "error": "bad_signature", "message": "The signature does not match."}
    assert balances(user) == (0, 0)
    assert OfferDelivery.objects.get().verdict == "bad_signature"


def test_missing_hash_is_a_bad_signature(bitlabs, user):
    response = get(f"/api/callbacks/{SLUG}?uid={USER_ID}&tx=o-1&val=10&type=COMPLETE")

    assert response.status_code == 403
    assert response.json()["error"] == "bad_signature"


def test_hash_must_be_the_last_parameter(bitlabs, user):
    path = bitlabs_offer(SLUG, "o-1", "10")

    assert get(f"{path}&extra=1").status_code == 403


def test_signature_covers_the_raw_query_not_a_re_encoded_one(bitlabs, user):
    # Signed as "Foo+Bar" but sent as "Foo%20Bar": the same decoded value, a different URL.
    signed = bitlabs_path(SLUG, f"uid={USER_ID}&tx=o-1&val=10&type=COMPLETE&offer_name=Foo+Bar")

    assert get(signed.replace("Foo+Bar", "Foo%20Bar")).status_code == 403
    assert get(signed).status_code == 200


def test_signature_covers_the_public_host(bitlabs, user):
    path = bitlabs_path(SLUG, f"uid={USER_ID}&tx=o-1&val=10&type=COMPLETE", base="https://elsewhere.example.com")

    assert get(path).status_code == 403


def test_signature_made_with_another_secret_is_refused(bitlabs, user):
    assert get(bitlabs_path(SLUG, f"uid={USER_ID}&tx=o-1&val=10&type=COMPLETE", secret="other")).status_code == 403


def test_pending_holds_coins_without_making_them_available(bitlabs, user):
    response = get(bitlabs_offer(SLUG, "o-7", "40", offer_state="PENDING", type_="state_change"))

    assert response.json()["result"] == "accepted"
    assert balances(user) == (0, 40)
    assert LedgerEntry.objects.get().bucket == "held"


def test_completed_after_pending_moves_the_hold_to_available(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="PENDING"))

    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="COMPLETED"))

    assert balances(user) == (40, 0)
    entries = LedgerEntry.objects.order_by("id")
    assert [(e.bucket, e.amount, e.kind) for e in entries] == [
        ("held", 40, "offer_hold"),
        ("held", -40, "offer_hold_release"),
        ("available", 40, "offer_credit"),
    ]


def test_completed_without_pending_credits(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="COMPLETED"))

    assert balances(user) == (40, 0)


def test_reconciled_after_pending_releases_the_hold_without_credit(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="PENDING"))

    response = get(bitlabs_offer(SLUG, "o-7", "40", offer_state="RECONCILED"))

    assert response.status_code == 200
    assert balances(user) == (0, 0)
    assert OfferConversion.objects.get(state="RECONCILED").outcome == "released"


def test_reconciled_after_completed_reverses_the_credit(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="COMPLETED"))

    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="RECONCILED"))

    assert balances(user) == (0, 0)
    credit, reversal = LedgerEntry.objects.order_by("id")
    assert (reversal.amount, reversal.kind, reversal.reverses) == (-40, "offer_reversal", credit)


def test_reconciled_after_pending_and_completed_reverses_only_the_credit(bitlabs, user):
    for state in ("PENDING", "COMPLETED", "RECONCILED"):
        get(bitlabs_offer(SLUG, "o-7", "40", offer_state=state))

    assert balances(user) == (0, 0)
    assert LedgerEntry.objects.count() == 4


def test_a_reversal_may_leave_the_balance_negative(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="COMPLETED"))
    RewardUser.objects.filter(pk=user.pk).update(coins=10)  # as if 30 coins were spent

    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="RECONCILED"))

    assert balances(user) == (-30, 0)


def test_pending_after_completed_holds_nothing(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="COMPLETED"))

    response = get(bitlabs_offer(SLUG, "o-7", "40", offer_state="PENDING"))

    assert response.status_code == 200
    assert balances(user) == (40, 0)


def test_completed_after_reconciled_credits_nothing(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="PENDING"))
    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="RECONCILED"))

    get(bitlabs_offer(SLUG, "o-7", "40", offer_state="COMPLETED"))

    assert balances(user) == (0, 0)


def test_a_repeated_state_is_a_duplicate_answered_200_and_credited_once(bitlabs, user):
    path = bitlabs_offer(SLUG, "o-7", "40", offer_state="COMPLETED")
    get(path)

    response = get(path)

    assert response.status_code == 200
    assert response.json()["result"] == "duplicate"
    assert balances(user) == (40, 0)
    assert OfferDelivery.objects.filter(verdict="duplicate").count() == 1


def test_non_stateful_complete_credits(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-1", "25"))

    assert balances(user) == (25, 0)


@pytest.mark.parametrize("type_", ["SCREENOUT", "START_BONUS"])
def test_screenouts_and_start_bonuses_credit(bitlabs, user, type_):
    get(bitlabs_offer(SLUG, "s-1", "3", type_=type_))

    assert balances(user) == (3, 0)


def test_negative_reconciliation_reverses_exactly_what_the_original_credited(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-1", "25"))

    get(bitlabs_offer(SLUG, "or-1", "-24.99", type_="RECONCILIATION", ref="o-1"))

    assert balances(user) == (0, 0)
    assert LedgerEntry.objects.get(amount__lt=0).reverses.amount == 25


def test_positive_reconciliation_re_credits_a_reversed_original(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-1", "25"))
    get(bitlabs_offer(SLUG, "or-1", "-25", type_="RECONCILIATION", ref="o-1"))

    get(bitlabs_offer(SLUG, "or-2", "25", type_="RECONCILIATION", ref="o-1"))

    assert balances(user) == (25, 0)
    assert OfferConversion.objects.get(transaction_id="or-2").outcome == "re_credited"


def test_positive_reconciliation_of_a_credit_that_stands_changes_nothing(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-1", "25"))

    get(bitlabs_offer(SLUG, "or-2", "25", type_="RECONCILIATION", ref="o-1"))

    assert balances(user) == (25, 0)


def test_reversal_after_a_re_credit_reverses_it_again(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-1", "25"))
    get(bitlabs_offer(SLUG, "or-1", "-25", type_="RECONCILIATION", ref="o-1"))
    get(bitlabs_offer(SLUG, "or-2", "25", type_="RECONCILIATION", ref="o-1"))

    get(bitlabs_offer(SLUG, "or-3", "-25", type_="RECONCILIATION", ref="o-1"))

    assert balances(user) == (0, 0)
    # The second reversal names the re-credit's entry, the latest that added to the balance, not the first credit's.
    re_credit, second_reversal = (OfferConversion.objects.get(transaction_id=tx) for tx in ("or-2", "or-3"))
    (reversing,) = second_reversal.ledger_entries()
    assert reversing.reverses == re_credit.ledger_entries().get()


def test_reconciliation_with_nothing_to_reverse_is_kept_for_support(bitlabs, user):
    response = get(bitlabs_offer(SLUG, "or-9", "-25", type_="RECONCILIATION", ref="o-unknown"))

    assert response.status_code == 200
    assert balances(user) == (0, 0)
    assert OfferReversal.objects.get().outcome == "nothing_to_reverse"


def test_debug_delivery_is_verified_and_logged_but_moves_nothing(bitlabs, user):
    response = get(bitlabs_offer(SLUG, "o-1", "25", debug="true"))

    assert response.status_code == 200
    assert balances(user) == (0, 0)
    assert not OfferConversion.objects.exists()
    assert OfferDelivery.objects.get().message.startswith("Debug callback")


def test_debug_delivery_does_not_use_up_the_transaction(bitlabs, user):
    get(bitlabs_offer(SLUG, "o-1", "25", debug="true"))

    get(bitlabs_offer(SLUG, "o-1", "25"))

    assert balances(user) == (25, 0)


def test_debug_delivery_with_a_bad_hash_is_refused(bitlabs, user):
    path = bitlabs_offer(SLUG, "o-1", "25", debug="true").rsplit("=", 1)[0] + "=" + "0" * 40

    assert get(path).status_code == 403


def test_ban_callback_records_the_network_state_without_an_operator_ban(bitlabs, user):
    response = get(bitlabs_path(SLUG, f"uid={USER_ID}&ban_reason=Fraud%20detected&ban_state=BANNED"))

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.network_ban_state, user.network_ban_reason) == ("BANNED", "Fraud detected")
    assert user.network_ban_source == "Test bitlabs (BitLabs)"
    assert not user.is_banned


def test_active_ban_callback_records_the_lifted_network_ban(bitlabs, user):
    get(bitlabs_path(SLUG, f"uid={USER_ID}&ban_reason=Fraud&ban_state=BANNED"))

    get(bitlabs_path(SLUG, f"uid={USER_ID}&ban_reason=&ban_state=ACTIVE"))

    user.refresh_from_db()
    assert (user.network_ban_state, user.network_ban_reason) == ("ACTIVE", "")


def test_ban_callback_with_an_unknown_state_is_invalid(bitlabs, user):
    response = get(bitlabs_path(SLUG, f"uid={USER_ID}&ban_reason=x&ban_state=MAYBE"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


def test_unknown_user_is_logged_and_answered_404_with_nothing_created(bitlabs, user):
    response = get(bitlabs_offer(SLUG, "o-1", "25", uid="0b7d3c5e-0000-4000-8000-000000000000"))

    assert response.status_code == 404
    assert response.json()["error"] == "unknown_user"
    assert not OfferConversion.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert OfferDelivery.objects.get().verdict == "unknown_user"


def test_user_of_another_store_app_is_unknown(bitlabs, user):
    other = RewardUserFactory(store_app=StoreAppFactory(pid="otherapp"))

    assert get(bitlabs_offer(SLUG, "o-1", "25", uid=other.id)).status_code == 404


def test_malformed_user_id_is_unknown(bitlabs, user):
    assert get(bitlabs_offer(SLUG, "o-1", "25", uid="not-a-uuid")).status_code == 404


def test_unknown_user_ban_callback_is_404(bitlabs):
    response = get(bitlabs_path(SLUG, f"uid={USER_ID}&ban_reason=x&ban_state=BANNED"))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (f"uid={USER_ID}&val=10&type=COMPLETE", "Missing parameter 'tx'."),
        ("tx=o-1&val=10&type=COMPLETE", "Missing parameter 'uid'."),
        (f"uid={USER_ID}&tx=o-1&type=COMPLETE", "Missing parameter 'val'."),
        (f"uid={USER_ID}&tx=o-1&val=ten&type=COMPLETE", "Parameter 'val' must be a number, got 'ten'."),
        (f"uid={USER_ID}&tx=o-1&val=NaN&type=COMPLETE", "Parameter 'val' must be a number, got 'NaN'."),
        (f"uid={USER_ID}&tx=o-1&val=10", "Missing parameter 'type'."),
        (f"uid={USER_ID}&tx=o-1&val=10&type=BONUS", "Unknown callback type 'BONUS'."),
        (f"uid={USER_ID}&tx=o-1&val=10&offer_state=PAUSED", "Unknown offer_state 'PAUSED'."),
        (f"uid={USER_ID}&tx=o-1&val=-10&type=COMPLETE", "A COMPLETE callback cannot have a negative 'val'."),
        (f"uid={USER_ID}&tx=o-1&val=-10&offer_state=PENDING", "A PENDING callback cannot have a negative 'val'."),
        (f"uid={USER_ID}&tx=or-1&val=-10&type=RECONCILIATION", "Missing parameter 'ref'."),
        (f"uid={USER_ID}&tx=or-1&val=0&type=RECONCILIATION&ref=o-1", "A reconciliation needs a non-zero 'val'."),
        (f"uid={USER_ID}&tx=o-1&val=1e13&type=COMPLETE", "The amount 1e13 is too large."),
        (f"uid={USER_ID}&tx={'x' * 201}&val=1&type=COMPLETE", "Parameter 'tx' is longer than 200 characters."),
        (f"uid={USER_ID}&tx=o%001&val=1&type=COMPLETE", "Parameters cannot contain NUL characters."),
    ],
)
def test_bad_or_missing_parameters_are_400_and_move_nothing(bitlabs, user, query, message):
    response = get(bitlabs_path(SLUG, query))

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "invalid", "message": message}
    assert balances(user) == (0, 0)
    assert OfferDelivery.objects.get().verdict == "invalid"


@pytest.mark.parametrize(
    ("rate", "val", "coins"), [("1", "2.5", 3), ("0.5", "3", 2), ("0.5", "2.9", 1), ("10", "0.05", 1)]
)
def test_coin_rate_rounds_half_up(app, user, rate, val, coins):
    integration(app, "bitlabs", "rated", BITLABS_SECRET, coin_rate=rate)

    get(bitlabs_offer("rated", "o-1", val))

    assert balances(user) == (coins, 0)


def test_zero_value_completion_is_recorded_without_an_entry(bitlabs, user):
    response = get(bitlabs_offer(SLUG, "o-1", "0", offer_state="COMPLETED"))

    assert response.status_code == 200
    assert not LedgerEntry.objects.exists()
    assert OfferConversion.objects.get().outcome == "credited"


def test_unknown_slug_is_404(bitlabs, user):
    response = get(bitlabs_offer("no-such-slug", "o-1", "25"))

    assert response.status_code == 404
    assert not OfferDelivery.objects.exists()


def test_delivery_log_records_the_request_the_reply_and_the_entries(bitlabs, user):
    path = bitlabs_offer(SLUG, "o-7", "40", offer_state="COMPLETED")

    response = get(path)

    delivery = OfferDelivery.objects.get()
    assert (delivery.method, delivery.path, delivery.query) == ("GET", f"/api/callbacks/{SLUG}", path.split("?", 1)[1])
    assert (delivery.source_ip, delivery.verdict, delivery.transaction_id) == ("127.0.0.1", "accepted", "o-7")
    assert (delivery.user_id, delivery.response_status) == (user.id, 200)
    assert json.loads(delivery.response_body) == response.json()
    assert list(delivery.ledger_entries()) == list(LedgerEntry.objects.all())


def test_post_is_read_from_the_query_string_like_get(bitlabs, user):
    response = Client().post(bitlabs_offer(SLUG, "o-1", "25"))

    assert response.status_code == 200
    assert balances(user) == (25, 0)


def test_form_body_fields_are_not_covered_by_the_url_hash(bitlabs, user):
    # A captured URL without offer_state, re-sent with `offer_state=RECONCILED` in a form body, must not reverse.
    path = bitlabs_offer(SLUG, "o-1", "10")

    response = Client().post(path, "offer_state=RECONCILED", "application/x-www-form-urlencoded")

    assert response.status_code == 403
    assert balances(user) == (0, 0)


def test_usd_payout_and_body_are_kept(bitlabs, user):
    response = Client().post(bitlabs_offer(SLUG, "o-1", "10", raw="0.0125"), "note=\x00é", "text/plain")

    assert response.status_code == 200
    assert OfferConversion.objects.get().payout_usd == Decimal("0.0125")
    assert OfferDelivery.objects.get().body == "note=\ufffdé"


def test_a_malformed_payout_is_unknown_and_still_credits(bitlabs, user):
    assert get(bitlabs_offer(SLUG, "o-1", "10", raw="lots")).status_code == 200

    assert OfferConversion.objects.get().payout_usd is None
    assert balances(user) == (10, 0)


def test_a_hash_over_the_whole_url_is_not_bound_to_its_event(bitlabs, user):
    # No other URL can carry it (a changed copy fails verification), so there is nothing to bind: one write less.
    assert get(bitlabs_offer(SLUG, "o-1", "10")).status_code == 200

    assert not OfferSignature.objects.exists()


def test_a_large_body_is_logged_only_as_far_as_a_query_could_be(bitlabs, user):
    Client().post(bitlabs_offer(SLUG, "o-1", "10"), "x" * 10_000, "text/plain")

    assert OfferDelivery.objects.get().body == "x" * 4096
