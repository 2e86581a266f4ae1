"""What the dataset tests share: the constructor arguments that reach the test server, and a
reader constructor that records when GETs start."""

from __future__ import annotations

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
