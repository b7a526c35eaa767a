import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models

# An accepted callback's delivery log moves onto its conversion: one row per accepted event instead of two (the
# delivery's own row cost a heap row, four index entries and three foreign-key checks per callback). The table of
# deliveries keeps those that recorded no conversion, and `offer_deliveries` becomes a view of both, so the console,
# its counts and its links read every delivery as before. A conversion keeps its delivery's id (one sequence), so
# the log's ids stay unique and unchanged.
MOVE_ACCEPTED = """
ALTER TABLE offer_conversions DROP CONSTRAINT offer_conversions_delivery_id_334428d0_fk_offer_deliveries_id;
ALTER TABLE offer_deliveries RENAME TO offer_deliveries_without_conversion;
ALTER TABLE offer_conversions ALTER COLUMN delivery_id SET DEFAULT nextval('offer_deliveries_id_seq');
UPDATE offer_conversions c
SET method = d.method, path = d.path, query = d.query, body = d.body, source_ip = d.source_ip, message = d.message,
    response_status = d.response_status, response_body = d.response_body
FROM offer_deliveries_without_conversion d WHERE d.id = c.delivery_id;
DELETE FROM offer_deliveries_without_conversion d USING offer_conversions c WHERE c.delivery_id = d.id;
"""

# Ordered by id (newest first), a page of the log is two index scans merged.
CREATE_VIEW = """
CREATE VIEW offer_deliveries AS
SELECT id, integration_id, received_at, method, path, query, body, source_ip, verdict, message, transaction_id,
       user_id, response_status, response_body
FROM offer_deliveries_without_conversion
UNION ALL
SELECT delivery_id, integration_id, created_at, method, path, query, body, source_ip, 'accepted'::varchar(16),
       message, transaction_id, user_id, response_status, response_body
FROM offer_conversions
"""

MOVE_BACK = """
DROP VIEW offer_deliveries;
INSERT INTO offer_deliveries_without_conversion (
    id, integration_id, received_at, method, path, query, body, source_ip, verdict, message, transaction_id, user_id,
    response_status, response_body
)
SELECT delivery_id, integration_id, created_at, method, path, query, body, source_ip, 'accepted', message,
       transaction_id, user_id, response_status, response_body
FROM offer_conversions;
ALTER TABLE offer_conversions ALTER COLUMN delivery_id DROP DEFAULT;
ALTER TABLE offer_deliveries_without_conversion RENAME TO offer_deliveries;
ALTER TABLE offer_conversions ADD CONSTRAINT offer_conversions_delivery_id_334428d0_fk_offer_deliveries_id
    FOREIGN KEY (delivery_id) REFERENCES offer_deliveries (id) DEFERRABLE INITIALLY DEFERRED;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0009_ledger_post'),
        ('postbacks', '0016_coin_flow_payout'),
    ]

    operations = [
        migrations.AddField(
            model_name='offerconversion',
            name='body',
            field=models.TextField(blank=True, db_default='', help_text='As sent, for networks that post a JSON or form body.'),
        ),
        migrations.AddField(
            model_name='offerconversion',
            name='message',
            field=models.TextField(blank=True, help_text='Why the verdict, or what the callback did.'),
        ),
        migrations.AddField(
            model_name='offerconversion',
            name='method',
            field=models.CharField(default='', max_length=8),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='offerconversion',
            name='path',
            field=models.CharField(default='', max_length=300),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='offerconversion',
            name='query',
            field=models.TextField(blank=True, verbose_name='raw query'),
        ),
        migrations.AddField(
            model_name='offerconversion',
            name='response_body',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='offerconversion',
            name='response_status',
            field=models.SmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='offerconversion',
            name='source_ip',
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name='source IP'),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(MOVE_ACCEPTED, MOVE_BACK),
                migrations.RunSQL(CREATE_VIEW, migrations.RunSQL.noop),
            ],
            state_operations=[
                migrations.AlterModelOptions(
                    name='offerdelivery',
                    options={'managed': False, 'ordering': ['-id'], 'verbose_name': 'offer callback delivery', 'verbose_name_plural': 'offer callback deliveries'},
                ),
                migrations.AlterField(
                    model_name='offerconversion',
                    name='delivery',
                    field=models.OneToOneField(db_constraint=False, db_default=models.Func(models.Value('offer_deliveries_id_seq'), function='nextval', output_field=models.BigIntegerField()), editable=False, on_delete=django.db.models.deletion.PROTECT, related_name='conversion', to='postbacks.offerdelivery'),
                ),
                migrations.CreateModel(
                    name='DeliveryWithoutConversion',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('method', models.CharField(max_length=8)),
                        ('path', models.CharField(max_length=300)),
                        ('query', models.TextField(blank=True, verbose_name='raw query')),
                        ('body', models.TextField(blank=True, db_default='', help_text='As sent, for networks that post a JSON or form body.')),
                        ('source_ip', models.GenericIPAddressField(blank=True, null=True, verbose_name='source IP')),
                        ('message', models.TextField(blank=True, help_text='Why the verdict, or what the callback did.')),
                        ('response_status', models.SmallIntegerField(blank=True, null=True)),
                        ('response_body', models.TextField(blank=True)),
                        ('received_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), db_index=True)),
                        ('verdict', models.CharField(choices=[('received', 'Received (processing did not finish)'), ('accepted', 'Accepted'), ('duplicate', 'Duplicate'), ('bad_signature', 'Bad signature'), ('ip_refused', 'IP refused'), ('forged', 'Forged (signature reused with other values)'), ('invalid', 'Invalid'), ('unknown_user', 'Unknown user')], default='received', max_length=16)),
                        ('transaction_id', models.CharField(blank=True, max_length=200)),
                        ('integration', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='postbacks.offerwallintegration')),
                        ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.rewarduser')),
                    ],
                    options={
                        'db_table': 'offer_deliveries_without_conversion',
                        'indexes': [models.Index(condition=models.Q(('verdict', 'forged')), fields=['received_at'], name='offer_delivery_forged'), models.Index(fields=['integration', 'transaction_id'], name='offer_delivery_transaction')],
                    },
                ),
            ],
        ),
    ]
