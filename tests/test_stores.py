"""Context stores: exactly-once take, TTL on read, bounded applied record, SQLite durability settings."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from paretobandit import EphemeralContextStore, SqliteContextStore
from paretobandit.errors import ConfigError, DuplicateFeedbackError, StoreError, UnknownRequestError


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(params=["ephemeral", "sqlite"])
def make_store(request, tmp_path):
    def make(**kw):
        if request.param == "ephemeral":
            return EphemeralContextStore(**kw)
        return SqliteContextStore(tmp_path / "ctx.db", **kw)

    return make


def test_put_get_take_exactly_once(make_store):
    store = make_store()
    x = np.array([0.1, 0.2, 1.0])
    store.put("r1", x, {"model": "m", "cost": 0.01})
    got, meta = store.get("r1")
    np.testing.assert_array_equal(got, x)
    assert meta == {"model": "m", "cost": 0.01}
    assert len(store) == 1
    store.take("r1")
    assert len(store) == 0
    with pytest.raises(DuplicateFeedbackError):
        store.take("r1")
    with pytest.raises(DuplicateFeedbackError):
        store.get("r1")
    with pytest.raises(UnknownRequestError):
        store.take("never")


def test_ttl_enforced_on_read(make_store):
    clock = Clock()
    store = make_store(ttl=10.0, clock=clock)
    store.put("a", np.ones(2), {"model": "m", "cost": 0.0})
    store.put("b", np.ones(2), {"model": "m", "cost": 0.0})
    clock.now += 5
    store.get("a")
    clock.now += 6
    with pytest.raises(UnknownRequestError, match="expired"):
        store.take("a")
    with pytest.raises(UnknownRequestError):  # gone, not merely hidden
        store.take("a")
    assert store.purge_expired() == 1
    assert len(store) == 0


def test_bad_ttl():
    for bad in (0, -1, float("nan"), "1"):
        with pytest.raises(ConfigError):
            EphemeralContextStore(ttl=bad)


def test_ephemeral_applied_record_is_bounded():
    store = EphemeralContextStore(max_applied=3)
    for i in range(5):
        store.put(str(i), np.ones(2), {})
        store.take(str(i))
    assert len(store._applied) == 3
    with pytest.raises(UnknownRequestError):  # forgotten: still never applied twice
        store.take("0")
    with pytest.raises(DuplicateFeedbackError):
        store.take("4")


def test_ephemeral_export_import():
    store = EphemeralContextStore()
    store.put("a", np.array([1.0, 2.0]), {"model": "m", "cost": 1.0})
    store.put("b", np.array([3.0, 4.0]), {"model": "n", "cost": 2.0})
    store.take("b")
    other = EphemeralContextStore()
    other.import_state(store.export_state())
    np.testing.assert_array_equal(other.get("a")[0], [1.0, 2.0])
    with pytest.raises(DuplicateFeedbackError):
        other.take("b")


def test_sqlite_wal_and_synchronous_full(tmp_path):
    store = SqliteContextStore(tmp_path / "c.db")
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL


def test_sqlite_durable_across_connections(tmp_path):
    a = SqliteContextStore(tmp_path / "c.db")
    a.put("r", np.array([0.5, 1.0]), {"model": "m", "cost": 0.1})
    b = SqliteContextStore(tmp_path / "c.db")
    np.testing.assert_array_equal(b.take("r")[0], [0.5, 1.0])
    with pytest.raises(DuplicateFeedbackError):
        a.take("r")


def test_sqlite_write_failure_raises(tmp_path):
    store = SqliteContextStore(tmp_path / "c.db", timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="cannot write"):
            store.put("r", np.ones(2), {})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.put("r", np.ones(2), {})
    with pytest.raises(StoreError, match="cannot write"):
        store.put("s", np.ones(2), {"bad": object()})


def test_sqlite_unopenable_path(tmp_path):
    with pytest.raises(StoreError):
        SqliteContextStore(tmp_path / "no" / "such" / "dir" / "c.db")


def test_router_with_sqlite_store(tmp_path):
    from paretobandit import BanditRouter

    router = BanditRouter.create(priors="none", seed=0, context_store=SqliteContextStore(tmp_path / "c.db"))
    _, log = router.route(np.zeros(25))
    router.process_feedback(log.request_id, 0.4)
    with pytest.raises(DuplicateFeedbackError):
        router.process_feedback(log.request_id, 0.4)
