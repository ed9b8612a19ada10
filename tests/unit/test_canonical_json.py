"""The fast canonical JSON writes exactly what the RFC 8785 reference writes."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.integrity import canonical_json

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except Exception as error:  # the reference refuses some values; so must we
        return type(error)


@settings(max_examples=600)
@given(_values)
def test_same_bytes_as_the_reference(value: Any) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert canonical_json(value) == expected
    else:
        with pytest.raises(expected):
            canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        "".join(chr(i) for i in range(0x80)) + "\u2028\u2029\u00e9\U0001f600\ufeff",
        {"\U0001f600": 1, "\ue000": 2, "b": [1, 2.5, None], "a": {"z": True}},
        [2**53 - 1, -(2**53 - 1), 0, -0.0, 1.0, 1e21, 5e-324],
    ],
)
def test_edges(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_unsafe_integers_are_refused_as_the_reference_refuses_them() -> None:
    with pytest.raises(rfc8785.IntegerDomainError):
        canonical_json({"n": 2**53})
