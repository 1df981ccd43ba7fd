# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Claude Code transcripts straight to usage event lines, compiled: a backfill's
hot path.

The rules live in Python: ``claude_code.TranscriptFile`` reads and merges a
file's lines, ``events.EventFactory.build_line`` makes each call's event. This
module does the same two steps in one compiled pass for the shape nearly every
response has, and hands every other response to them (``EventPlans.slow_event``):
a time that is not written as Claude Code writes it, compaction steps in the
usage, a model without a whole day's price, counts too large for exact integer
arithmetic, text that is not valid Unicode. A test holds the two ways to the same
events on generated transcripts and on every transcript fixture.

What differs is only how: lines are found with ``memchr``/``memmem`` instead of
``bytes.find``, the event's JSON is written from pieces made once per session
(``EventPlans.fragments``) instead of from a dict, its price is integer
arithmetic on a rate card scaled once per model and day (``EventPlans.day_plan``)
instead of ``Decimal`` arithmetic, and no ``AgentCall`` or ``datetime`` is made.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.string cimport memchr, memcpy
from libc.stdlib cimport malloc, realloc, free
from libc.stdint cimport int64_t, uint64_t
from libc.math cimport nearbyint
from cpython.long cimport PyLong_AsLongLongAndOverflow

import msgspec

cdef extern from "string.h":
    void *memmem(const void *haystack, size_t haystacklen,
                 const void *needle, size_t needlelen) nogil

cdef extern from *:
    ctypedef long long int128 "__int128"
    ctypedef unsigned long long uint128 "unsigned __int128"

cdef const char *USAGE_MARK = b'"usage"'
cdef const char *USER_MARK = b'"type":"user"'
cdef const char *MESSAGE_MARK = b'"message":'
cdef Py_ssize_t HEAD_BYTES = 512
cdef object MAX_COUNT = 2**63 - 1
#: Counts at or past this go the slow way: exact integer arithmetic would overflow.
cdef int64_t MAX_FAST_COUNT = 1099511627776  # 2**40
#: ``Decimal``'s default precision: a cost with more digits is rounded there.
cdef object DECIMAL_DIGITS_LIMIT = 10**28
cdef str SYNTHETIC_MODEL = "<synthetic>"
cdef str UNKNOWN_BRANCH = "HEAD"
#: The per-call values written between a template's fragments, in order.
SLOTS = (
    "event_id", "model", "region",
    "input_tokens", "cache_read_tokens", "cache_write_5m_tokens",
    "cache_write_1h_tokens", "output_tokens", "reasoning_tokens",
    "web_search_requests", "usage_source", "cost_usd", "cost_status", "price_ref",
    "started_at", "ended_at", "duration_ms", "request_id", "response_id",
)
#: Entries kept in each per-session or per-model cache (as the Python reader's
#: ``events.CONTEXT_CACHE_SIZE`` and ``bulk_pricing.QUOTE_CACHE_SIZE``); past it
#: the cache starts over.
cdef Py_ssize_t CACHE_SIZE = 4096
CACHE_SIZE_LIMIT = CACHE_SIZE
cdef Py_ssize_t QUOTE_CACHE_SIZE = 8192
#: ``claude_code.MAX_DEPTH``: a line nested deeper is not read.
cdef Py_ssize_t MAX_DEPTH = 1024
cdef const char *HEX = b"0123456789abcdef"


cdef class Response:
    """The lines of one response so far (``claude_code._Response`` for a backfill,
    whose ``touched`` time is never read)."""

    cdef public str message_id
    cdef public object request_id
    cdef public object output
    cdef public object record
    cdef public str first_at
    cdef public str last_at
    cdef public bint canonical
    cdef public Response sibling


cdef inline bint is_canonical(str stamp):
    """``claude_code.is_canonical``."""
    if len(stamp) != 24:
        return False
    return (
        stamp[23] == "Z" and stamp[19] == "." and stamp[10] == "T"
        and stamp[4] == "-" and stamp[7] == "-"
        and stamp[13] == ":" and stamp[16] == ":"
    )


cdef inline object count_of(object value):
    """``claude_code._count``."""
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return None


cdef inline bint c_count(object value, int64_t *out) except -1:
    """``count_of`` without making an int: whether ``value`` is a count (then
    stored in ``out``)."""
    cdef int overflow = 0
    cdef long long number
    if type(value) is not int:
        return False
    number = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow != 0 or number < 0:
        return False
    out[0] = number
    return True


cdef inline object text_of(object value):
    if type(value) is str and value:
        return value
    return None


cdef class Buffer:
    """A growing byte buffer for one event line."""

    cdef char *data
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity

    def __cinit__(self):
        self.capacity = 4096
        self.data = <char *>malloc(self.capacity)
        if self.data == NULL:
            raise MemoryError()
        self.size = 0

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, Py_ssize_t more) except -1:
        cdef Py_ssize_t want = self.size + more
        cdef char *grown
        if want <= self.capacity:
            return 0
        while self.capacity < want:
            self.capacity *= 2
        grown = <char *>realloc(self.data, self.capacity)
        if grown == NULL:
            raise MemoryError()
        self.data = grown
        return 0

    cdef int write(self, const char *text, Py_ssize_t length) except -1:
        self.reserve(length)
        memcpy(self.data + self.size, text, length)
        self.size += length
        return 0

    cdef int write_bytes(self, bytes text) except -1:
        return self.write(text, len(text))

    cdef int write_int(self, int64_t value) except -1:
        cdef char digits[24]
        cdef int at = 24
        cdef uint64_t rest
        if value < 0:
            self.write("-", 1)
            rest = <uint64_t>(-(value + 1)) + 1
        else:
            rest = <uint64_t>value
        if rest == 0:
            return self.write("0", 1)
        while rest:
            at -= 1
            digits[at] = <char>(48 + rest % 10)
            rest //= 10
        return self.write(digits + at, 24 - at)

    cdef int write_text(self, object value) except -1:
        """A JSON string as orjson writes it (UTF-8 as is; quote, backslash and
        control characters escaped), or null. Raises UnicodeEncodeError for a lone
        surrogate, which sends the call the slow way."""
        cdef Py_ssize_t length, i
        cdef const char *utf8
        cdef unsigned char c
        if value is None:
            return self.write("null", 4)
        utf8 = PyUnicode_AsUTF8AndSize(value, &length)
        self.reserve(length * 6 + 2)
        self.data[self.size] = 34
        self.size += 1
        for i in range(length):
            c = <unsigned char>utf8[i]
            if c >= 32 and c != 34 and c != 92:
                self.data[self.size] = <char>c
                self.size += 1
            elif c == 34 or c == 92:
                self.data[self.size] = 92
                self.data[self.size + 1] = <char>c
                self.size += 2
            elif c == 10:
                memcpy(self.data + self.size, b"\\n", 2)
                self.size += 2
            elif c == 13:
                memcpy(self.data + self.size, b"\\r", 2)
                self.size += 2
            elif c == 9:
                memcpy(self.data + self.size, b"\\t", 2)
                self.size += 2
            elif c == 8:
                memcpy(self.data + self.size, b"\\b", 2)
                self.size += 2
            elif c == 12:
                memcpy(self.data + self.size, b"\\f", 2)
                self.size += 2
            else:
                memcpy(self.data + self.size, b"\\u00", 4)
                self.data[self.size + 4] = HEX[c >> 4]
                self.data[self.size + 5] = HEX[c & 15]
                self.size += 6
        self.data[self.size] = 34
        self.size += 1
        return 0

    cdef bytes take(self):
        cdef bytes out = PyBytes_FromStringAndSize(self.data, self.size)
        self.size = 0
        return out


cdef bint too_deep(const char *line, Py_ssize_t length) noexcept:
    """``claude_code.too_deep``: more than ``MAX_DEPTH`` nested arrays and
    objects. (Counting every bracket first is cheap and nearly always enough.)"""
    cdef Py_ssize_t i, opened = 0, depth = 0
    cdef unsigned char c
    cdef bint quoted = False
    for i in range(length):
        c = <unsigned char>line[i]
        opened += (c == 91) | (c == 123)
    if opened <= MAX_DEPTH:
        return False
    i = 0
    while i < length:
        c = <unsigned char>line[i]
        if quoted:
            if c == 92:
                i += 1
            elif c == 34:
                quoted = False
        elif c == 34:
            quoted = True
        elif c == 91 or c == 123:
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif c == 93 or c == 125:
            depth -= 1
        i += 1
    return False


cdef inline int digit(const char *text, int at) noexcept:
    cdef char c = text[at]
    if c < 48 or c > 57:
        return -1
    return c - 48


cdef int64_t days_from_civil(int64_t year, int64_t month, int64_t day) noexcept:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    cdef int64_t era, yoe, doy, doe
    if month <= 2:
        year -= 1
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline bint is_leap(int64_t year) noexcept:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


cdef bint surely_time(str stamp):
    """Whether a canonical stamp is certainly a time ``datetime.fromisoformat``
    takes (ASCII digits, every field in range). False means "ask Python"."""
    cdef int64_t value
    if not micros_of(stamp, &value):
        return False
    cdef Py_ssize_t length
    cdef const char *t = PyUnicode_AsUTF8AndSize(stamp, &length)
    cdef int year = ((t[0] - 48) * 10 + t[1] - 48) * 100 + (t[2] - 48) * 10 + t[3] - 48
    cdef int month = (t[5] - 48) * 10 + t[6] - 48
    cdef int day = (t[8] - 48) * 10 + t[9] - 48
    cdef int hour = (t[11] - 48) * 10 + t[12] - 48
    cdef int minute = (t[14] - 48) * 10 + t[15] - 48
    cdef int second = (t[17] - 48) * 10 + t[18] - 48
    cdef int days
    if year < 1 or month < 1 or month > 12 or day < 1:
        return False
    if hour > 23 or minute > 59 or second > 59:
        return False
    if month == 2:
        days = 29 if is_leap(year) else 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        days = 30
    else:
        days = 31
    return day <= days


cdef bint micros_of(str stamp, int64_t *out):
    """Microseconds since the epoch of a canonical stamp (already known to be a
    valid time); False if its digits are not ASCII digits."""
    cdef Py_ssize_t length
    cdef const char *t
    cdef int i, j
    cdef int64_t parts[7]
    cdef int starts[7]
    cdef int widths[7]
    cdef int64_t value
    cdef int d
    if not stamp.isascii():
        return False
    t = PyUnicode_AsUTF8AndSize(stamp, &length)
    if length != 24:
        return False
    starts[:] = [0, 5, 8, 11, 14, 17, 20]
    widths[:] = [4, 2, 2, 2, 2, 2, 3]
    for i in range(7):
        value = 0
        for j in range(widths[i]):
            d = digit(t, starts[i] + j)
            if d < 0:
                return False
            value = value * 10 + d
        parts[i] = value
    out[0] = (
        ((days_from_civil(parts[0], parts[1], parts[2]) * 24 + parts[3]) * 60
         + parts[4]) * 60 + parts[5]
    ) * 1000000 + parts[6] * 1000
    return True


cdef class DayPlan:
    """A model's rate card for one UTC day, as integers: every rate times
    ``10**scale`` (``EventPlans.day_plan`` builds it)."""

    cdef public object card
    cdef public tuple starts
    cdef public tuple per_call
    cdef public tuple per_unit
    cdef public int scale
    cdef public double divisor
    cdef public object int_divisor

    def __init__(self, card, starts, per_call, per_unit, scale):
        self.card = card
        self.starts = tuple(starts)
        self.per_call = tuple(per_call)
        self.per_unit = tuple(tuple(rates) for rates in per_unit)
        self.scale = scale
        self.divisor = float(10**scale)
        self.int_divisor = 10 ** scale


cdef class TranscriptEvents:
    """Reads Claude Code transcripts of one backfill into usage event lines.

    ``plans`` (an ``EventPlans``) supplies what is made once per session or per
    model and day, and makes the event of any response this module leaves to
    Python; ``fmt`` (the ``ClaudeCodeFormat``) claims responses across files and
    reads lines msgspec will not take. One file at a time: ``feed`` its lines,
    ``feed_tail`` its unterminated last line, then ``finish`` gives its events as
    ``ImportedEvent``\ s.
    """

    cdef object plans
    cdef object stats
    cdef object decode
    cdef object read_line
    cdef object is_time
    cdef object earlier
    cdef object claim
    cdef object sha1
    cdef object dumps_float
    cdef object make_line
    cdef object make_imported
    cdef bytes namespace
    cdef dict pending
    cdef dict fragments
    cdef dict day_plans
    cdef dict refs
    cdef dict providers
    cdef Buffer out
    cdef Buffer name
    # Counts for the file being read, added to ``stats`` by ``finish``.
    cdef public Py_ssize_t lines
    cdef public Py_ssize_t invalid_lines
    cdef Py_ssize_t merged_lines
    cdef Py_ssize_t unusable_lines
    cdef Py_ssize_t synthetic_lines
    cdef Py_ssize_t cross_file_duplicates
    cdef Py_ssize_t calls
    cdef public Py_ssize_t slow_calls

    def __init__(self, fmt, plans, decode, read_line, is_time, earlier, sha1,
                 dumps_float, make_line, make_imported, bytes namespace):
        self.plans = plans
        self.stats = fmt.stats
        self.decode = decode
        self.read_line = read_line
        self.is_time = is_time
        self.earlier = earlier
        self.claim = fmt.claim
        self.sha1 = sha1
        self.dumps_float = dumps_float
        self.make_line = make_line
        self.make_imported = make_imported
        self.namespace = namespace
        self.pending = {}
        self.fragments = {}
        self.day_plans = {}
        self.refs = {}
        self.providers = {}
        self.out = Buffer()
        self.name = Buffer()
        self.slow_calls = 0

    @property
    def cached(self):
        """How many entries each cache holds (each is bounded)."""
        return {
            "fragments": len(self.fragments),
            "day_plans": len(self.day_plans),
            "refs": len(self.refs),
            "providers": len(self.providers),
        }

    def feed(self, bytes data, Py_ssize_t start, Py_ssize_t end):
        """Complete lines ``data[start:end]`` (each ending with a newline); the
        number of response lines that were not JSON objects."""
        cdef const char *p = data
        cdef const char *line
        cdef const char *newline
        cdef const char *head
        cdef Py_ssize_t at = start, stop, length, limit
        cdef Py_ssize_t count = 0, invalid = 0
        cdef object record
        if start < 0 or end > len(data) or start > end or (
            end > start and p[end - 1] != 10
        ):
            raise ValueError("feed takes complete lines: data[start:end] ends with one")
        while at < end:
            newline = <const char *>memchr(p + at, 10, end - at)
            stop = newline - p
            line = p + at
            length = stop - at
            at = stop + 1
            count += 1
            limit = HEAD_BYTES if length > HEAD_BYTES else length
            head = <const char *>memmem(line, limit, MESSAGE_MARK, 10)
            if head != NULL and head > line:
                if memmem(line, head - line, USER_MARK, 13) != NULL:
                    continue
            if memmem(line, length, USAGE_MARK, 7) == NULL:
                continue
            if length > 2 * MAX_DEPTH and too_deep(line, length):
                invalid += 1
                continue
            try:
                record = self.decode(
                    PyMemoryView_FromMemory(<char *>line, length, PyBUF_READ)
                )
            except (msgspec.MsgspecError, RecursionError):
                record = self.read_line(PyBytes_FromStringAndSize(line, length))
            if record is None:
                invalid += 1
            else:
                self.take(record)
        self.lines += count
        self.invalid_lines += invalid
        return invalid

    def feed_tail(self, bytes tail):
        """``TranscriptFile.feed_tail``'s reading; the caller counts and warns."""
        record = self.read_line(tail)
        if record is None:
            return False
        self.lines += 1
        self.take(record)
        return True

    cdef take(self, object record):
        """``TranscriptFile._take``."""
        cdef str at
        cdef bint canonical
        cdef Response first, response, added
        message = record.message
        if record.type != "assistant" or message is None:
            return
        usage = message.usage
        if type(usage) is not dict:
            return
        message_id = message.id
        stamp = record.timestamp
        if type(stamp) is not str or not message_id or type(message_id) is not str:
            self.unusable_lines += 1
            return
        at = stamp
        canonical = is_canonical(at)
        if not (canonical and surely_time(at)) and not self.is_time(at, canonical):
            self.unusable_lines += 1
            return
        request_id = record.request_id
        if type(request_id) is not str or not request_id:
            request_id = None
        output = count_of((<dict>usage).get("output_tokens"))
        rank = -1 if output is None else output

        found = self.pending.get(message_id)
        response = None
        if found is not None:
            first = <Response>found
            response = first
            while response is not None:
                if (
                    response.request_id == request_id
                    or response.request_id is None
                    or request_id is None
                ):
                    break
                response = response.sibling
        if response is None:
            added = Response.__new__(Response)
            added.message_id = message_id
            added.request_id = request_id
            added.output = rank
            added.record = record
            added.first_at = at
            added.last_at = at
            added.canonical = canonical
            added.sibling = None
            if found is None:
                self.pending[message_id] = added
            else:
                added.sibling = first.sibling
                first.sibling = added
            return

        self.merged_lines += 1
        if canonical and response.canonical:
            if at < response.first_at:
                response.first_at = at
            elif at > response.last_at:
                response.last_at = at
        else:
            response.canonical = False
            if self.earlier(at, response.first_at):
                response.first_at = at
            if self.earlier(response.last_at, at):
                response.last_at = at
        if response.request_id is None:
            response.request_id = request_id
        if rank >= response.output:
            response.output = rank
            response.record = record

    def finish(self):
        """The file's events, in ``TranscriptFile.settle(final=True)`` order, in
        lists of a few (a generator); once they are all out, adds the file's counts
        to the import's."""
        cdef list events = []
        cdef Response response
        pending = self.pending
        self.pending = {}
        for found in pending.values():
            response = <Response>found
            while response is not None:
                self.emit(response, events)
                response = response.sibling
            if len(events) >= 64:
                yield events
                events = []
        if events:
            yield events
        stats = self.stats
        stats.lines += self.lines
        stats.invalid_lines += self.invalid_lines
        stats.merged_lines += self.merged_lines
        stats.unusable_lines += self.unusable_lines
        stats.synthetic_lines += self.synthetic_lines
        stats.cross_file_duplicates += self.cross_file_duplicates
        stats.calls += self.calls
        self.lines = self.invalid_lines = self.merged_lines = 0
        self.unusable_lines = self.synthetic_lines = 0
        self.cross_file_duplicates = self.calls = 0

    cdef emit(self, Response response, list events):
        """``TranscriptFile._emit`` and ``EventFactory.build_line``."""
        record = response.record
        message = record.message
        if message.model == SYNTHETIC_MODEL or record.is_api_error_message:
            self.synthetic_lines += 1
            return
        if not self.claim(response.message_id, response.request_id):
            self.cross_file_duplicates += 1
            return
        if not response.canonical:
            built = self.plans.slow_event(record, response)
            if built is None:  # a time-shaped stamp that is no time
                self.unusable_lines += 1
                return
            self.calls += 1
            self.slow_calls += 1
            events.append(built)
            return
        built = self.fast_event(record, response)
        if built is None:
            self.slow_calls += 1
            built = self.plans.slow_event(record, response)
            if built is None:
                self.unusable_lines += 1
                return
        self.calls += 1
        events.append(built)

    cdef object fast_event(self, object record, Response response):
        """The event line, or None to leave the call to Python."""
        cdef int64_t started, ended, amount, rate
        cdef int64_t counts[7]
        cdef int64_t amounts[7]
        cdef bint present[7]
        cdef int64_t write = 0, write_5m = 0, write_1h = 0
        cdef bint has_write, has_5m = False, has_1h = False
        cdef int128 cost, term, limit
        cdef int128 exact = 9007199254740992  # 2**53
        cdef DayPlan plan
        cdef int index, i, used, bit
        cdef double seconds
        cdef tuple frags, rates
        message = record.message
        usage = <dict>message.usage
        if usage.get("iterations"):
            return None
        model = text_of(message.model)
        if model is None:
            return None
        if not micros_of(response.first_at, &started) or not micros_of(
            response.last_at, &ended
        ):
            return None
        if started < 0 or ended < 0:
            return None

        # transcript_counts, the one-step shape (None is "not present").
        has_write = c_count(usage.get("cache_creation_input_tokens"), &write)
        split = usage.get("cache_creation")
        if type(split) is dict:
            has_5m = c_count(
                (<dict>split).get("ephemeral_5m_input_tokens"), &write_5m
            )
            has_1h = c_count(
                (<dict>split).get("ephemeral_1h_input_tokens"), &write_1h
            )
        if not has_5m and not has_1h:
            has_5m, write_5m = has_write, write
        elif has_write and (
            <int128>(write_5m if has_5m else 0) + (write_1h if has_1h else 0) != write
        ):
            write_1h = min(write_1h if has_1h else 0, write)
            write_5m = write - write_1h
            has_5m = has_1h = True
        details = usage.get("output_tokens_details")
        tools = usage.get("server_tool_use")
        present[0] = c_count(usage.get("input_tokens"), &counts[0])
        present[1] = c_count(usage.get("cache_read_input_tokens"), &counts[1])
        present[2], counts[2] = has_5m, write_5m
        present[3], counts[3] = has_1h, write_1h
        present[4] = c_count(usage.get("output_tokens"), &counts[4])
        present[5] = type(details) is dict and c_count(
            (<dict>details).get("thinking_tokens"), &counts[5]
        )
        present[6] = type(tools) is dict and c_count(
            (<dict>tools).get("web_search_requests"), &counts[6]
        )
        empty = True
        for i in range(7):
            if not present[i]:
                counts[i] = 0
            else:
                empty = False
                if counts[i] >= MAX_FAST_COUNT:
                    return None
            amounts[i] = counts[i]
        if amounts[5] > amounts[4]:  # reasoning above output: the pricer warns
            return None
        tier = text_of(usage.get("service_tier"))
        region = None
        if usage.get("inference_geo") is not None:
            region = self.plans.region_of(usage)
        provider = self.providers.get(model)
        if provider is None:
            if len(self.providers) >= CACHE_SIZE:
                self.providers.clear()
            provider = self.providers[model] = self.plans.provider_of(model)

        cost_text = b"null"
        status = b'"unpriced"'
        ref = None
        if not empty:
            day = started // 86400000000
            plan_key = (provider, model, tier, region, day)
            found = self.day_plans.get(plan_key, self)
            if found is self:
                found = self.plans.day_plan(provider, model, tier, region, day)
                if len(self.day_plans) + len(self.refs) >= QUOTE_CACHE_SIZE:
                    self.day_plans.clear()
                    self.refs.clear()  # keyed by plan: plans may now be freed
                self.day_plans[plan_key] = found
            if found is None:
                return None
            plan = <DayPlan>found
            # The band, then the cost in units of 10**-scale dollars.
            amount = amounts[0] + amounts[1] + amounts[2] + amounts[3]
            index = 0
            for start in plan.starts:
                if amount > start:
                    index += 1
            rates = <tuple>plan.per_unit[index]
            limit = 100000000000000
            limit = limit * limit  # 10**28: Decimal's precision
            cost = <int64_t>plan.per_call[index]
            if cost >= limit or -cost >= limit:
                return None
            amounts[4] -= amounts[5]  # output less reasoning, then reasoning
            used = 0
            bit = 1
            for i in range(7):
                if amounts[i]:
                    rate = <int64_t>rates[i]
                    term = <int128>rate * amounts[i]
                    if term >= limit or -term >= limit:
                        return None
                    cost += term
                    if cost >= limit or -cost >= limit:
                        return None
                    used |= bit
                bit <<= 1
            ref_key = (plan, index, used)
            ref = self.refs.get(ref_key)
            if ref is None:
                ref = self.plans.price_ref(plan.card, index, tuple(
                    [amounts[i] for i in range(7)]
                ))
                self.refs[ref_key] = ref
            if -exact < cost < exact and plan.scale <= 22:
                seconds = <double>cost / plan.divisor
                cost_text = self.dumps_float(seconds)
            else:
                cost_text = self.dumps_float(
                    _big(cost) / plan.int_divisor
                )
            status = b'"priced"'

        branch = text_of(record.git_branch)
        if branch == UNKNOWN_BRANCH:
            branch = None
        session = text_of(record.session_id)
        version = text_of(record.version)
        cwd = text_of(record.cwd)
        template_key = (provider, version, session, cwd, branch)
        frags = self.fragments.get(template_key)
        if frags is None:
            frags = self.plans.fragments(record, response)
            if len(self.fragments) >= CACHE_SIZE:
                self.fragments.clear()
            self.fragments[template_key] = frags

        request_id = response.request_id
        try:
            event_id = self.event_id(response.message_id, request_id)
            out = self.out
            out.write_bytes(frags[0])
            out.write_bytes(event_id)
            out.write_bytes(frags[1])
            out.write_text(model)
            out.write_bytes(frags[2])
            out.write_text(region)
            for i in range(7):
                out.write_bytes(frags[3 + i])
                if present[i]:
                    out.write_int(counts[i])
                else:
                    out.write(b"null", 4)
            out.write_bytes(frags[10])
            if empty:
                out.write(b'"absent"', 8)
            else:
                out.write(b'"provider"', 10)
            out.write_bytes(frags[11])
            out.write_bytes(cost_text)
            out.write_bytes(frags[12])
            out.write_bytes(status)
            out.write_bytes(frags[13])
            out.write_text(ref)
            out.write_bytes(frags[14])
            out.write_text(response.first_at)
            out.write_bytes(frags[15])
            out.write_text(response.last_at)
            out.write_bytes(frags[16])
            if ended < started:
                out.write(b"null", 4)
            else:
                out.write_int(<int64_t>nearbyint(
                    (<double>ended / 1e6 - <double>started / 1e6) * 1000.0
                ))
            out.write_bytes(frags[17])
            out.write_text(request_id)
            out.write_bytes(frags[18])
            out.write_text(response.message_id)
            out.write_bytes(frags[19])
        except UnicodeEncodeError:
            self.out.size = 0
            return None
        line = out.take()
        # The two named tuples, made as their own ``_make`` does.
        return tuple.__new__(
            self.make_imported,
            (
                tuple.__new__(
                    self.make_line, (event_id[1:37].decode("ascii"), line)
                ),
                response.message_id,
                request_id,
            ),
        )

    cdef bytes event_id(self, str message_id, object request_id):
        """``events.fast_event_id("claude_code_log", (message id, request id))``,
        quoted."""
        cdef Buffer name = self.name
        cdef bytes digest
        cdef const unsigned char *d
        cdef char text[38]
        cdef int i, at
        name.size = 0
        name.write_bytes(self.namespace)
        name.write("claude_code_log|", 16)
        self.id_part(message_id)
        name.write("|", 1)
        if request_id is not None:
            self.id_part(request_id)
        digest = self.sha1(PyBytes_FromStringAndSize(name.data, name.size)).digest()
        d = digest
        text[0] = 34
        at = 1
        for i in range(16):
            if i == 4 or i == 6 or i == 8 or i == 10:
                text[at] = 45
                at += 1
            if i == 6:
                c = (d[i] & 0x0F) | 0x50
            elif i == 8:
                c = (d[i] & 0x3F) | 0x80
            else:
                c = d[i]
            text[at] = HEX[c >> 4]
            text[at + 1] = HEX[c & 15]
            at += 2
        text[at] = 34
        return PyBytes_FromStringAndSize(text, 38)

    cdef int id_part(self, str part) except -1:
        """``assemble.id_part``: ``|`` and backslash escaped with a backslash."""
        cdef Py_ssize_t length, i
        cdef const char *utf8 = PyUnicode_AsUTF8AndSize(part, &length)
        cdef Buffer name = self.name
        name.reserve(length * 2)
        for i in range(length):
            if utf8[i] == 124 or utf8[i] == 92:
                name.data[name.size] = 92
                name.size += 1
            name.data[name.size] = utf8[i]
            name.size += 1
        return 0


cdef object _big(int128 value):
    """A 128-bit integer as a Python int."""
    cdef bint negative = value < 0
    cdef uint128 magnitude = <uint128>(-value if negative else value)
    cdef uint64_t high = <uint64_t>(magnitude >> 64)
    cdef uint64_t low = <uint64_t>magnitude
    result = (int(high) << 64) | int(low)
    return -result if negative else result
