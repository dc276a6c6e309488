"""The `fault_proxy` fixture: a FaultProxy in front of the session's moto server.

conftest.py imports it and defines `moto` (a session-scoped `tests.servers.MotoServer`). The fixture
does not reset moto: whichever fixture creates the tables owns the reset, so the order in which
pytest sets fixtures up can never wipe tables a test has just made.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fault_proxy import FaultProxy
from tests.servers import MotoServer

__all__ = ["fault_proxy"]


@pytest.fixture
def fault_proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    """A fresh proxy (no rules, zero counts) for one test; a failed hook fails the test."""
    with FaultProxy(moto.url) as proxy:
        yield proxy
