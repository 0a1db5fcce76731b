"""The one format of moments for people (common/dates.py)."""

from datetime import UTC, datetime, timedelta, timezone

from amazon_ups.common.dates import human_datetime

MOMENT = datetime(2026, 11, 9, 8, 5, 59, tzinfo=UTC)


def test_a_moment_is_written_in_utc_with_a_named_month():
    assert human_datetime(MOMENT) == "9 Nov 2026, 08:05 UTC"
    paris = MOMENT.astimezone(timezone(timedelta(hours=1)))
    assert human_datetime(paris) == "9 Nov 2026, 08:05 UTC"
    assert human_datetime(MOMENT.isoformat()) == "9 Nov 2026, 08:05 UTC"
    assert human_datetime(None) == ""
