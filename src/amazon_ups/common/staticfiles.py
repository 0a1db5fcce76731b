"""The sites' storage of static files (settings.STORAGES): Django's own, whose URLs are
worked out once per process. Every page writes a few (``{% static %}``: the stylesheet, the
icon, its scripts), each a fresh URL-quoting and join that always gives the same answer:
a file's URL depends on its name only, as the storage's base URL is fixed when the storage
is made (a change of settings makes a new storage)."""

from __future__ import annotations

from django.contrib.staticfiles import storage

# Names come from templates, a handful per site; the bound only keeps a mistake (a name
# from a request) from growing the memory.
MAX_KEPT_URLS = 1000


class StaticFilesStorage(storage.StaticFilesStorage):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._urls: dict[str, str] = {}

    def url(self, name) -> str:
        if (url := self._urls.get(name)) is None:
            url = super().url(name)
            if len(self._urls) < MAX_KEPT_URLS:
                self._urls[name] = url
        return url
