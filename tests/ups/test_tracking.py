"""Tracking numbers (``shipments/tracking.py``, pure): random, well formed, and a typo
is caught by the check character before any lookup."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amazon_ups.ups.shipments import tracking
from amazon_ups.ups.shipments.tracking import ALPHABET, InvalidTrackingNumber

bodies = st.text(alphabet=ALPHABET, min_size=tracking.RANDOM_LENGTH, max_size=16)


def number_of(body: str) -> str:
    return body + tracking.check_character(body)


def test_the_quasigroup_is_latin_and_totally_anti_symmetric():
    """The two properties the Damm algorithm needs, checked on the whole table."""
    table = [[tracking._operation(x, y) for y in range(32)] for x in range(32)]
    for row in table:
        assert sorted(row) == list(range(32))
    for column in zip(*table, strict=True):
        assert sorted(column) == list(range(32))
    for c in range(32):
        for x in range(32):
            for y in range(32):
                if x != y:
                    assert table[table[c][x]][y] != table[table[c][y]][x]


def test_a_new_number_has_its_form():
    number = tracking.new_number()
    assert len(number) == tracking.LENGTH == 16
    assert number.startswith("MU")
    assert set(number[2:]) <= set(ALPHABET)
    assert tracking.parse(number) == number
    assert tracking.grouped(number) == f"{number[:4]} {number[4:8]} {number[8:12]} {number[12:]}"


def test_numbers_are_random_not_sequential():
    numbers = [tracking.new_number() for _ in range(2000)]
    assert len(set(numbers)) == len(numbers)
    # Each random position takes many values: nothing counts up.
    for position in range(2, 2 + tracking.RANDOM_LENGTH):
        assert len({number[position] for number in numbers}) > 25


@given(bodies)
def test_a_number_with_its_check_character_is_valid(body):
    assert tracking.is_valid_check(number_of(body))


@given(bodies, st.data())
def test_any_single_wrong_character_is_caught(body, data):
    number = number_of(body)
    position = data.draw(st.integers(0, len(number) - 1))
    wrong = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != number[position]))
    typo = number[:position] + wrong + number[position + 1 :]
    assert not tracking.is_valid_check(typo)


@given(bodies, st.data())
def test_any_swap_of_two_adjacent_characters_is_caught(body, data):
    number = number_of(body)
    position = data.draw(st.integers(0, len(number) - 2))
    first, second = number[position], number[position + 1]
    if first == second:
        return
    swapped = number[:position] + second + first + number[position + 2 :]
    assert not tracking.is_valid_check(swapped)


def test_a_typo_is_told_from_a_malformed_number():
    number = tracking.new_number()
    last = number[-1]
    typo = number[:-1] + ALPHABET[(ALPHABET.index(last) + 1) % 32]
    with pytest.raises(InvalidTrackingNumber) as caught:
        tracking.parse(typo)
    assert caught.value.typo
    with pytest.raises(InvalidTrackingNumber) as caught:
        tracking.parse(number[:-1])
    assert not caught.value.typo


def test_input_is_normalised():
    number = tracking.new_number()
    grouped = tracking.grouped(number)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)  # full-width forms
    for written in (
        grouped,
        grouped.lower(),
        grouped.replace(" ", "-"),
        f"  {number.lower()}\t",
        "-".join(number),
        grouped.replace(" ", "\u2013"),  # an en dash
        full_width,
    ):
        assert tracking.parse(written) == number


def test_crockfords_aliases_read_as_the_digits_people_meant():
    body = "0" * 6 + "1" * 7
    number = "MU" + number_of(body)
    assert tracking.parse(number.replace("0", "O").replace("1", "l")) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "5",
        "MU",
        "1Z999AA10123456784",
        "MU٤٤٤٤٤٤٤٤٤٤٤٤٤٤",  # Arabic-Indic digits: digits, but not ours
        "MU" + "\u0660" * 14,
        "MUUUUUUUUUUUUUUU",
        "MU0000000000000\x00",
        "MU\U0001f4e6" * 8,
        "9" * 10_000,
        "MU" + "0" * 10_000,
        "ß" * 50,
        "\ufdfa" * 20,  # one character that NFKC makes 18
    ],
)
def test_odd_input_is_refused_plainly(text):
    with pytest.raises(InvalidTrackingNumber):
        tracking.parse(text)


@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_never_crashes(text):
    try:
        number = tracking.parse(text)
    except InvalidTrackingNumber:
        return
    assert len(number) == tracking.LENGTH and tracking.is_valid_check(number[2:])
