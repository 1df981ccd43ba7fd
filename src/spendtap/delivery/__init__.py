"""Delivery: the durable spool, the shipper that sends it to the engine, enrollment.

spool.py        the durable local queue (SQLite WAL), bounds, drop records
drops.py        drop records and the in-memory tally of dropped calls
shipper.py      batches to the engine: backoff, Retry-After, 413 split, 422 isolation
answers.py      reading the engine's answers
endpoint.py     engine URL rules and TLS verification
credentials.py  the device token file; where a collector ships
enrollment.py   enroll, issue codes, revoke and list devices (engine API client)
state.py        the shipper's state file
health.py       what ``spendtap status`` reads
lockfile.py     one collector per data directory

Submodules are imported where they are used: the package itself imports nothing,
so a command that only reads the spool does not load the HTTP client.
"""
