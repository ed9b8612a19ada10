"""The recording key: text that sorts as the instants it names, in UTC, at fixed width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from projections.records import recorded_key

# Offsets of up to a day either side; the range leaves room for them at both ends of time.
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-24 * 60 + 1, max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def test_every_field_is_written_at_full_width() -> None:
    assert recorded_key(datetime(987, 6, 5, 4, 3, 2, tzinfo=UTC)) == "0987-06-05T04:03:02.000000Z"
    assert recorded_key(datetime(2017, 9, 22, 23, 59, 59, 7, tzinfo=UTC)) == (
        "2017-09-22T23:59:59.000007Z"
    )


def test_a_moment_elsewhere_is_written_in_utc() -> None:
    louisville = timezone(timedelta(hours=-4))
    moment = datetime(2017, 9, 22, 21, 30, tzinfo=louisville)
    assert recorded_key(moment) == "2017-09-23T01:30:00.000000Z"


@given(moments, offsets)
def test_the_key_names_the_same_instant(moment: datetime, zone: timezone) -> None:
    key = recorded_key(moment.astimezone(zone))
    assert len(key) == 27
    assert datetime.fromisoformat(key.replace("Z", "+00:00")) == moment


@given(moments, moments, offsets, offsets)
def test_keys_sort_as_instants_do(a: datetime, b: datetime, za: timezone, zb: timezone) -> None:
    ka, kb = recorded_key(a.astimezone(za)), recorded_key(b.astimezone(zb))
    assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)
