"""Fixtures for the transport tests: neonize imported once, quietly, before any test runs."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# Importing neonize runs `os.popen("uname -a").read()` without closing the pipe (neonize/utils/platform.py),
# which under filterwarnings=error turns into an unraisable ResourceWarning in whichever test runs first.
# The leak is neonize's, happens once per process, and is contained here rather than ignored project-wide.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ResourceWarning)
    import neonize.aioze.client  # noqa: F401

    gc.collect()

from tests.transport.whatsmeow_double import whatsmeow  # noqa: E402, F401 - the Go-core double, as a fixture
from tests.transport.whatsmeow_groups import whatsmeow_groups  # noqa: E402, F401 - its group functions too
from wagate.transport.neonize import NeonizeTransport  # noqa: E402


@pytest.fixture
async def neonize_transport(tmp_path: Path) -> AsyncIterator[NeonizeTransport]:
    """A NeonizeTransport on a real neonize client, recording its events in an `Events` sink."""
    from tests.transport.test_neonize import Events

    transport = NeonizeTransport(Events(), auth_dir=tmp_path / "auth", reconnect_backoff=(0.05, 0.1, 0.2))
    yield transport
    await transport.close()
