"""The two ways a Claude Code line is decoded give the same fields.

msgspec decodes the fields a call needs and skips the rest; a line it will not
take is decoded whole by orjson and its fields picked out (``line_of``). On any
line both take, the two must agree, whatever the types and the order of keys.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtap.agentlogs.claude_code import LINE_DECODER, line_of, read_line

FIELDS = (
    "type",
    "message",
    "timestamp",
    "requestId",
    "sessionId",
    "version",
    "cwd",
    "gitBranch",
    "isApiErrorMessage",
)
#: JSON values orjson decodes as they are (integers within 64 bits).
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
    ),
    max_leaves=8,
)
messages = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "id": values,
            "model": values,
            "usage": values,
            "content": values,
            "role": values,
        },
    ),
)


@st.composite
def records(draw: st.DrawFn) -> bytes:
    record: dict[str, Any] = {}
    for name in draw(st.permutations(FIELDS)):
        if draw(st.booleans()):
            record[name] = draw(messages if name == "message" else values)
    record.update(draw(st.dictionaries(st.text(max_size=6), values, max_size=3)))
    return orjson.dumps(record)


@settings(max_examples=500, deadline=None)
@given(records())
def test_msgspec_fields_equal_the_whole_line_decoded(line: bytes) -> None:
    whole = line_of(orjson.loads(line))
    try:
        fast = LINE_DECODER.decode(line)
    except msgspec.ValidationError:
        # Only a message that is no object is refused; the whole line has none.
        assert whole.message is None
        assert not isinstance(orjson.loads(line).get("message"), (dict, type(None)))
        fast = None

    if fast is not None:
        assert fast == whole
    assert read_line(line) == whole
