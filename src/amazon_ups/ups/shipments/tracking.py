"""Tracking numbers: what a recipient types to find a package. Pure: no Django.

A number is ``MU`` + 13 random characters + 1 check character, 16 in all, written in
groups of four: ``MUFJ AAJ9 4BRN M8AK``.

- The characters are Crockford's base32 alphabet (digits and capitals without I, L, O,
  U): case does not matter, and the letters most often misread as digits are not used.
- The 13 random characters come from ``secrets``: 65 bits. The package id (Amazon's
  world ``shipid``) counts 1, 2, 3...; the number must not, or anyone could walk
  through every package by adding one.
- The check character is computed with the Damm algorithm (H. M. Damm, 2004) over a
  totally anti-symmetric quasigroup of order 32: ``x * y = 2x + y`` in GF(2^5) (modulus
  x^5 + x^2 + 1). The Latin-square property catches every single wrong character, and
  total anti-symmetry every swap of two adjacent different characters (the check
  character included), so a typo is told apart from an unknown package before any
  lookup.
"""

from __future__ import annotations

import secrets
import unicodedata

PREFIX = "MU"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LENGTH = 13
LENGTH = len(PREFIX) + RANDOM_LENGTH + 1
GROUP = 4
# Anything longer is no tracking number, whatever it holds; cut before any work on it.
MAX_INPUT = 100

_VALUE = {char: value for value, char in enumerate(ALPHABET)}
# Crockford's decoding: what people write for 0 and 1.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_MODULUS = 0b100101  # x^5 + x^2 + 1, irreducible over GF(2)


class InvalidTrackingNumber(ValueError):
    """Text that cannot be a tracking number; ``typo`` when only the check fails."""

    def __init__(self, text: str, *, typo: bool = False) -> None:
        super().__init__(text)
        self.typo = typo


def _times_two(value: int) -> int:
    value <<= 1
    return value ^ _MODULUS if value & 0b100000 else value


def _operation(x: int, y: int) -> int:
    return _times_two(x) ^ y


def _interim(values) -> int:
    interim = 0
    for value in values:
        interim = _operation(interim, value)
    return interim


def check_character(body: str) -> str:
    """The character that makes ``body`` + it fold to 0 (``body`` in ALPHABET)."""
    return ALPHABET[_times_two(_interim(_VALUE[char] for char in body))]


def is_valid_check(body_and_check: str) -> bool:
    return _interim(_VALUE[char] for char in body_and_check) == 0


def new_number() -> str:
    """A fresh number, in its compact form (as stored)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return PREFIX + body + check_character(body)


def grouped(number: str) -> str:
    """The compact form in groups of four, for people."""
    return " ".join(number[i : i + GROUP] for i in range(0, len(number), GROUP))


def _is_separator(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Pd" or char in "_."


def parse(text: str) -> str:
    """The compact form of the number written in ``text`` (any case, spaces, dashes,
    full-width forms), or ``InvalidTrackingNumber``."""
    if len(text) > MAX_INPUT:
        raise InvalidTrackingNumber(f"A tracking number has {LENGTH} letters and digits.")
    text = unicodedata.normalize("NFKC", text).upper()
    compact = "".join(char for char in text if not _is_separator(char))
    if not compact.isascii() or not compact.isalnum():
        raise InvalidTrackingNumber("A tracking number has only letters and digits.")
    if not compact.startswith(PREFIX) or len(compact) != LENGTH:
        raise InvalidTrackingNumber(
            f"A tracking number has {LENGTH} letters and digits and starts with {PREFIX}."
        )
    rest = compact[len(PREFIX) :].translate(_ALIASES)
    if any(char not in _VALUE for char in rest):
        raise InvalidTrackingNumber("A tracking number has no letter U but in MU, its start.")
    if not is_valid_check(rest):
        raise InvalidTrackingNumber(
            "This is not a valid tracking number: one of its characters is wrong, "
            "or two are swapped.",
            typo=True,
        )
    return PREFIX + rest
