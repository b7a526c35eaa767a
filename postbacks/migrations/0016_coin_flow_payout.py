from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('postbacks', '0015_payout_and_body'),
    ]

    operations = [
        migrations.AddField(
            model_name='coinflowday',
            name='payout_usd',
            field=models.DecimalField(decimal_places=4, default=0, max_digits=18),
        ),
    ]
