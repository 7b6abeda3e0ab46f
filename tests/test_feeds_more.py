"""Recorded feeds (monitor.feeds): what is refused before processing starts, gzip found by its magic
bytes, batches in order, and a damaged file named with the failure instead of a traceback."""

from __future__ import annotations

import gc
import gzip
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor.errors import EXIT_FAILURE, FeedError
from monitor.feeds import check_feeds, iter_batches

LINES = [f"!AIVDM,1,1,,A,line{i},0*00".encode() for i in range(10)]


def read_all(paths: list[str], batch_lines: int = 8192) -> tuple[list[bytes], list[str]]:
    """Every line of the feeds, and the ResourceWarnings raised meanwhile (a file left open): recorded,
    not raised, so each test checks its own behaviour and test_the_file_under_a_gzip_feed_is_closed
    checks the leak."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lines = [line for batch in iter_batches(paths, batch_lines) for line in batch]
        gc.collect()
    return lines, [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]


@contextmanager
def leaks_recorded() -> Iterator[None]:
    """ResourceWarnings of a leaked file recorded, not raised (see read_all); the block must drop its
    references to the exception and its traceback, which hold the leaked file."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        yield
        gc.collect()


def test_check_feeds_refuses_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    """A missing path and a directory are refused with one line naming the path; exit code 1."""
    missing = tmp_path / "nope.nmea"
    with pytest.raises(FeedError, match=r"nope\.nmea: no such file$") as err:
        check_feeds([str(missing)])
    assert err.value.exit_code == EXIT_FAILURE
    with pytest.raises(FeedError, match=r"is a directory, not a feed file$"):
        check_feeds([str(tmp_path)])


def test_check_feeds_accepts_stdin_and_readable_files(tmp_path: Path) -> None:
    """`-` (stdin) is never checked on disk; a readable file passes; the first bad path stops the check."""
    good = tmp_path / "a.nmea"
    good.write_bytes(b"")
    check_feeds(["-", str(good)])
    with pytest.raises(FeedError, match=r"b\.nmea: no such file"):
        check_feeds([str(good), str(tmp_path / "b.nmea"), "-"])


def test_batches_keep_line_order_across_files_and_strip_line_ends(tmp_path: Path) -> None:
    """Lines come in file order, then line order, newline and CRLF stripped, in batches of at most
    `batch_lines` that never span two files."""
    a = tmp_path / "a.nmea"
    a.write_bytes(b"".join(line + b"\r\n" for line in LINES[:7]))
    b = tmp_path / "b.nmea"
    b.write_bytes(b"\n".join(LINES[7:]))  # no newline after the last line
    batches = list(iter_batches([str(a), str(b)], batch_lines=3))
    assert [len(x) for x in batches] == [3, 3, 1, 3]
    assert [line for x in batches for line in x] == LINES


def test_gzip_is_recognised_by_its_magic_bytes_without_the_suffix(tmp_path: Path) -> None:
    """A gzip file is read as gzip whatever its name (a rotated `feed.1`), and a `.gz` name too."""
    for name in ("feed.1", "feed.nmea.gz"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(b"\n".join(LINES) + b"\n"))
        assert read_all([str(path)])[0] == LINES


def test_the_file_under_a_gzip_feed_is_closed(tmp_path: Path) -> None:
    """Reading a gzip feed to the end leaves no file open (a long `replay` of many rotated files must not
    run out of descriptors); a plain feed neither."""
    plain = tmp_path / "feed.nmea"
    plain.write_bytes(b"\n".join(LINES))
    assert read_all([str(plain)]) == (LINES, [])
    gz = tmp_path / "feed.nmea.gz"
    gz.write_bytes(gzip.compress(b"\n".join(LINES)))
    assert read_all([str(gz)]) == (LINES, [])


def test_a_truncated_gzip_is_a_feed_error_naming_the_file(tmp_path: Path) -> None:
    """A gzip file cut short (a copy interrupted mid-way) ends the replay with one FeedError naming the
    file and the cause, after the lines that could be read."""
    data = gzip.compress(b"\n".join(LINES * 200) + b"\n")
    path = tmp_path / "cut.nmea.gz"
    path.write_bytes(data[: len(data) // 2])
    with leaks_recorded():
        with pytest.raises(FeedError, match=r"cut\.nmea\.gz: unreadable after EOFError") as err:
            for _ in iter_batches([str(path)], batch_lines=1):
                pass
        cause = type(err.value.__cause__)
        del err
    assert cause is EOFError


def test_a_corrupt_gzip_is_a_feed_error_naming_the_file(tmp_path: Path) -> None:
    """Garbage after a gzip header (a corrupt download) is a FeedError naming the file, not a traceback."""
    path = tmp_path / "bad.nmea.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"this is not deflate data" * 10)
    with leaks_recorded(), pytest.raises(FeedError, match=r"bad\.nmea\.gz: unreadable after "):
        list(iter_batches([str(path)]))


def test_a_file_that_cannot_be_opened_is_a_feed_error(tmp_path: Path) -> None:
    """A path that disappears between the check and the read (or cannot be opened) is a FeedError with the
    system's reason, not a traceback."""
    with pytest.raises(FeedError, match=r"gone\.nmea: No such file or directory"):
        list(iter_batches([str(tmp_path / "gone.nmea")]))
