"""parse_int: the one way a whole number is read from a request."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amazon_ups.common.parsing import parse_int
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN, INT64_MAX


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("+12", 12),
        ("007", 7),
        (str(INT64_MAX), INT64_MAX),
        ("²", None),  # isdigit() says yes, int() says no
        ("٣", None),  # int() reads it as 3: not a number of ours
        ("\uff11\uff12", None),  # full-width digits
        ("9" * 5000, None),
        (str(INT64_MAX + 1), None),
        ("0", None),
        ("-1", None),
        ("", None),
        (" 12 ", None),
        ("12\n", None),
        ("1_000", None),
        ("1e3", None),
        ("0x10", None),
        (None, None),
        (12, None),
    ],
)
def test_only_ascii_digits_in_range_are_numbers(text, expected):
    assert parse_int(text, 1, INT64_MAX) == expected


def test_a_negative_range_takes_a_minus_sign():
    assert parse_int("-4", INT32_MIN, INT32_MAX) == -4
    assert parse_int(str(INT32_MIN), INT32_MIN, INT32_MAX) == INT32_MIN
    assert parse_int(str(INT32_MIN - 1), INT32_MIN, INT32_MAX) is None
    assert parse_int("--4", INT32_MIN, INT32_MAX) is None


@given(st.integers(min_value=INT32_MIN, max_value=INT32_MAX))
def test_every_number_in_range_reads_back(number):
    assert parse_int(str(number), INT32_MIN, INT32_MAX) == number


@given(st.integers().filter(lambda n: not INT32_MIN <= n <= INT32_MAX))
def test_no_number_out_of_range_is_taken(number):
    assert parse_int(str(number), INT32_MIN, INT32_MAX) is None


@given(st.text(max_size=40))
def test_any_text_gives_a_number_in_range_or_none(text):
    number = parse_int(text, 1, INT64_MAX)
    if number is None:
        return
    assert 1 <= number <= INT64_MAX
    # Only ASCII digits and a sign were read.
    assert text.lstrip("+").isascii() and text.lstrip("+").isdecimal()
    assert int(text) == number
