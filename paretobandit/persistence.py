"""Save and load a :class:`~paretobandit.router.BanditRouter` — pickle-free, atomic, checksummed, validated.

A snapshot at ``<stem>`` is two files:

* ``<stem>.<token>.npz`` — the arrays of :meth:`BanditRouter.state_dict` (per-arm ``A``, ``A_inv``,
  ``b``, ``theta``, ``rho``, counters, the lazily scaled raw arrays, ``pending_x``), a fresh name per save;
* ``<stem>.json`` — the JSON half of the state, the name and SHA-256 of its ``.npz`` and the SHA-256 of
  the JSON itself (``meta_sha256``, over the canonical form without that key): the checksum covers the
  whole pair.

The ``.json`` is the commit point. :func:`save_router` writes the new ``.npz`` (temporary file, fsync,
rename), then replaces the ``.json`` the same way, fsyncs the directory, and only then deletes the
previous ``.npz``; a crash at any moment leaves the previous snapshot or the new one loadable, never
neither. :func:`load_router` checks both checksums, bounds every archive member (names, declared sizes,
``.npy`` headers) *before* decompressing anything, and hands the parsed state to
:meth:`BanditRouter.from_state`, which validates its meaning. Every problem is a
:class:`~paretobandit.errors.StateFileError`.

:func:`state_lock` serialises processes that load, change and save one snapshot (the CLI).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_write_bytes, fsync_dir
from ._state import STATE_FORMAT, STATE_VERSION
from .errors import StateFileError, StoreError
from .policy import state_shapes

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_router", "save_router", "snapshot_files", "state_lock"]

FORMAT_NAME = STATE_FORMAT
FORMAT_VERSION = STATE_VERSION

#: Largest ``.json`` half accepted (pending metadata and applied ids of ~10⁶ requests fit).
MAX_JSON_BYTES = 512 * 2**20
_NPY_HEADER_MAX = 4096


def _stem(path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".json", ".npz") else path


def _npz_pattern(stem: Path) -> re.Pattern:
    return re.compile(re.escape(stem.name) + r"\.[0-9a-f]{16}\.npz")


def _canonical(meta: dict) -> bytes:
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def snapshot_files(path) -> tuple[Path, Path]:
    """``(json_path, npz_path)`` of the snapshot at ``path`` (the ``.npz`` named by the ``.json``).

    Raises
    ------
    StateFileError
        No readable ``.json`` at ``path``.
    """
    stem = _stem(path)
    json_path = stem.with_name(stem.name + ".json")
    meta = _read_meta(json_path)
    return json_path, _npz_path(json_path, meta)


def _npz_path(json_path: Path, meta: dict) -> Path:
    name = meta.get("arrays_file")
    if not isinstance(name, str) or not _npz_pattern(_stem(json_path)).fullmatch(name):
        raise StateFileError(f"{json_path}: invalid arrays_file {name!r}")
    return json_path.with_name(name)


# ---------------------------------------------------------------------------------------------- save
def save_router(router, path) -> Path:
    """Write the snapshot of ``router`` at ``path`` atomically (module docstring); returns the ``.json``.

    Raises
    ------
    StateFileError
        The directory or a file cannot be written (e.g. the disk is full: ``errno`` ``ENOSPC``); the
        previous snapshot, if any, is intact.
    """
    return write_state(router.state_dict(), path)


def write_state(state: dict, path) -> Path:
    """Write a :meth:`BanditRouter.state_dict` as the snapshot at ``path`` (as :func:`save_router`)."""
    stem = _stem(path)
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateFileError(f"cannot create the directory of {stem}: {exc}") from None
    buf = io.BytesIO()
    np.savez(buf, **state["arrays"])
    blob = buf.getvalue()
    json_path = stem.with_name(stem.name + ".json")
    npz_path = stem.with_name(f"{stem.name}.{secrets.token_hex(8)}.npz")
    meta = dict(state["meta"], arrays_file=npz_path.name, npz_sha256=hashlib.sha256(blob).hexdigest())
    meta["meta_sha256"] = hashlib.sha256(_canonical(meta)).hexdigest()
    try:
        previous = _npz_path(json_path, _read_meta(json_path)) if json_path.is_file() else None
    except StateFileError:
        previous = None
    try:
        atomic_write_bytes(npz_path, blob)
        atomic_write_bytes(json_path, json.dumps(meta, indent=1, allow_nan=False).encode())
        fsync_dir(stem.parent)
    except OSError as exc:
        npz_path.unlink(missing_ok=True)
        raise StateFileError(f"cannot write the router state to {json_path}: {exc} (the previous snapshot "
                             "is intact)") from None
    # the new pair is committed: drop the superseded arrays and any left by an interrupted save of this stem
    pattern = _npz_pattern(stem)
    for p in stem.parent.iterdir():
        if p != npz_path and (p == previous or pattern.fullmatch(p.name)):
            p.unlink(missing_ok=True)
    return json_path


# ---------------------------------------------------------------------------------------------- load
def _read_meta(json_path: Path) -> dict:
    if not json_path.is_file():
        raise StateFileError(f"state file missing: {json_path}")
    try:
        if json_path.stat().st_size > MAX_JSON_BYTES:
            raise StateFileError(f"{json_path}: larger than {MAX_JSON_BYTES} bytes; not a state file")
        meta = json.loads(json_path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StateFileError(f"{json_path}: not a readable JSON state file ({exc})") from None
    if not isinstance(meta, dict):
        raise StateFileError(f"{json_path}: not a ParetoBandit router state (not a JSON object)")
    if meta.get("format") != FORMAT_NAME:
        raise StateFileError(f"{json_path}: not a ParetoBandit router state (format {meta.get('format')!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise StateFileError(f"{json_path}: unsupported state version {meta.get('version')!r} (this library "
                             f"reads {FORMAT_VERSION}; version 1 files carry no checksum: re-create the "
                             "state)")
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    try:
        digest = hashlib.sha256(_canonical(body)).hexdigest()
    except ValueError:  # NaN / Infinity in the JSON
        digest = None
    if meta.get("meta_sha256") != digest:
        raise StateFileError(f"{json_path}: checksum mismatch (the .json was modified, corrupted or "
                             "truncated)")
    return meta


def _expected_members(meta: dict) -> dict[str, tuple[tuple[int, ...], str]]:
    models, d = meta.get("models"), meta.get("dimension")
    if not isinstance(models, list) or isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 2**16 \
            or not 1 <= len(models) <= 2**16:
        raise StateFileError(f"invalid dimension {d!r} or model list")
    shapes = state_shapes(len(models), d)
    pending = (meta.get("context_store") or {}).get("pending")
    if pending is not None:
        ids = pending.get("ids") if isinstance(pending, dict) else None
        if not isinstance(ids, list):
            raise StateFileError("invalid pending contexts")
        shapes["pending_x"] = ((len(ids), d), "f")
    return shapes


def _read_arrays(npz_path: Path, blob: bytes, expected: dict) -> dict[str, np.ndarray]:
    """The archive's arrays, each member's name, declared size and ``.npy`` header checked first."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise StateFileError(f"{npz_path}: unreadable array file ({exc})") from None
    with zf:
        infos = {info.filename: info for info in zf.infolist()}
        names = {n[:-4] for n in infos if n.endswith(".npy")}
        if len(infos) != len(names) or names != set(expected):
            raise StateFileError(f"{npz_path}: members {sorted(infos)} differ from the expected "
                                 f"{sorted(n + '.npy' for n in expected)}")
        arrays = {}
        for name, (shape, kind) in expected.items():
            info = infos[name + ".npy"]
            nbytes = int(np.prod(shape, dtype=np.int64)) * 8
            if info.file_size > nbytes + _NPY_HEADER_MAX:
                raise StateFileError(f"{npz_path}: member {name!r} declares {info.file_size} bytes, more "
                                     f"than a {shape} array needs")
            try:
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    got_shape, fortran, dtype = reader(fh)
                    if got_shape != shape or dtype != np.dtype(f"<{kind}8"):
                        raise StateFileError(f"{npz_path}: array {name!r} has shape {got_shape} ({dtype}), "
                                             f"expected {shape} ({np.dtype(f'<{kind}8')})")
                    data = fh.read(nbytes + 1)
            except StateFileError:
                raise
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
                raise StateFileError(f"{npz_path}: unreadable array {name!r} ({exc})") from None
            if len(data) != nbytes:
                raise StateFileError(f"{npz_path}: array {name!r} has {len(data)} bytes, expected {nbytes}")
            flat = np.frombuffer(data, dtype=np.dtype(f"<{kind}8"))
            arrays[name] = flat.reshape(shape, order="F" if fortran else "C").copy(order="C")
    return arrays


def read_state(path) -> dict:
    """``{"meta", "arrays"}`` of the snapshot at ``path``; checksums and sizes verified, not the meaning."""
    stem = _stem(path)
    json_path = stem.with_name(stem.name + ".json")
    meta = _read_meta(json_path)
    npz_path = _npz_path(json_path, meta)
    try:
        expected = _expected_members(meta)
    except StateFileError as exc:
        raise StateFileError(f"{json_path}: {exc}") from None
    bound = sum(int(np.prod(s, dtype=np.int64)) * 8 + _NPY_HEADER_MAX for s, _ in expected.values()) + 2**20
    try:
        size = npz_path.stat().st_size
        if size > bound:
            raise StateFileError(f"{npz_path}: {size} bytes, more than the state can need ({bound})")
        blob = npz_path.read_bytes()
    except FileNotFoundError:
        raise StateFileError(f"state file missing: {npz_path}") from None
    except OSError as exc:
        raise StateFileError(f"{npz_path}: unreadable ({exc})") from None
    if meta.get("npz_sha256") != hashlib.sha256(blob).hexdigest():
        raise StateFileError(f"{npz_path}: checksum mismatch with the .json (truncated, corrupt or from "
                             "another save)")
    return {"meta": meta, "arrays": _read_arrays(npz_path, blob, expected)}


def load_router(cls, path, feature_service=None, context_store=None, pacer_class=None):
    """Rebuild a router from :func:`save_router` output (see the module docstring)."""
    state = read_state(path)
    return cls.from_state(state, feature_service=feature_service, context_store=context_store,
                          pacer_class=pacer_class,
                          where=f"{_stem(path)}.json")


# ---------------------------------------------------------------------------------------------- lock
@contextlib.contextmanager
def state_lock(path, timeout: float = 60.0):
    """Hold an exclusive lock on the snapshot at ``path`` (sidecar ``<stem>.lock``) for load → change → save.

    Concurrent processes that each load, change and save one snapshot (e.g. parallel
    ``paretobandit feedback … --state s``) are serialised, so no update is lost. Blocks up to ``timeout``
    seconds, then raises :class:`StoreError`. A no-op where ``fcntl`` is unavailable.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    import time

    stem = _stem(path)
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(stem.with_name(stem.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot create the lock file of {stem}: {exc}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise StoreError(f"state {stem} is locked by another process for more than "
                                     f"{timeout:g} s") from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # releases the lock
