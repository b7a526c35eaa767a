import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rewardhub', '0001_refused_calls'),
    ]

    operations = [
        migrations.CreateModel(
            name='ScheduledRun',
            fields=[
                ('name', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('holder', models.CharField(help_text='host:pid of the run holding it', max_length=200)),
                ('started_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                ('expires_at', models.DateTimeField(help_text='After this another run may take it (a run that died kept it).')),
            ],
            options={
                'db_table': 'scheduled_runs',
            },
        ),
    ]
