"""A mini-Amazon, a mini-UPS and the simulated world of warehouses and trucks they share."""

__version__ = "0.1.0"
