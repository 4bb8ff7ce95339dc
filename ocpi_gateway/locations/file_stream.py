"""The locations file read by a child process and streamed to the gateway a location at a time.

Parsing 10,000 locations is seconds of CPU and, whole, about twice the memory of everything
the gateway keeps of them. So a big file is parsed by ``python -m
ocpi_gateway.locations.file_stream`` (a child of our own, on the machine's other core), which
hands out each location as libyaml finishes it (``domain.yaml_load.RootListStream``): the
gateway validates one while the child parses the next, and never holds the parsed file.

The child sends, per location, its id and ``content_key`` and its parsed data unless the
gateway said it already has that key for that id (a reload: unchanged locations cost 64
bytes), pickled (our own child, through a pipe: pickle keeps the parser's types, so the gateway
validates exactly what a parse of its own would give) in frames of a few hundred KB. It never
words an error: where the file is unreadable, not YAML, or not a plain mapping with a
``locations`` list (explicit tags, merge keys, one document that is empty), it says ``whole``
and the gateway reads the file itself, whose result and messages stay the reference.

This module is the child's whole import: the YAML loader only, no models (a faster start).
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

import yaml

from ocpi_gateway.domain.yaml_load import NotStreamable, RootListStream

FRAME_BYTES = 256 * 1024
"""About how much the child sends at a time: one frame is unpickled by the gateway at once."""

Record = tuple[str, bytes, Any]
"""(location id as the file wrote it, or "" when it is not a string; content key; the parsed
data, or None when the key is the one the gateway already has for that id)."""

Frame = tuple[Literal["records"], list[Record]] | tuple[Literal["root"], dict[Any, Any]] | \
    tuple[Literal["whole"], str] | tuple[Literal["end"], None]
"""``records``; ``root``: the file's other root keys, once every location was sent;
``whole``: read the file yourself (the reason); ``end``."""

_LENGTH = struct.Struct(">I")


def content_key(item: object) -> bytes:
    """A digest of one location as the file's parser gave it (before validation): equal keys
    mean equal data down to the types (pickle tells 1 from 1.0 and True, NaN from null), so a
    reload keeps the validated object of a location whose key did not change."""
    return hashlib.blake2b(pickle.dumps(item, protocol=5), digest_size=16).digest()


def _record(item: Any, known: Mapping[str, bytes]) -> Record:
    key = content_key(item)
    location_id = item.get("id") if isinstance(item, dict) else None
    if not isinstance(location_id, str):
        return "", key, item
    return location_id, key, None if known.get(location_id) == key else item


def records(stream: RootListStream, known: Mapping[str, bytes]) -> Iterator[Record]:
    for item in stream.items():
        yield _record(item, known)


# -- the child -----------------------------------------------------------------------------

def _write(out: BinaryIO, frame: Frame) -> None:
    data = pickle.dumps(frame, protocol=5)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


def child_main(stdin: BinaryIO, stdout: BinaryIO) -> None:
    path, known = pickle.loads(stdin.read())
    try:
        text = Path(path).read_text(encoding="utf-8")
        stream = RootListStream(text, "locations")
        batch: list[Record] = []
        size = 0
        for record in records(stream, known):
            batch.append(record)
            size += 64 if record[2] is None else 2048  # about what each pickles to
            if size >= FRAME_BYTES:
                _write(stdout, ("records", batch))
                batch, size = [], 0
        _write(stdout, ("records", batch))
        _write(stdout, ("root", stream.root))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, NotStreamable) as exc:
        _write(stdout, ("whole", f"{type(exc).__name__}: {exc}"))
    _write(stdout, ("end", None))
    stdout.flush()


# -- the gateway's side --------------------------------------------------------------------

class ChildFailed(Exception):
    """The reading process ended without finishing (its exit code and what it printed)."""


@dataclass(slots=True)
class ChildStream:
    """A running child reading ``path``; ``frames`` blocks on its pipe (call it from a thread
    where an event loop must go on)."""

    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, path: Path, known: Mapping[str, bytes]) -> ChildStream:
        process = subprocess.Popen(
            [sys.executable, "-m", "ocpi_gateway.locations.file_stream"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdin, process.stdin = process.stdin, None  # written once here, not by communicate()
        assert stdin is not None
        try:
            stdin.write(pickle.dumps((str(path), dict(known)), protocol=5))
            stdin.close()
        except BrokenPipeError:
            pass  # it died at once: the first read says how
        return cls(process)

    def next_frame(self) -> bytes:
        """The next frame's pickled bytes; raises ChildFailed when the child ended first."""
        out = self.process.stdout
        assert out is not None
        head = _read(out, _LENGTH.size)
        if head is not None:
            body = _read(out, _LENGTH.unpack(head)[0])
            if body is not None:
                return body
        raise self._failed()

    def _failed(self) -> ChildFailed:
        self.process.kill()
        _, err = self.process.communicate()
        return ChildFailed(f"the process reading it failed (exit {self.process.returncode}): "
                           + err.decode(errors="replace").strip()[-2000:])

    def close(self) -> None:
        """Reap the child (it has sent ``end`` or is killed)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


def _read(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def frame_of(data: bytes) -> Frame:
    frame: Frame = pickle.loads(data)
    return frame


if __name__ == "__main__":
    child_main(sys.stdin.buffer, sys.stdout.buffer)
