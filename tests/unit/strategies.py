"""Hypothesis strategies shared by the property tests of untrusted-input decoders."""

from __future__ import annotations

from hypothesis import strategies as st

#: Any value msgpack can encode, nested: the raw material of structured junk.
msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=64),
    lambda kids: st.lists(kids, max_size=14) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
    max_leaves=30,
)  # fmt: skip
