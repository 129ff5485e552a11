"""Helpers for tests that craft or damage saved router states."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np

from paretobandit.persistence import _canonical, snapshot_files


def resign(meta: dict) -> dict:
    """``meta`` with its ``meta_sha256`` recomputed (a crafted file that passes the checksum)."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return dict(body, meta_sha256=hashlib.sha256(_canonical(body)).hexdigest())


def rewrite_state(path, change_meta=None, change_arrays=None, extra_members=None):
    """Load the snapshot at ``path``, apply the changes, and write it back *consistently signed*."""
    json_path, npz_path = snapshot_files(path)
    meta = json.loads(json_path.read_text())
    with np.load(npz_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if change_meta is not None:
        change_meta(meta)
    if change_arrays is not None:
        change_arrays(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays, **(extra_members or {}))
    npz_path.write_bytes(buf.getvalue())
    meta["npz_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    json_path.write_text(json.dumps(resign(meta)))
    return json_path
