"""Model pieces both sites' apps share."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Self

from django.db import DatabaseError, connections, models, router
from django.db.models import Case, Expression, F, QuerySet, Value, When
from django.db.models.functions import Cast

# Rows ``save_together`` writes in one UPDATE at most: each row that sets a column of its
# own adds two parameters for it (SQLite allows 32,766 in all).
SAVED_TOGETHER_MOST = 500


class SavesWhatChanged(models.Model):
    """A row whose ``save()`` writes only the columns changed since it was read or last
    saved (and ``auto_now`` ones), not all of them: orders, packages and trucks are saved
    at every move of their state machine (``statemachine.Machine.apply`` saves the whole
    object), mostly for two or three columns. Writing fewer also leaves alone columns that another
    change wrote meanwhile (a queryset ``update``)."""

    class Meta:
        abstract = True

    # While True (``statemachine.saves_held_to_end``), a save is only owed: the block makes it once,
    # at its end, for moves that come in pairs or rows saved together.
    saves_held = False
    save_owed = False

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Self:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._remember()
        return instance

    def _remember(self, names: Collection[str] | None = None) -> None:
        """Take the values of fields ``names`` (all: None) as the database's. A new dict
        each time: a copy of the object (``copy.copy``) must not share it."""
        remembered = dict(self.__dict__.get("_saved_values", {}))
        for field in self._meta.concrete_fields:
            if field.attname in self.__dict__ and (
                names is None or field.attname in names or field.name in names
            ):
                remembered[field.attname] = self.__dict__[field.attname]
        self.__dict__["_saved_values"] = remembered

    def forget_saved(self) -> None:
        """Its next ``save()`` writes every column: what was taken for the database's may
        not be (a write of it was rolled back)."""
        self.__dict__.pop("_saved_values", None)

    def _changed(self) -> list[str] | None:
        """The columns a save writes: those changed since read or saved, and the
        ``auto_now`` ones; None when it must write all (a new row, deferred fields)."""
        remembered = self.__dict__.get("_saved_values")
        if not remembered or self._state.adding or self.get_deferred_fields():
            return None
        return [
            field.attname
            for field in self._meta.concrete_fields
            if not field.primary_key
            and (
                getattr(field, "auto_now", False)
                or field.attname not in remembered
                or remembered[field.attname] != self.__dict__[field.attname]
            )
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.saves_held:
            self.save_owed = True
            return
        self.save_owed = False
        if not args and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            changed = self._changed()
            if changed is not None:
                kwargs["update_fields"] = changed
        super().save(*args, **kwargs)
        self._remember(kwargs.get("update_fields"))

    @classmethod
    def save_together(cls, rows: Iterable[Self]) -> None:
        """``save()`` each of ``rows`` (what it owed is paid: ``save_owed`` cleared), in one
        UPDATE for all those that changed the same columns, not one each: a column all of
        them set to one value (the packages a truck is given, orders packed) is set so, one
        they set to values of their own (each order's truck and the seqnum of the message
        that named it, its tracking number) by a ``CASE`` on the id. Like ``save()``, writes
        only the changed columns, with the ``auto_now`` ones set once for all."""
        auto_now = [f for f in cls._meta.concrete_fields if getattr(f, "auto_now", False)]
        stamped = {f.attname for f in auto_now}
        alike: dict[tuple[str, ...], list[Self]] = {}
        for row in rows:
            row.save_owed = False
            changed = row._changed()
            if changed is None:
                row.save()
                continue
            alike.setdefault(tuple(n for n in changed if n not in stamped), []).append(row)
        fields = {f.attname: f for f in cls._meta.concrete_fields}
        cast = connections[router.db_for_write(cls)].features.requires_casted_case_in_updates
        for names, group in alike.items():
            if len(group) == 1:
                group[0].save()
                continue
            for start in range(0, len(group), SAVED_TOGETHER_MOST):
                cls._update_together(
                    group[start : start + SAVED_TOGETHER_MOST], names, fields, auto_now, cast
                )

    @classmethod
    def _update_together(
        cls,
        rows: list[Self],
        names: tuple[str, ...],
        fields: dict[str, models.Field],
        auto_now: list[models.Field],
        cast: bool,
    ) -> None:
        values: dict[str, Any] = {}
        for name in names:
            first = rows[0].__dict__[name]
            if all(row.__dict__[name] == first for row in rows[1:]):
                values[name] = first
                continue
            field = fields[name]
            own = [(row.pk, row.__dict__[name]) for row in rows]
            case: Any
            if any(hasattr(value, "resolve_expression") for _, value in own):
                case = Case(
                    *(When(pk=pk, then=_expression(value, field)) for pk, value in own),
                    output_field=field,
                )
            else:
                case = ValueOfKey(cls._meta.pk, own, output_field=field)
            values[name] = Cast(case, output_field=field) if cast else case
        stamps = {f.attname: f.pre_save(rows[0], add=False) for f in auto_now}
        written = cls._base_manager.filter(pk__in=[row.pk for row in rows])
        if written.update(**values, **stamps) != len(rows):
            # As save() does for a row gone: a write that would be lost is a defect.
            raise DatabaseError(f"{cls.__name__}: rows saved together are gone")
        for row in rows:
            row.__dict__.update(stamps)
            row._remember([*names, *stamps])

    def refresh_from_db(
        self,
        using: str | None = None,
        fields: Iterable[str] | None = None,
        from_queryset: QuerySet[Self, Self] | None = None,
    ) -> None:
        # Only the fields read again are the database's: another field changed here and
        # not saved yet still counts as changed (Django reads a deferred field this way).
        fields = None if fields is None else list(fields)
        super().refresh_from_db(using, fields, from_queryset)
        self._remember(fields)


class ValueOfKey(Expression):
    """``CASE <key> WHEN <a row's key> THEN <its value> ... END``: in an UPDATE of rows
    saved together, the value of its own each row sets a column to. The same as Django's
    ``Case(When(pk=key, then=Value(value)), ...)``, without a filter built, copied,
    resolved and compiled per row: for an Amazon container of 100 orders that set their
    truck's seqnum and tracking number, that was about 45 ms of the daemon's CPU (0.2 ms
    a row and column), a quarter of its work; this compiles in one pass. The values are
    prepared for the database by their field, as ``Value`` prepares them."""

    def __init__(
        self, key: models.Field, values: list[tuple[Any, Any]], output_field: models.Field
    ) -> None:
        super().__init__(output_field=output_field)
        self.key = key
        self.values = values
        self.column: Any = None

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> ValueOfKey:
        resolved = self.copy()
        resolved.column = F(self.key.attname).resolve_expression(
            query, allow_joins, reuse, summarize
        )
        return resolved

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        key_sql, key_params = compiler.compile(self.column)
        params = list(key_params)
        field = self.output_field
        for key, value in self.values:
            params.append(self.key.get_db_prep_value(key, connection))
            params.append(field.get_db_prep_save(value, connection))
        whens = " ".join(["WHEN %s THEN %s"] * len(self.values))
        return f"CASE {key_sql} {whens} ELSE NULL END", tuple(params)


def _expression(value: Any, field: models.Field) -> Any:
    """``value`` as what an UPDATE sets a column to (an expression already, as F(), or a
    value of ``field``'s type)."""
    return value if hasattr(value, "resolve_expression") else Value(value, output_field=field)
