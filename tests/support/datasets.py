"""What the dataset tests share: the constructor arguments that reach the test server, a
get_dataset_objects function that lists only once, and a reader constructor that records when GETs
start. (A bucket filled for a module's tests is :func:`support.server.stocked_bucket`.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from s3torch import S3ClientConfig
from s3torch.s3reader import SequentialS3Reader

from .server import ServerInfo


def dataset_settings(server: ServerInfo, **config: Any) -> dict[str, Any]:
    """``region``, ``endpoint`` and ``s3client_config`` for a dataset's ``from_prefix`` /
    ``from_objects`` / ``from_manifest`` that reach *server* from any process: static
    credentials travel with the pickled dataset into DataLoader workers. *config* adds
    ``S3ClientConfig`` settings."""
    return {
        "region": server.region,
        "endpoint": server.endpoint,
        "s3client_config": S3ClientConfig(
            access_key_id=server.access_key,
            secret_access_key=server.secret_key,
            session_token=server.session_token,
            **config,
        ),
    }


class ListOnce:
    """A get_dataset_objects function (s3torchconnector's protocol) that may run only once in
    any process: copies made by pickling refuse to list."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket, self.prefix = bucket, prefix
        self.calls = 0

    def __call__(self, client: Any) -> Iterator[Any]:
        if self.calls:
            raise AssertionError("listed twice")
        self.calls += 1
        for page in client.list_objects(self.bucket, self.prefix):
            for info in page.object_info:
                yield _Entry(self.bucket, info.key, info)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "calls": 1}


class _Entry:
    """What a get_dataset_objects function yields for one object."""

    def __init__(self, bucket: str, key: str, object_info: Any) -> None:
        self.bucket, self.key, self.object_info = bucket, key, object_info


class GetRecorder:
    """A reader constructor that records, in ``events``, a ``("GET", key)`` when each object's
    GET starts; a test adds the transform that records its own events beside them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, bucket: str, key: str, get_object_info: Any, get_stream: Any) -> Any:
        def recording_get_stream(start: int | None = None, end: int | None = None) -> Any:
            self.events.append(("GET", key))
            return get_stream(start, end)

        return SequentialS3Reader(bucket, key, get_object_info, recording_get_stream)
