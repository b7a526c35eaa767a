from django.db import migrations

# The ledger's posting rule, written once: every path that moves coins (partner postbacks, offer callbacks, staff
# adjustments through ledger.services.post_entry) calls this function, from Python or inside its own statement.
# One call takes the user's row lock, moves the bucket's cached balance and inserts the immutable entry with the new
# balance, in the caller's statement and so in its transaction. A key already used fails the unique constraint and
# with it the caller's whole statement: nothing of it is written. Calls for the same user in one statement run one
# after the other, each seeing the previous one's balance, so each entry's balance_after is right for its bucket.
CREATE_LEDGER_POST = """
CREATE FUNCTION ledger_post(
    user_id uuid,
    amount bigint,
    kind text,
    bucket text,
    key text,
    reference text,
    reverses_id bigint DEFAULT NULL,
    created_by_id integer DEFAULT NULL,
    note text DEFAULT '',
    OUT entry_id bigint,
    OUT balance_after bigint,
    OUT created_at timestamptz
) LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users
    SET coins = users.coins + CASE WHEN bucket = 'available' THEN amount ELSE 0 END,
        held_coins = users.held_coins + CASE WHEN bucket = 'held' THEN amount ELSE 0 END
    WHERE users.id = ledger_post.user_id
    RETURNING CASE WHEN bucket = 'held' THEN users.held_coins ELSE users.coins END INTO balance_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'No reward user %', user_id USING ERRCODE = 'no_data_found';
    END IF;
    -- An unknown bucket moved nothing above and fails the entry's CHECK here, as a zero amount does.
    INSERT INTO ledger_entries
        (user_id, amount, kind, bucket, key, reference, balance_after, reverses_id, created_by_id, note, created_at)
    VALUES (user_id, amount, kind, bucket, key, reference, balance_after, reverses_id, created_by_id, note, now())
    RETURNING ledger_entries.id, ledger_entries.created_at INTO entry_id, created_at;
END
$$
"""

DROP_LEDGER_POST = "DROP FUNCTION ledger_post(uuid, bigint, text, text, text, text, bigint, integer, text)"


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0008_offer_reversal_index'),
    ]

    operations = [
        migrations.RunSQL(CREATE_LEDGER_POST, DROP_LEDGER_POST),
    ]
