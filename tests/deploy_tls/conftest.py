"""The TLS and Sentinel tests' shared part: one throwaway CA and the certificates it signs."""

from __future__ import annotations

import pytest

from tests.servers import HOST, TLSFiles, make_tls_files


@pytest.fixture(scope="package")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """The servers' certificate names 127.0.0.1 only: the same server reached as `localhost` is a name mismatch."""
    return make_tls_files(tmp_path_factory.mktemp("tls"), server_names=(HOST,))
