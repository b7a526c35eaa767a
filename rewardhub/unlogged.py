class UnloggedStr(str):
    """Renders as itself but has a placeholder repr: Django's template engine logs the repr of the whole
    context (django.template, DEBUG) whenever a variable lookup fails, and a secret must not end up there."""

    def __repr__(self):
        return "'<not logged>'"
