"""Admin lists that stay fast at tens of millions of rows.

Django's changelist counts every matching row (`COUNT(*)`, seconds at 10 million ledger entries), searches with
`UPPER(col) = UPPER(%s)` or `icontains` (a full scan, indexes unused) and lets any column be sorted (a full
sort). Here: the count is exact only when the planner expects few rows, otherwise the planner's estimate
("about 10,000,000"), and paging stops at a fixed depth (an OFFSET of millions is a scan too); search is
exact-match on indexed identifiers, each term tried only against the fields whose type it fits.
"""

import json

from django.contrib import admin
from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.paginator import Paginator
from django.db import connections, models
from django.utils.functional import cached_property
from django.utils.text import smart_split

EXACT_COUNT_BELOW = 1_000  # the planner expects fewer rows: count them exactly (reading at most one more)
MAX_PAGES = 100  # deeper pages are reached by filtering, not by an OFFSET of millions


class EstimatedCountPaginator(Paginator):
    """Exact counts for small results, the planner's estimate for big ones; paging capped at MAX_PAGES."""

    @cached_property
    def estimated(self) -> bool:
        return self.planned_rows >= EXACT_COUNT_BELOW

    @cached_property
    def at_least(self) -> bool:
        """The planner expected few rows but there are more: counting stopped at EXACT_COUNT_BELOW."""
        return not self.estimated and self.capped_count > EXACT_COUNT_BELOW

    @cached_property
    def capped_count(self) -> int:
        """An exact count that reads at most one row more than EXACT_COUNT_BELOW, whatever the planner thought."""
        return self.object_list[: EXACT_COUNT_BELOW + 1].count()

    @cached_property
    def planned_rows(self) -> int:
        query = self.object_list.order_by()
        try:
            sql, params = query.query.sql_with_params()
        except EmptyResultSet:  # a search term that fits no field
            return 0
        with connections[query.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])

    @cached_property
    def total(self) -> int:
        """What the page says: the exact count, or the estimate."""
        if self.estimated:
            return self.planned_rows
        return min(self.capped_count, EXACT_COUNT_BELOW)

    @cached_property
    def count(self) -> int:
        """What paging uses: never more than MAX_PAGES pages."""
        return min(self.total, MAX_PAGES * self.per_page)


class VolumeAdminMixin:
    """For models with millions of rows: estimated counts, capped paging, exact search, indexed sorting only.

    `exact_search_fields` lists lookups tried for each search term; a term is only tried against the fields
    whose type accepts it (a UUID column never sees "abc"), so every search is an indexed equality."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False  # a second COUNT(*) of the unfiltered table
    show_facets = admin.ShowFacets.NEVER  # a COUNT(*) per filter choice
    exact_search_fields: tuple[str, ...] = ()
    sortable_by = ()  # sorting by an unindexed column sorts every row

    def get_search_fields(self, request):
        return self.exact_search_fields  # for the search box to show

    def get_search_results(self, request, queryset, search_term):
        terms = [term.strip("\"'") for term in smart_split(search_term) if term.strip("\"'")]
        for term in terms:
            queryset = queryset.filter(self.term_query(term))
        return queryset, False

    def term_query(self, term: str) -> models.Q:
        query = models.Q(pk__in=[])  # matches nothing: a term that fits no field finds nothing
        for lookup in self.exact_search_fields:
            value = self.search_value(lookup, term)
            if value is None:
                continue
            relation, _, rest = lookup.partition("__")
            field = self.model._meta.get_field(relation) if rest else None
            if field is not None and field.is_relation:
                # Resolved first: an OR across a join cannot use both tables' indexes.
                related = field.related_model._default_manager.filter(**{rest: value})
                query |= models.Q(**{f"{field.attname}__in": list(related.values_list("pk", flat=True)[:100])})
            else:
                query |= models.Q(**{lookup: value})
        return query

    def search_value(self, lookup: str, term: str):
        """The term converted for the lookup's field, or None when it cannot match (wrong type or too long)."""
        field = field_of(self.model, lookup)
        try:
            value = field.to_python(term)
            if isinstance(field, models.IntegerField) and not -(2**63) <= value < 2**63:
                return None
        except (ValidationError, ValueError, TypeError):
            return None
        too_long = isinstance(field, models.CharField) and field.max_length and len(value) > field.max_length
        return None if too_long else value


def field_of(model, lookup: str):
    """The model field a lookup like `user__device_id` ends on."""
    field = None
    for part in lookup.split("__"):
        if part == "exact":
            break
        field = model._meta.pk if part == "pk" else model._meta.get_field(part)
        if field.is_relation:
            model = field.related_model
    if field.is_relation:  # `user` alone: the related primary key
        field = field.target_field
    return field


class ChoicesListFilter(admin.SimpleListFilter):
    """A filter over a column's declared choices: no `SELECT DISTINCT` over millions of rows to list them."""

    options: list[tuple[str, str]] = []  # (value, label)

    def lookups(self, request, model_admin):
        return self.options

    def queryset(self, request, queryset):
        if self.value() in dict(self.options):
            return queryset.filter(**{self.parameter_name: self.value()})
        return queryset
