"""Tests for s3torch._uri: parsing, building and validating S3 URIs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3torch._uri import (
    MAX_KEY_BYTES,
    make_s3_uri,
    parse_s3_uri,
    validate_bucket_name,
    validate_key,
)

_IPV4 = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")

standard_buckets = st.from_regex(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", fullmatch=True).filter(
    lambda b: not _IPV4.fullmatch(b)
)

legacy_buckets = st.one_of(
    st.from_regex(r"[A-Z]", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,253}[A-Za-z0-9]", fullmatch=True),
).filter(lambda b: any(c == "_" or "A" <= c <= "Z" for c in b))

buckets = st.one_of(standard_buckets, legacy_buckets)

# Any Unicode text except NUL and lone surrogates, within 1024 UTF-8 bytes.
keys = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    max_size=300,
).filter(lambda k: len(k.encode("utf-8")) <= MAX_KEY_BYTES)


VALID = [
    ("s3://bucket/a/b.pt", ("bucket", "a/b.pt")),
    ("S3://bucket/a/b.pt", ("bucket", "a/b.pt")),
    ("s3://bucket", ("bucket", "")),
    ("s3://bucket/", ("bucket", "")),
    ("s3://bucket//", ("bucket", "/")),
    ("s3://bucket//a//b/", ("bucket", "/a//b/")),
    ("s3://bucket/with space.txt", ("bucket", "with space.txt")),
    ("s3://bucket/a%20b+c", ("bucket", "a%20b+c")),
    ("s3://bucket/ünïcødé/日本語.bin", ("bucket", "ünïcødé/日本語.bin")),
    ("s3://bucket/a?b#c", ("bucket", "a?b#c")),
    ("s3://bucket/" + "k" * 1024, ("bucket", "k" * 1024)),
    ("s3://bucket/" + "é" * 512, ("bucket", "é" * 512)),  # 1024 bytes
    ("s3://abc/x", ("abc", "x")),
    ("s3://" + "a" * 63 + "/x", ("a" * 63, "x")),
    ("s3://my.bucket-1/x", ("my.bucket-1", "x")),
    ("s3://1.2.3.4.5/x", ("1.2.3.4.5", "x")),
    ("s3://1.2.3/x", ("1.2.3", "x")),
    ("s3://1.2.3.a/x", ("1.2.3.a", "x")),
    # Legacy / S3-compatible names: uppercase or underscore, 1..255 chars.
    ("s3://My_Bucket/x", ("My_Bucket", "x")),
    ("s3://A", ("A", "")),
    ("s3://a_b", ("a_b", "")),
    ("s3://" + "B" * 255 + "/k", ("B" * 255, "k")),
    ("s3://Bucket." + "a" * 100, ("Bucket." + "a" * 100, "")),
]


@pytest.mark.parametrize(("uri", "expected"), VALID)
def test_parse_valid(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


INVALID = [
    ("http://x/y", "must start with 's3://'"),
    ("", "must start with 's3://'"),
    ("s3:/bucket/key", "must start with 's3://'"),
    ("s3:bucket", "must start with 's3://'"),
    (" s3://bucket/key", "must start with 's3://'"),
    ("bucket/key", "must start with 's3://'"),
    ("s4://bucket/key", "must start with 's3://'"),
    ("s3://", "bucket name is empty"),
    ("s3:///key", "bucket name is empty"),
    ("s3://ab/x", "3 to 63 characters"),
    ("s3://a", "3 to 63 characters"),
    ("s3://" + "a" * 64, "3 to 63 characters"),
    ("s3://" + "B" * 256, "at most 255 characters"),
    ("s3://-bucket/x", "start and end with a letter or digit"),
    ("s3://bucket-/x", "start and end with a letter or digit"),
    ("s3://.bucket/x", "start and end with a letter or digit"),
    ("s3://_Bucket/x", "start and end with a letter or digit"),
    ("s3://Bucket_/x", "start and end with a letter or digit"),
    ("s3://192.168.5.4/x", "IPv4"),
    ("s3://1.2.3.4", "IPv4"),
    ("s3://buck et/x", "may only contain"),
    ("s3://bücket/x", "may only contain"),
    ("s3://bucket:443/x", "may only contain"),
    ("s3://user@bucket/x", "may only contain"),
    ("s3://bucket?x", "may only contain"),
    ("s3://bucket\n/x", "may only contain"),
    ("s3://١٢٣/x", "may only contain"),  # non-ASCII digits
    ("s3://bucket/a\x00b", "NUL"),
    ("s3://bucket/\ud800", "UTF-8"),
    ("s3://bucket/" + "k" * 1025, "at most 1024 bytes"),
    ("s3://bucket/" + "é" * 512 + "k", "at most 1024 bytes"),
]


@pytest.mark.parametrize(("uri", "fragment"), INVALID)
def test_parse_invalid(uri: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_s3_uri(uri)
    message = str(info.value)
    assert message.startswith(f"invalid S3 URI {uri!r}: ")
    assert fragment in message


def test_parse_error_message_example() -> None:
    with pytest.raises(ValueError, match=r"^invalid S3 URI 'http://x/y': must start"):
        parse_s3_uri("http://x/y")


@pytest.mark.parametrize("value", [None, b"s3://bucket/key", 42, ["s3://b/k"]])
def test_parse_rejects_non_str(value: object) -> None:
    with pytest.raises(TypeError, match=type(value).__name__):
        parse_s3_uri(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bucket", "key", "uri"),
    [
        ("bucket", "a/b.pt", "s3://bucket/a/b.pt"),
        ("bucket", "", "s3://bucket/"),
        ("bucket", "/lead", "s3://bucket//lead"),
        ("My_Bucket", "a b%20", "s3://My_Bucket/a b%20"),
    ],
)
def test_make(bucket: str, key: str, uri: str) -> None:
    assert make_s3_uri(bucket, key) == uri
    assert parse_s3_uri(uri) == (bucket, key)


@pytest.mark.parametrize(
    ("bucket", "key", "error"),
    [
        ("", "k", ValueError),
        ("ab", "k", ValueError),
        ("bucket/sub", "k", ValueError),
        ("bucket", "a\x00", ValueError),
        ("bucket", "k" * 1025, ValueError),
        (b"bucket", "k", TypeError),
        ("bucket", None, TypeError),
    ],
)
def test_make_invalid(bucket: object, key: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        make_s3_uri(bucket, key)  # type: ignore[arg-type]


def test_validate_messages() -> None:
    with pytest.raises(ValueError, match=r"^invalid S3 bucket name 'ab': "):
        validate_bucket_name("ab")
    with pytest.raises(ValueError, match=r"^invalid S3 object key 'a\\x00': .*NUL"):
        validate_key("a\x00")
    with pytest.raises(TypeError, match="S3 bucket name must be a str, not int"):
        validate_bucket_name(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="S3 object key must be a str, not bytes"):
        validate_key(b"k")  # type: ignore[arg-type]
    validate_bucket_name("bucket")
    validate_key("")


@given(buckets, keys)
def test_round_trip(bucket: str, key: str) -> None:
    uri = make_s3_uri(bucket, key)
    assert parse_s3_uri(uri) == (bucket, key)
    assert parse_s3_uri("S3" + uri[2:]) == (bucket, key)


@given(buckets)
def test_bucket_only(bucket: str) -> None:
    assert parse_s3_uri("s3://" + bucket) == (bucket, "")


@given(st.one_of(st.text(), st.text().map(lambda s: "s3://" + s)))
def test_parse_raises_only_value_error(text: str) -> None:
    try:
        bucket, key = parse_s3_uri(text)
    except ValueError as error:
        assert repr(text) in str(error)
    else:
        # Whatever parses must rebuild into an equivalent URI.
        assert parse_s3_uri(make_s3_uri(bucket, key)) == (bucket, key)
        assert text[5:] in (f"{bucket}/{key}", bucket)


@given(st.from_regex(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", fullmatch=True))
def test_standard_names_only_ipv4_rejected(bucket: str) -> None:
    if _IPV4.fullmatch(bucket):
        with pytest.raises(ValueError, match="IPv4"):
            validate_bucket_name(bucket)
    else:
        validate_bucket_name(bucket)


@given(st.text(alphabet="abcdefgh0123456789.-_ABC", min_size=1, max_size=300))
def test_bucket_rule(bucket: str) -> None:
    """Cross-check the documented two-tier rule with an independent oracle."""
    legacy = any(c == "_" or c.isupper() for c in bucket)
    ends_ok = bucket[0].isalnum() and bucket[-1].isalnum()
    if legacy:
        expected = 1 <= len(bucket) <= 255 and ends_ok
    else:
        expected = 3 <= len(bucket) <= 63 and ends_ok and not _IPV4.fullmatch(bucket)
    try:
        validate_bucket_name(bucket)
    except ValueError:
        assert not expected
    else:
        assert expected


@given(st.from_type(object).filter(lambda v: not isinstance(v, str)))
def test_non_str_raise_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        parse_s3_uri(value)  # type: ignore[arg-type]


@given(keys)
def test_key_kept_verbatim(key: str) -> None:
    assert parse_s3_uri("s3://bucket/" + key) == ("bucket", key)
