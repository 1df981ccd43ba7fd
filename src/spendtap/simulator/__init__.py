"""A provider simulator: a fake api.anthropic.com and api.openai.com on loopback.

Used by the tests and by ``spendtap demo``. See ``app`` for the routes, ``transport``
for the test scenarios and ``ledger`` for the record of every call.
"""

from spendtap.simulator.certs import TestPKI, make_test_pki
from spendtap.simulator.ledger import LedgerEntry, read_ledger
from spendtap.simulator.server import RunningSimulator, start_simulator

__all__ = [
    "LedgerEntry",
    "RunningSimulator",
    "TestPKI",
    "make_test_pki",
    "read_ledger",
    "start_simulator",
]
