"""The client (rust/src/client.rs, python/s3torch/_client.py): construction from configuration,
head/delete/copy, keys with unusual characters, pickling, and the GIL."""

from __future__ import annotations

import copy
import pickle
import socket
import threading
import time
from multiprocessing.reduction import ForkingPickler
from typing import Any

import pytest

import s3torch
from s3torch import _core
from s3torch._settings import ClientSettings
from support.server import put


def test_zero_config_client_uses_the_aws_environment(s3_env: Any, bucket: str) -> None:
    client = s3torch.S3Client()
    assert client.region == s3_env.region
    assert client.endpoint == s3_env.endpoint
    put(client, bucket, "k", b"from env")
    assert client.get_object_stream(bucket, "k").read() == b"from env"


def test_user_agent_names_s3torch_and_the_caller(s3_env: Any) -> None:
    client = s3torch.S3Client(user_agent="trainer/2")
    assert client.user_agent == f"trainer/2 s3torch/{s3torch.__version__}"


def test_head_delete_copy(client: s3torch.S3Client, bucket: str) -> None:
    put(client, bucket, "src", b"payload")
    client.copy_object(bucket, "src", bucket, "dst")
    assert client.get_object_stream(bucket, "dst").read() == b"payload"
    head = client.head_object(bucket, "dst")
    assert head.size == 7 and head.etag.strip('"')
    client.delete_object(bucket, "src")
    with pytest.raises(s3torch.S3NoSuchKeyError):
        client.head_object(bucket, "src")
    client.delete_object(bucket, "src")  # deleting a missing key succeeds, as in S3


# Not "a//b": SeaweedFS stores keys as file paths and collapses "//" (boto3 sees the same).
@pytest.mark.parametrize(
    "key",
    ["with space.bin", "ünïcødé/ключ/鍵.pt", "percent%20and+plus", "~!@$&*()=;,'", "trailing.dot."],
)
def test_keys_with_unusual_characters_round_trip_verbatim(
    client: s3torch.S3Client, bucket: str, key: str
) -> None:
    put(client, bucket, key, key.encode())
    assert client.get_object_stream(bucket, key).read() == key.encode()
    assert client.head_object(bucket, key).size == len(key.encode())
    listed = [info.key for page in client.list_objects(bucket) for info in page.object_info]
    assert listed == [key]
    client.copy_object(bucket, key, bucket, key + ".copy")
    assert client.get_object_stream(bucket, key + ".copy").read() == key.encode()


def test_empty_bucket_or_key_is_a_value_error(client: s3torch.S3Client, bucket: str) -> None:
    with pytest.raises(ValueError, match="key must not be empty"):
        client.get_object_stream(bucket, "")
    with pytest.raises(ValueError, match="bucket"):
        client.put_object_stream("", "k")
    with pytest.raises(ValueError, match="1024 bytes"):
        client.head_object(bucket, "k" * 1025)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"part_size": 1024}, "part_size"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 65}, "max_attempts"),
        ({"throughput_target_gbps": float("inf")}, "throughput_target_gbps"),
        ({"read_window": 10}, "read_window"),
        ({"access_key_id": "AKID"}, "secret_access_key"),
    ],
)
def test_native_client_rejects_bad_settings_naming_them(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        _core.S3Client(ClientSettings("us-east-1", **kwargs))


def test_an_unparseable_endpoint_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        s3torch.S3Client("us-east-1", endpoint="not a url")


def test_a_missing_ca_bundle_is_a_value_error(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="ca_bundle"):
        _core.S3Client(ClientSettings("us-east-1", ca_bundle=str(tmp_path / "missing.pem")))


def test_client_sent_to_a_child_process_works_and_keeps_its_settings(
    client: s3torch.S3Client, bucket: str
) -> None:
    put(client, bucket, "k", b"pickled")
    # multiprocessing's pickler (DataLoader workers, spawn) keeps static credentials.
    clone = pickle.loads(ForkingPickler.dumps(client))
    assert (clone.region, clone.endpoint, clone.s3client_config) == (
        client.region,
        client.endpoint,
        client.s3client_config,
    )
    assert clone.get_object_stream(bucket, "k").read() == b"pickled"
    assert copy.deepcopy(client).get_object_stream(bucket, "k").read() == b"pickled"


def test_plain_pickles_leave_static_credentials_out(client: s3torch.S3Client) -> None:
    secret = client.s3client_config.secret_access_key
    assert secret
    data = pickle.dumps(client)
    assert secret.encode() not in data
    config = pickle.loads(pickle.dumps(client.s3client_config))
    assert config.credentials_withheld and config.secret_access_key is None
    with pytest.raises(ValueError, match="unpickled without its static credentials"):
        pickle.loads(data)
    # A config without static credentials pickles whole.
    plain = s3torch.S3ClientConfig(max_attempts=3)
    assert pickle.loads(pickle.dumps(plain)) == plain
    assert not pickle.loads(pickle.dumps(plain)).credentials_withheld


def test_the_native_client_is_never_pickled(client: s3torch.S3Client) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(client._native)


def test_max_attempts_from_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1000")
    with pytest.raises(ValueError, match="AWS_MAX_ATTEMPTS"):
        _core.S3Client(ClientSettings("us-east-1"))


def test_the_largest_max_attempts_builds_a_client() -> None:
    settings = ClientSettings("us-east-1", max_attempts=_core.MAX_ATTEMPTS)
    assert _core.S3Client(settings).max_attempts == 64


def test_restore_status_pickles() -> None:
    status = s3torch.RestoreStatus(False, 1_700_000_000)
    assert pickle.loads(pickle.dumps(status)) == status
    info = s3torch.ObjectInfo("k", '"e"', 1, 2, "GLACIER", status)
    assert pickle.loads(pickle.dumps(info)) == info


def test_object_results_pickle(client: s3torch.S3Client, bucket: str) -> None:
    put(client, bucket, "k", b"12")
    head = client.head_object(bucket, "k")
    assert pickle.loads(pickle.dumps(head)) == head
    info = next(iter(client.list_objects(bucket))).object_info[0]
    assert pickle.loads(pickle.dumps(info)) == info


def test_blocking_reads_release_the_gil() -> None:
    """While one thread waits on a server that never answers, other Python threads run."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    client = _core.S3Client(
        ClientSettings(
            "us-east-1",
            endpoint=f"http://127.0.0.1:{port}",
            force_path_style=True,
            max_attempts=1,
            access_key_id="a",
            secret_access_key="b",
        )
    )
    outcome: list[BaseException | bytes] = []

    def blocked_read() -> None:
        try:
            outcome.append(client.get_object("bucket", "key").read())
        except BaseException as error:
            outcome.append(error)

    reader = threading.Thread(target=blocked_read, daemon=True)
    reader.start()
    time.sleep(0.3)
    assert reader.is_alive(), "the read should be waiting on the silent server"
    counter = 0
    until = time.monotonic() + 0.3
    while time.monotonic() < until:
        counter += 1
    assert counter > 10_000, "the main thread could not run while the read waited"
    for connection in accepted:
        connection.close()
    silent.close()
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert isinstance(outcome[0], s3torch.S3Exception)


def test_environment_keys_win_over_a_profile_named_by_aws_profile(
    s3_server: Any, bucket: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[other]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "other")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    if s3_server.session_token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", s3_server.session_token)
    base = {"force_path_style": True}
    client = s3torch.S3Client(
        s3_server.region,
        endpoint=s3_server.endpoint,
        s3client_config=s3torch.S3ClientConfig(**base),
    )
    put(client, bucket, "env-wins", b"ok")
    assert client.get_object_stream(bucket, "env-wins").read() == b"ok"
    # A profile named in the config wins over the environment, as in boto3.
    named = s3torch.S3Client(
        s3_server.region,
        endpoint=s3_server.endpoint,
        s3client_config=s3torch.S3ClientConfig(profile="other", **base),
    )
    with pytest.raises(PermissionError):  # a HEAD answer has no body to say which 403 it is
        named.head_object(bucket, "env-wins")
