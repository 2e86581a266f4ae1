"""Datasets of one process with the same settings share one client (building one costs tens of
milliseconds); other settings or another environment get their own."""

from __future__ import annotations

import pytest

import s3torch
from s3torch import _client
from s3torch._datasets.clients import dataset_client

ENDPOINT = "http://127.0.0.1:9"


def test_the_same_settings_give_the_same_client() -> None:
    config = s3torch.S3ClientConfig(part_size=16 * 1024 * 1024)
    first = dataset_client("us-east-1", ENDPOINT, config)
    again = dataset_client(
        "us-east-1", ENDPOINT, s3torch.S3ClientConfig(part_size=16 * 1024 * 1024)
    )
    assert again is first
    assert dataset_client("us-east-1", ENDPOINT, None) is not first
    assert dataset_client("eu-west-1", ENDPOINT, config) is not first
    assert dataset_client("us-east-1", "http://127.0.0.1:10", config) is not first


def test_datasets_built_alike_share_their_client() -> None:
    one = s3torch.S3MapDataset.from_objects(
        ["s3://bucket/key"], region="us-east-1", endpoint=ENDPOINT
    )
    two = s3torch.S3IterableDataset.from_objects(
        ["s3://bucket/key"], region="us-east-1", endpoint=ENDPOINT
    )
    assert one._objects.client() is two._objects.client()


def test_a_changed_aws_environment_gets_its_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    before = dataset_client("us-east-1", ENDPOINT, None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another-key")
    assert dataset_client("us-east-1", ENDPOINT, None) is not before
    monkeypatch.undo()
    assert dataset_client("us-east-1", ENDPOINT, None) is before


def test_only_the_most_recent_settings_are_kept() -> None:
    first = dataset_client("us-east-1", "http://127.0.0.1:1", None)
    for port in range(2, _client.SHARED_CLIENTS_MAX + 2):
        dataset_client("us-east-1", f"http://127.0.0.1:{port}", None)
    assert dataset_client("us-east-1", "http://127.0.0.1:1", None) is not first


def test_datasets_and_checkpoints_share_the_pool() -> None:
    assert dataset_client("us-east-1", ENDPOINT, None) is _client.shared_client(
        "us-east-1", ENDPOINT, None
    )


def test_bad_settings_are_reported_by_the_client() -> None:
    with pytest.raises(TypeError, match="s3client_config must be an S3ClientConfig"):
        dataset_client("us-east-1", ENDPOINT, {"part_size": 1})  # type: ignore[arg-type]
