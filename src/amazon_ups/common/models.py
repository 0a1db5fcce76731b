"""Model pieces both sites' apps share."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Self

from django.db import DatabaseError, models
from django.db.models import QuerySet


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
        """``save()`` each of ``rows``, in one UPDATE for all those whose changes are the
        same (the same columns set to the same values: the packages a truck is given, or
        sent out with, moved together), not one each. Like ``save()``, writes only the
        changed columns, with the ``auto_now`` ones set once for all."""
        auto_now = [f for f in cls._meta.concrete_fields if getattr(f, "auto_now", False)]
        stamped = {f.attname for f in auto_now}
        alike: dict[tuple[tuple[str, Any], ...], list[Self]] = {}
        for row in rows:
            changed = row._changed()
            if changed is None:
                row.save()
                continue
            key = tuple((name, row.__dict__[name]) for name in changed if name not in stamped)
            try:
                alike.setdefault(key, []).append(row)
            except TypeError:  # a value that cannot be compared so (a dict): alone
                row.save()
        for key, group in alike.items():
            if len(group) == 1:
                group[0].save()
                continue
            stamps = {f.attname: f.pre_save(group[0], add=False) for f in auto_now}
            written = cls._base_manager.filter(pk__in=[row.pk for row in group])
            if written.update(**dict(key), **stamps) != len(group):
                # As save() does for a row gone: a write that would be lost is a defect.
                raise DatabaseError(f"{cls.__name__}: rows saved together are gone")
            for row in group:
                row.__dict__.update(stamps)
                row._remember([*dict(key), *stamps])

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
