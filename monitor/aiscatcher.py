"""AIS-catcher's JSON output turned into NMEA lines, so it flows through the same pipeline.

AIS-catcher (https://github.com/jvde-github/AIS-catcher) writes, besides plain NMEA, JSON objects: one
per message over UDP, TCP and MQTT (`JSON_NMEA`, `-o 3`, and the fully decoded `JSON_FULL`, `-o 5`;
MQTT's default topic `ais/data`), and batches of them in its HTTP push (`-H URL`)::

    {"class":"AIS","device":"AIS-catcher","channel":"B","rxtime":"20220729191502","rxuxtime":1659122102,
     "signalpower":-44.0,"ppm":0,"mmsi":230907000,"type":3,
     "nmea":["!AIVDM,1,1,,B,33L=LN051HQj3HhRJd7q1W=`0000,0*03"], ...decoded fields (JSON_FULL)...}

    {"protocol":"jsonaiscatcher","encodetime":"20221102171325","stationid":"MyStation",
     "receiver":{...},"device":{...},"msgs":[{...one object as above...}, ...]}

Every such object carries the sentences it was decoded from in `nmea`. We use those and nothing else: its
decoded fields would be a second decoding path with its own rules, while the sentences go through the
one the project checks (checksums, fragments, duplicates, ranges, the gpsdecode differential test).
The receive time, `rxuxtime` (UNIX seconds) or else `rxtime` (`YYYYMMDDhhmmss`, UTC), becomes an NMEA
4.0 tag block `\\c:<seconds>*hh\\` in front of each sentence: the NMEA layer then times the message
exactly as it times a receiver's tag-blocked line, and the rest of the pipeline is unchanged. A sentence
that already has a tag block keeps it; an object without a time gives bare sentences (live, they take
the wall clock, as untimed NMEA does).

An object that cannot be used raises `AisCatcherMessageError`, whose `reason` the feed counts
(`malformed`: not JSON, not an object, `nmea` not a list of strings; `no_nmea`: an object without
sentences, such as a JSON_FULL line from an AIS-catcher configured without them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from monitor.errors import MonitorError
from monitor.nmea import TIME_MAX, TIME_MIN, nmea_checksum

__all__ = [
    "AisCatcherMessageError",
    "document_lines",
    "message_lines",
    "parse_rxtime",
    "tag_block",
]

_MAX_SENTENCES: Final = 9  # a message has at most 9 fragments (NMEA 0183's one digit)
_MS_ABOVE: Final = 1e11  # as a tag block's c:: larger UNIX times are milliseconds


class AisCatcherMessageError(MonitorError, ValueError):
    """An AIS-catcher JSON object that gives no sentence; `reason` is a stable counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def parse_rxtime(text: object) -> float | None:
    """UNIX seconds from AIS-catcher's `rxtime` ("20220729191502", UTC); None if it cannot be read."""
    if not isinstance(text, str) or len(text) != 14 or not text.isdigit():
        return None
    try:
        stamp = datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return stamp.timestamp()


def _receive_time(message: Mapping[str, Any]) -> float | None:
    value = message.get("rxuxtime")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        t = float(value) / 1000.0 if value > _MS_ABOVE else float(value)
        if TIME_MIN <= t < TIME_MAX:
            return t
    return parse_rxtime(message.get("rxtime"))


def tag_block(t: float) -> bytes:
    """`\\c:<t>*hh\\`: whole seconds as NMEA 4.0 writes them, milliseconds kept when there are some."""
    whole = math.floor(t)
    text = str(whole) if t == whole else f"{t:.3f}".rstrip("0").rstrip(".")
    body = b"c:" + text.encode("ascii")
    return b"\\" + body + b"*" + f"{nmea_checksum(body):02X}".encode("ascii") + b"\\"


def message_lines(message: object) -> list[bytes]:
    """The NMEA lines (no newline) of one AIS-catcher JSON message object, its receive time in a tag
    block. Raises AisCatcherMessageError when the object gives no sentence."""
    if not isinstance(message, Mapping):
        raise AisCatcherMessageError("malformed", "not a JSON object")
    sentences = message.get("nmea")
    if sentences is None:
        raise AisCatcherMessageError("no_nmea", "no `nmea` array (configure AIS-catcher's JSON with it)")
    if isinstance(sentences, str):
        sentences = [sentences]  # (tolerated: one sentence given as a plain string)
    if not isinstance(sentences, list) or not sentences or len(sentences) > _MAX_SENTENCES:
        raise AisCatcherMessageError("malformed", "`nmea` is not a list of 1 to 9 sentences")
    t = _receive_time(message)
    tag = b"" if t is None else tag_block(t)
    out: list[bytes] = []
    for sentence in sentences:
        if not isinstance(sentence, str) or not sentence.strip() or not sentence.isascii():
            raise AisCatcherMessageError("malformed", "a sentence in `nmea` is not ASCII text")
        raw = sentence.strip().encode("ascii")
        # Any checking beyond this is the NMEA layer's, done once for every feed alike.
        out.append(raw if raw.startswith(b"\\") or not tag else tag + raw)
    return out


def _messages(document: object) -> Iterator[object]:
    """The message objects of one JSON document: an HTTP push's `msgs`, a list, or one message."""
    if isinstance(document, Mapping) and "msgs" in document and "nmea" not in document:
        msgs = document["msgs"]
        if not isinstance(msgs, list):
            raise AisCatcherMessageError("malformed", "`msgs` is not a list")
        yield from msgs
    elif isinstance(document, list):
        yield from document
    else:
        yield document


def document_lines(data: bytes, skipped: dict[str, int]) -> list[bytes]:
    """The NMEA lines of a block of AIS-catcher JSON: one document (an HTTP push, an MQTT payload, a
    datagram, a line of a TCP stream) or, when the block as a whole is no JSON, one document per line.
    What cannot be used is counted in `skipped` by reason and left out."""
    try:
        documents: list[object] = [json.loads(data)]
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        documents = []
        for part in data.split(b"\n"):
            if not part.strip():
                continue
            try:
                documents.append(json.loads(part))
            except (ValueError, RecursionError):
                skipped["malformed"] = skipped.get("malformed", 0) + 1
    out: list[bytes] = []
    for document in documents:
        try:
            for message in _messages(document):
                try:
                    out += message_lines(message)
                except AisCatcherMessageError as exc:
                    skipped[exc.reason] = skipped.get(exc.reason, 0) + 1
        except AisCatcherMessageError as exc:
            skipped[exc.reason] = skipped.get(exc.reason, 0) + 1
    return out
