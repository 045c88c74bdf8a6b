"""Loading user data always goes through a scope: anyone else gets a 404, never a hint."""

from contextlib import contextmanager
from uuid import UUID

from django.db import connection
from django.db.backends.postgresql.psycopg_any import is_psycopg3
from django.db.models import FilteredRelation, Model, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from .models import Case


def get_case_for_patient(
    user, code: UUID, *, related: tuple[str, ...] = (), annotate: dict | None = None
) -> Case:
    """`related` and `annotate`: what a page reads with the case, in the same query."""
    cases = Case.objects.for_patient(user).select_related("requested_subspecialty", *related)
    with joined_as_written():
        case = get_object_or_404(cases.annotate(**(annotate or {})), code=code)
    case.selected_with = frozenset(name.split("__")[0] for name in related)
    return case


@contextmanager
def joined_as_written():
    """Within it, PostgreSQL joins a query's tables in the order the query writes them.

    A page's one query for a case and its one-to-one rows starts from the case found by its key;
    every other order is worse, yet PostgreSQL searches them all, and with a dozen tables that
    search takes several times as long as running the query (6.6 ms against 0.4 ms). Only for
    queries that start from one row: others need the planner's search.

    The setting travels in the query's own round trip: psycopg2 sends both statements as one
    string, which PostgreSQL runs as one transaction, so `SET LOCAL` ends with the query (or
    with the transaction already open, where it changes plans only).
    """
    if connection.vendor != "postgresql" or is_psycopg3:
        yield
        return

    def in_written_order(execute, sql, params, many, context):
        return execute(f"SET LOCAL join_collapse_limit = 1; {sql}", params, many, context)

    with connection.execute_wrapper(in_written_order):
        yield


def selected(case: Case, name: str, load):
    """The row a page selected with the case under `name` (in `related`), else `load()`'s."""
    if name in getattr(case, "selected_with", ()):
        return getattr(case, name, None)  # a relation with no row leaves no attribute
    return load()


def latest_related(
    relation: str, model: type[Model], order_by: tuple[str, ...]
) -> FilteredRelation:
    """The latest row of one of the case's one-to-many `relation`s (rows of `model` in `order_by`
    order), as a relation a page selects with the case: annotate it under a name and pass that
    name in `related` (None when there is no row)."""
    latest = model._default_manager.filter(case=OuterRef("pk")).order_by(*order_by).values("pk")
    return FilteredRelation(relation, condition=Q(**{f"{relation}__pk": Subquery(latest[:1])}))


def with_rows(
    parents: QuerySet, relation: str, *, order_by: tuple[str, ...], rows_order_by: tuple[str, ...]
) -> list[Model]:
    """`parents` in `order_by` order, each with its rows of the one-to-many `relation` in
    `rows_order_by` order (`parent.<relation>.all()` reads them): one query, a LEFT JOIN, where
    `prefetch_related` makes two."""
    alias = f"joined_{relation}"
    joined = parents.annotate(**{alias: FilteredRelation(relation)}).select_related(alias)
    ordering = [
        *order_by,
        *(f"-{alias}__{f[1:]}" if f.startswith("-") else f"{alias}__{f}" for f in rows_order_by),
    ]
    found: dict[object, Model] = {}
    rows: dict[object, list[Model]] = {}
    for row in joined.order_by(*ordering):
        found.setdefault(row.pk, row)
        child = getattr(row, alias, None)  # no attribute when the parent has no rows
        if child is not None:
            rows.setdefault(row.pk, []).append(child)
    for pk, parent in found.items():
        set_loaded(parent, relation, rows.get(pk, []))
    return list(found.values())


def set_loaded(instance: Model, relation: str, rows: list[Model]) -> None:
    """Hold `rows` as what `instance.<relation>.all()` returns, as `prefetch_related` does."""
    loaded = getattr(instance, relation).all()
    loaded._result_cache = rows
    loaded._prefetch_done = True
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[relation] = loaded
    parent_field = instance._meta.get_field(relation).remote_field
    for row in rows:
        parent_field.set_cached_value(row, instance)
