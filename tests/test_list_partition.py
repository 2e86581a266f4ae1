"""The partitioned listing gives exactly the keys, in exactly the order, of one sequential
listing: property tests over generated key sets against a lister with S3's semantics
(tests/support/fake_listing.py)."""

from __future__ import annotations

import io
import itertools
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3torch._datasets.listing import PartitionedListing, takes_start_after
from support.fake_listing import FakeLister

# Characters that make S3's order differ from naive ones: multi-byte (2, 3 and 4 bytes in
# UTF-8, astral above the BMP), the delimiter, space, characters on either side of "/", and
# the lowest ones.
SPICY = "ab/ -._0129zé€😀\U0010fffd\x01~"
key_text = st.text(alphabet=st.sampled_from(SPICY) | st.characters(codec="utf-8"), max_size=12)


def sequential(lister: FakeLister, prefix: str, max_keys: int) -> list[str]:
    return [
        info.key
        for page in lister.list_objects("b", prefix, "", max_keys)
        for info in page.object_info
    ]


def partitioned(lister: FakeLister, prefix: str, max_keys: int, concurrency: int) -> list[str]:
    listing = PartitionedListing(
        lister.list_objects, "b", prefix, concurrency=concurrency, max_keys=max_keys
    )
    return [row.key for row in listing.rows()]


def check(keys: list[str], prefix: str = "", max_keys: int = 3, concurrency: int = 4) -> None:
    lister = FakeLister(keys)
    expected = sequential(lister, prefix, max_keys)
    assert partitioned(lister, prefix, max_keys, concurrency) == expected
    table = PartitionedListing(
        lister.list_objects, "b", prefix, concurrency=concurrency, max_keys=max_keys
    ).table()
    assert [table.key(i) for i in range(len(table))] == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.lists(key_text, max_size=120),
    prefix=st.sampled_from(["", "a", "a/", "é", "😀/"]),
    max_keys=st.integers(1, 7),
    concurrency=st.integers(1, 6),
)
def test_any_key_set_lists_as_a_sequential_listing(
    keys: list[str], prefix: str, max_keys: int, concurrency: int
) -> None:
    check(keys, prefix, max_keys, concurrency)


@settings(max_examples=60, deadline=None)
@given(
    folders=st.lists(key_text, min_size=1, max_size=8),
    names=st.lists(key_text, min_size=1, max_size=30),
    under=st.sampled_from(["", "data/", "data/train/", "x//y/"]),
    max_keys=st.integers(1, 5),
)
def test_keys_in_folders_list_as_a_sequential_listing(
    folders: list[str], names: list[str], under: str, max_keys: int
) -> None:
    keys = [f"{under}{folder}/{name}" for folder, name in itertools.product(folders, names)]
    check(keys + [f"{under}{name}" for name in names], "", max_keys)


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param([], id="empty"),
        pytest.param([f"{i:06d}.jpg" for i in range(5000)], id="flat"),
        pytest.param([f"{i:06d}.jpg" for i in range(1000)], id="exactly-a-page"),
        pytest.param([f"{i:06d}.jpg" for i in range(999)], id="a-page-less-one"),
        pytest.param([f"only/one/sub/{i:05d}" for i in range(4000)], id="all-under-one-subprefix"),
        pytest.param(
            [f"a{i:05d}" for i in range(10)] + [f"z{i:05d}" for i in range(4000)], id="skewed"
        ),
        pytest.param(
            [f"train/n{c:03d}/img_{i}.JPEG" for c in range(40) for i in range(60)],
            id="folders",
        ),
        pytest.param(
            [f"{'é' * (i % 5)}{'😀' * (i % 3)} {i}//x" for i in range(3000)], id="unicode"
        ),
        pytest.param([f"k{i}" for i in range(3000)] + ["k", "k/", "k//"], id="markers"),
    ],
)
@pytest.mark.parametrize("folders_first", [False, True], ids=["s3-order", "folders-first"])
def test_shapes_of_key_sets(keys: list[str], folders_first: bool) -> None:
    lister = FakeLister(keys, folders_first=folders_first)
    listing = PartitionedListing(lister.list_objects, "b", "", concurrency=8, max_keys=1000)
    assert [row.key for row in listing.rows()] == lister.keys
    # Small pages, so that there are many ranges to cut.
    listing = PartitionedListing(lister.list_objects, "b", "", concurrency=8, max_keys=50)
    assert [row.key for row in listing.rows()] == lister.keys
    if not folders_first:
        check(keys, "", max_keys=50, concurrency=8)


def test_ranges_are_listed_from_learned_cut_points() -> None:
    lister = FakeLister((f"{i:07d}" for i in range(20_000)), delay_s=0.002)
    listing = PartitionedListing(lister.list_objects, "b", "", concurrency=8, max_keys=100)
    assert len(listing.table()) == 20_000
    cut_points = [after for after in lister.start_afters if after is not None]
    assert len(cut_points) >= 4, lister.start_afters
    # Cuts are keys of the same alphabet, between the first and last key.
    assert all(set(after) <= set("0123456789") for after in cut_points)


def test_folders_become_cut_points() -> None:
    keys = [f"train/n{c:03d}/img_{i:04d}.JPEG" for c in range(50) for i in range(100)]
    lister = FakeLister(keys, delay_s=0.005)
    listing = PartitionedListing(lister.list_objects, "b", "", concurrency=4, max_keys=100)
    assert [row.key for row in listing.rows()] == lister.keys
    # Cut just before a folder's name ("train/n017"), which splits the keys alike in S3's order
    # and in a folder-by-folder one.
    folders = {f"train/n{c:03d}" for c in range(50)}
    assert any(after in folders for after in lister.start_afters), lister.start_afters


def test_key_filter_keeps_order() -> None:
    lister = FakeLister(f"{i:05d}" for i in range(3000))
    listing = PartitionedListing(
        lister.list_objects, "b", "", concurrency=4, max_keys=64, key_filter=lambda k: k[-1] == "7"
    )
    assert [row.key for row in listing.rows()] == [k for k in lister.keys if k[-1] == "7"]


def test_without_start_after_it_is_one_sequential_stream() -> None:
    lister = FakeLister(f"{i:05d}" for i in range(500))

    def list_objects(bucket: str, prefix: str = "", delimiter: str = "", max_keys: int = 1000):  # type: ignore[no-untyped-def]
        return lister.list_objects(bucket, prefix, delimiter, max_keys)

    assert not takes_start_after(list_objects)
    listing = PartitionedListing(list_objects, "b", "", concurrency=8, max_keys=10)
    assert [row.key for row in listing.rows()] == lister.keys
    assert lister.streams == 1


def test_an_error_reaches_the_consumer() -> None:
    lister = FakeLister((f"{i:05d}" for i in range(500)), delay_s=0.005)

    def failing(
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        start_after: str | None = None,
    ):  # type: ignore[no-untyped-def]
        if start_after is not None:
            raise OSError("listing failed")
        return lister.list_objects(bucket, prefix, delimiter, max_keys)

    with pytest.raises(OSError, match="listing failed"):
        list(PartitionedListing(failing, "b", "", concurrency=4, max_keys=10).rows())


def test_progress_is_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    lister = FakeLister(f"{i:05d}" for i in range(2000))
    counts: list[int] = []
    listing = PartitionedListing(
        lister.list_objects,
        "b",
        "",
        concurrency=2,
        max_keys=100,
        on_progress=counts.append,
        progress_every_s=0.0,
    )
    with caplog.at_level(logging.INFO, logger="s3torch._datasets.listing"):
        assert len(listing.table()) == 2000
    assert counts and counts == sorted(counts) and counts[-1] <= 2000
    assert "keys so far" in caplog.text


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_concurrency_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="list_concurrency"):
        PartitionedListing(FakeLister([]).list_objects, "b", "", concurrency=bad)  # type: ignore[arg-type]


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_ls_shows_a_running_count_on_a_terminal_only() -> None:
    from s3torch.cli.ls import ListingProgress

    err = _Stream(tty=True)
    progress = ListingProgress(err, _Stream(tty=False))
    progress(1000)
    progress(2500)
    progress.done()
    assert err.getvalue() == "\rlisting: 1,000 keys so far\rlisting: 2,500 keys so far\r\x1b[K"
    # Not on a terminal (or when the listing itself goes to that terminal): a plain line, at
    # the slow interval only.
    err = _Stream(tty=False)
    progress = ListingProgress(err, _Stream(tty=False))
    assert progress.every_s == ListingProgress.SLOW_EVERY_S
    progress(5)
    progress.done()
    assert err.getvalue() == "s3torch ls: 5 keys listed so far\n"
    assert ListingProgress(_Stream(tty=True), _Stream(tty=True)).every_s == 10.0


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.text(alphabet="ab/ -.0z", max_size=8), max_size=80),
    max_keys=st.integers(1, 5),
)
def test_a_server_listing_out_of_key_order_is_followed(keys: list[str], max_keys: int) -> None:
    """SeaweedFS lists "a/x" before "a x": the listing notices and gives the server's order,
    never a key twice or none."""
    lister = FakeLister(keys, delay_s=0.001, folders_first=True)
    expected = sequential(lister, "", max_keys)
    assert sorted(expected) == sorted(set(keys))
    assert partitioned(lister, "", max_keys, 4) == expected
    table = PartitionedListing(lister.list_objects, "b", "", concurrency=4, max_keys=max_keys)
    assert [row.key for row in table.rows()] == expected
