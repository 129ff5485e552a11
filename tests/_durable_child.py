"""Child process of ``test_reliability_durable.py``: drive a deterministic stream through a durable router.

Usage: ``python _durable_child.py <directory> <ack-file>``. Opens (or recovers) the durable router,
records ``<journal position> <id prefix>`` of the new session in ``<ack-file>.sessions`` (every open starts
a session with a new request-id prefix, so the id of the ``j``-th route is the prefix of the session that
routed it plus ``j + 1``), resumes the stream at the journal position (every action of the stream
succeeds, so the number of
journaled calls is the number of completed actions), re-sends the last completed feedback (at-least-once
delivery) and checks it is rejected as a duplicate, prints ``ready``, then applies the remaining actions,
appending ``<index>\\n`` to the ack file (unbuffered ``os.write``) after each call returns. Checkpoints
every 37 actions (every ``$PB_CHECKPOINT_EVERY`` if set). The parent kills it with SIGKILL at random points.
"""

from __future__ import annotations

import os
import sys

import numpy as np

CREATE_KWARGS = {"priors": "none", "budget": 0.002, "seed": 11, "alpha": 0.1, "cost_penalty": 0.0}
N_ROUTES = 450
LAG = 3
CHECKPOINT_EVERY = 37


def actions(n_routes: int = N_ROUTES, seed: int = 5) -> list[tuple]:
    """The deterministic stream: routes (some with max_cost or greedy), lagged feedback, registry changes."""
    rng = np.random.default_rng(seed)
    acts: list[tuple] = []
    for i in range(n_routes):
        v = rng.normal(size=25)
        max_cost = 0.001 if i % 17 == 5 else None
        acts.append(("route", i, v, max_cost, i % 23 == 7))
        if i == 60:
            acts.append(("register", "newbie", 0.2, 0.4))
        if i == 200:
            acts.append(("reprice", "google/gemini-2.5-pro", 0.3, 2.0))
        if i >= LAG:
            cost = float(rng.random() * 0.004) if i % 3 else None
            acts.append(("feedback", i - LAG, float(rng.random() * 1.2 - 0.1), cost))
    for j in range(n_routes - LAG, n_routes):
        acts.append(("feedback", j, 0.5, None))
    acts.append(("remove", "newbie"))
    return acts


def read_sessions(path) -> list[tuple[int, str]]:
    """``[(first action index, id prefix)]`` of every session the child started, in order."""
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    return [(int(a), b) for a, b in (line.split() for line in text.split("\n") if line.strip())]


def action_prefix(sessions, action_index: int) -> str:
    """Id prefix of the session that executed action ``action_index``."""
    return [p for start, p in sessions if start <= action_index][-1]


def apply(router, act, rid) -> None:
    """Apply one action to ``router`` (durable or plain); ``rid(j)`` is the id of the j-th route."""
    kind = act[0]
    if kind == "route":
        _, _, v, max_cost, greedy = act
        if greedy:
            with router.exploit():
                router.route(v, max_cost=max_cost)
        else:
            router.route(v, max_cost=max_cost)
    elif kind == "feedback":
        _, j, reward, cost = act
        router.process_feedback(rid(j), reward, cost=cost)
    elif kind == "register":
        router.register_model(act[1], input_cost_per_m=act[2], output_cost_per_m=act[3], speed="fast")
    elif kind == "reprice":
        router.update_model_pricing(act[1], input_cost_per_m=act[2], output_cost_per_m=act[3])
    elif kind == "remove":
        router.remove_model(act[1])
    else:  # pragma: no cover
        raise ValueError(kind)


def main(directory: str, ack_path: str) -> int:
    from paretobandit import BanditRouter
    from paretobandit.errors import DuplicateFeedbackError

    acts = actions()
    router = BanditRouter.open(directory, **CREATE_KWARGS)
    start = router.journal_seq
    sessions_fd = os.open(ack_path + ".sessions", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(sessions_fd, f"{start} {router.id_prefix}\n".encode())
    os.close(sessions_fd)
    sessions = read_sessions(ack_path + ".sessions")
    route_at = {a[1]: i for i, a in enumerate(acts) if a[0] == "route"}

    def rid(j):
        return f"{action_prefix(sessions, route_at[j])}{j + 1}"

    done_feedback = [a for a in acts[:start] if a[0] == "feedback"]
    if done_feedback:  # at-least-once delivery: re-send the last feedback, whose ack may have been lost
        try:
            apply(router, done_feedback[-1], rid)
        except DuplicateFeedbackError:
            pass
        else:
            print("DUPLICATE APPLIED", flush=True)
            return 3
    print("ready", start, flush=True)
    fd = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    every = int(os.environ.get("PB_CHECKPOINT_EVERY", CHECKPOINT_EVERY))  # 1: most kills land in a checkpoint
    for k in range(start, len(acts)):
        apply(router, acts[k], rid)
        os.write(fd, f"{k}\n".encode())
        if k % every == 0:
            router.checkpoint()
    router.close()
    os.close(fd)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
