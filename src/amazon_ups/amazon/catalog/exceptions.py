"""The catalog's refusals (``common.exceptions``)."""

from amazon_ups.common.exceptions import Refusal


class InsufficientStock(Refusal):
    """Fewer units on hand than asked for: nothing was taken."""
