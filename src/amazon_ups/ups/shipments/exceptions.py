"""The carrier's refusals (``common.exceptions``)."""

from __future__ import annotations

from amazon_ups.common.exceptions import Refusal


class Refused(Refusal):
    """A request of Amazon's we will not act on; the caller answers it with an ``Error``."""

    def __init__(self, text: str, package_id: int | None = None) -> None:
        super().__init__(text)
        self.package_id = package_id
