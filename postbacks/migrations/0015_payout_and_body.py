from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('postbacks', '0014_coin_flow_days'),
    ]

    operations = [
        migrations.AddField(
            model_name='offerconversion',
            name='payout_usd',
            field=models.DecimalField(blank=True, decimal_places=4, help_text='What the network reported paying for this event, where it sends it.', max_digits=14, null=True, verbose_name='payout (USD)'),
        ),
        migrations.AddField(
            model_name='offerdelivery',
            name='body',
            field=models.TextField(blank=True, db_default='', help_text='As sent, for networks that post a JSON or form body.'),
        ),
    ]
