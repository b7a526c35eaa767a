"""The soak suites (`make soak`): load, races and faults against a real gunicorn server on PostgreSQL.

Each test starts gunicorn with the production config on a free local port against the test database,
drives it from real client threads over HTTP, then checks the database against every answer received.
"""
