"""fsspec's own abstract test suite (``fsspec.tests.abstract``) against the local S3 server.

The suite checks ``cp``/``get``/``put``/``open``/``pipe`` the way every fsspec filesystem must
behave, on trees of files it builds itself. Each test gets a fresh bucket as its root.
"""

from __future__ import annotations

import posixpath
from typing import Any

import pytest

fsspec_abstract = pytest.importorskip("fsspec.tests.abstract")

from s3torch.fsspec import S3TorchFileSystem  # noqa: E402


class S3TorchFixtures(fsspec_abstract.AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, client: Any) -> S3TorchFileSystem:
        return S3TorchFileSystem(client=client)

    @pytest.fixture
    def fs_path(self, bucket: str) -> str:
        return bucket

    @pytest.fixture
    def fs_join(self) -> Any:
        return posixpath.join

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        # S3 has no directories: one exists while some key lies under its prefix.
        return False


class TestS3TorchCopy(fsspec_abstract.AbstractCopyTests, S3TorchFixtures):  # type: ignore[misc]
    pass


class TestS3TorchGet(fsspec_abstract.AbstractGetTests, S3TorchFixtures):  # type: ignore[misc]
    pass


class TestS3TorchPut(fsspec_abstract.AbstractPutTests, S3TorchFixtures):  # type: ignore[misc]
    pass


class TestS3TorchOpen(fsspec_abstract.AbstractOpenTests, S3TorchFixtures):  # type: ignore[misc]
    pass


class TestS3TorchPipe(fsspec_abstract.AbstractPipeTests, S3TorchFixtures):  # type: ignore[misc]
    pass
