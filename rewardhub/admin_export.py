"""CSV export of an admin list, exactly as filtered, searched and ordered on screen: one mixin per ModelAdmin.

`class LedgerEntryAdmin(CsvExportMixin, …, admin.ModelAdmin)` adds `<list>/export.csv` and an "Export CSV" button
on the list that carries the list's query string. The rows come from the admin's own ChangeList (its filters,
search and ordering, and the view permission), streamed from a server-side cursor in chunks, so a million rows
start arriving at once and never sit in memory. Columns are the list's columns, or `csv_fields` when set.

A cell a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) is sent with a
leading apostrophe: a delivery's query string, a remark or an email is text from outside. Numbers stay numbers
(a negative amount is no formula).
"""

import csv
from datetime import datetime
from decimal import Decimal

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import label_for_field, lookup_field
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import strip_tags

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 2000  # rows fetched from the server-side cursor at a time


def safe_cell(value) -> str | int | Decimal | float:
    """A value as a spreadsheet should show it, never as a formula it would run."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | Decimal | float):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()  # with its UTC offset: no guessing the zone
    text = str(value)
    if "<" in text:
        text = strip_tags(text)  # a list column's link; strip_tags on every cell was a third of the export's time
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """csv.writer writes to this and gets each line back to yield (the csv module's streaming recipe)."""

    def write(self, line):
        return line


class CsvExportMixin:
    exports_csv = True  # the list's "Export CSV" button (templates/admin/change_list_object_tools.html)
    csv_fields: list[str] | None = None  # default: the list's columns

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export_csv"
        export = path("export.csv", self.admin_site.admin_view(self.export_csv_view), name=name)
        return [export, *super().get_urls()]

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if not getattr(request, "exporting_csv", False):
            return changelist

        class Unpaginated(changelist):
            def get_results(self, request):
                """The export streams every row: no page to fetch, and no COUNT(*) over millions of rows."""

        return Unpaginated

    def export_csv_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.exporting_csv = True
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            self.message_user(request, "That filter cannot be exported: it is not one the list offers.", messages.ERROR)
            return HttpResponseRedirect("../")
        columns = [name for name in self.csv_fields or changelist.list_display if name != "action_checkbox"]
        rows = changelist.queryset.iterator(chunk_size=CHUNK_ROWS)
        response = StreamingHttpResponse(self._csv_lines(columns, rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="{self.opts.model_name}-{stamp}.csv"'
        return response

    def _csv_lines(self, columns, rows):
        """The header, then one piece per CHUNK_ROWS rows: a piece per row cost a socket write (and under gunicorn
        a hop to the event loop) for every row."""
        writer = csv.writer(_Echo())
        # The byte order mark makes Excel read UTF-8 (emails, remarks) instead of the system's code page.
        yield "\ufeff" + writer.writerow([str(label_for_field(name, self.model, self)) for name in columns])
        lines = []
        for obj in rows:
            lines.append(writer.writerow([safe_cell(self._csv_value(name, obj)) for name in columns]))
            if len(lines) == CHUNK_ROWS:
                yield "".join(lines)
                lines = []
        yield "".join(lines)

    def _csv_value(self, name, obj):
        return lookup_field(name, obj, self)[2]  # choices as stored: stable codes for spreadsheets and scripts
