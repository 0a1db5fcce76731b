"""``UPS_ADDRESSES`` as Amazon reads it: every address, in order, or a clear refusal."""

from __future__ import annotations

import pytest

from amazon_ups.common.daemon.addresses import parse_addresses, shown


def test_addresses_in_the_order_given():
    text = "ups-1.example.org:34567, 10.0.0.2:34568,[2001:db8::7]:34567"
    assert parse_addresses(text) == [
        ("ups-1.example.org", 34567),
        ("10.0.0.2", 34568),
        ("2001:db8::7", 34567),
    ]
    assert [shown(address) for address in parse_addresses(text)][2] == "[2001:db8::7]:34567"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "an empty address"),
        ("ups-1:34567,", "an empty address"),
        ("ups-1", "'ups-1' is not host:port"),
        (":34567", "':34567' is not host:port"),
        ("ups-1:port", "the port is not a number"),
        ("ups-1:٣٤٥", "the port is not a number"),
        ("ups-1:0", "not from 1 to 65535"),
        ("ups-1:65536", "not from 1 to 65535"),
        ("2001:db8::7:34567", "in brackets"),
        ("ups-1:34567,ups-1:34567", "given twice"),
    ],
)
def test_what_cannot_be_dialed_is_refused_saying_why(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_addresses(text)
