"""Fulfilment's refusals (``common.exceptions``)."""

from amazon_ups.common.exceptions import Refusal


class CannotRestock(Refusal):
    """A seller's restock that cannot be bought from the world now: nothing was ordered."""
