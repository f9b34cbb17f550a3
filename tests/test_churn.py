"""Policy churn (capture/churn.py): greedy-action flips and ΔQ between the current network snapshot and one taken
``churn_lag_steps`` earlier, per drawn state, and the fraction flipped as a trace over training.

Known answers: a network Q(s) = (s0, −s0, b2) has greedy action 0 or 1 by the sign of s0; raising the bias b2 to c
makes action 2 greedy exactly where |s0| < c, so flips = #{|s0| < c} and ΔQ = max(c, |s0|) − |s0|."""

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from better_rl_widget import BufferWidget, LiveOptions, ReplayBuffer, TrainingHook  # noqa: E402
from better_rl_widget.capture.churn import (  # noqa: E402
    KEEP,
    ChurnTrace,
    ChurnTracker,
    SnapshotQueue,
    churn_values,
)
from better_rl_widget.capture.engine import Engine, EngineInput  # noqa: E402
from better_rl_widget.capture.estimator import TDEstimator  # noqa: E402
from better_rl_widget.capture.mirror import BufferMirror  # noqa: E402
from better_rl_widget.embed import make_projection  # noqa: E402
from better_rl_widget.frames.codec import decode  # noqa: E402

C = 0.5  # the raised bias of action 2


def _sign_net() -> nn.Module:
    """Q(s) = (s0, −s0, 0) for s = (s0, s1): exact in float32, so flips and ΔQ have exact hand answers."""
    net = nn.Sequential(nn.Linear(2, 3))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]))
        net[0].bias.zero_()
    return net


def _raise_bias(net: nn.Module, c: float = C) -> None:
    with torch.no_grad():
        net[0].bias[2] = c


def _fill(buf: ReplayBuffer, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        o = rng.normal(size=2).astype(np.float32)
        buf.add(o, i % 3, 0.0, o, terminated=False)


def _expected(obs: np.ndarray, changed: bool) -> tuple[np.ndarray, np.ndarray]:
    a = np.abs(obs[:, 0].astype(np.float32))
    if not changed:
        return np.zeros(len(obs), np.float32), np.zeros(len(obs), np.float32)
    return (a < C).astype(np.float32), (np.maximum(a, np.float32(C)) - a).astype(np.float32)


def _rows(buf, slots):
    r = buf.read(slots, ("obs", "action", "reward", "terminated", "truncated", "episode", "episode_step", "next_obs"))
    r["done"] = np.logical_or(r["terminated"], r.pop("truncated")).astype(np.uint8)
    return r


# -- the pieces --------------------------------------------------------------------------------------------------
def test_snapshot_queue_keeps_a_bounded_set_and_returns_the_one_a_lag_old():
    q = SnapshotQueue(100)
    taken = []
    for step in range(0, 1001, 5):  # a refresh every 5 steps: a copy is kept every 100 / KEEP = 25 steps only
        q.offer(step, step, lambda s=step: taken.append(s) or s)
        q.reference(step)
        assert len(q.kept) <= KEEP + 2
    assert taken == list(range(0, 1001, 25))
    ref = q.reference(1000)
    assert ref is not None and 1000 - 100 - 25 < ref.step <= 1000 - 100
    assert SnapshotQueue(100).reference(50) is None


def test_churn_values_and_the_trace_is_bounded_and_spans_the_run():
    f, dq = churn_values(np.array([0, 1, 2]), np.array([1.0, 2.0, np.nan]), np.array([0, 2, 2]),
                         np.array([0.5, 2.0, 1.0]))
    np.testing.assert_array_equal(f, [0.0, 1.0, np.nan])
    np.testing.assert_array_equal(dq, [0.5, 0.0, np.nan])
    assert churn_values(None, np.ones(2), None, np.zeros(2))[0] is None  # actor-critic: no flips
    tr = ChurnTrace("10 steps", limit=20)
    for i in range(100):
        tr.add((i, i - 10, 0.25, 0.1, 7))
    st = tr.status()
    assert len(st["trace"]) <= 20 and st["trace"][0][0] == 0 and st["trace"][-1][0] == 99
    assert st["trace"][-1] == [99, 89, 0.25, 0.1, 7]


def test_options_validate_the_lag():
    assert LiveOptions().churn_lag_steps == 5000 and LiveOptions().churn_lag_s is None
    with pytest.raises(ValueError, match="churn_lag_steps"):
        LiveOptions(churn_lag_steps=-1)
    with pytest.raises(TypeError, match="churn_lag_steps"):
        LiveOptions(churn_lag_steps=1.5)
    for bad in (0, -2.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="churn_lag_s"):
            LiveOptions(churn_lag_s=bad)
    assert ChurnTracker.from_options(10, LiveOptions(churn_lag_steps=0)) is None
    assert ChurnTracker.from_options(10, LiveOptions(churn_lag_steps=0, churn_lag_s=3)).lag_label == "3 s"


# -- the engine: known answers -----------------------------------------------------------------------------------
class _Clock:
    """churn.py's clock, stepped by the test (a lag in seconds without sleeping)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    perf_counter = staticmethod(time.perf_counter)
    thread_time = staticmethod(time.thread_time)


def _engine(net, cap=300, **options):
    buf = ReplayBuffer(cap)
    _fill(buf, cap, seed=1)
    est = TDEstimator(net, n_actions=3, refresh_s=0.0)
    mirror = BufferMirror(cap)
    eng = Engine(cap, make_projection("pca", cap, 0), LiveOptions(seed=0, td_budget_s=30.0, projection="pca",
                                                                  **options), mirror=mirror, estimator=est)
    eng.td_sweep_s = 0.0  # a TD sweep (and with it a fresh snapshot) every frame
    slots = np.arange(cap)
    mirror.apply(slots, _rows(buf, slots))
    return buf.read(slots, ("obs",))["obs"], eng, est, slots


def _engine_run(changed: bool, clock: _Clock | None = None):
    net = _sign_net()
    obs, eng, _est, slots = _engine(net, churn_lag_steps=100, churn_lag_s=None if clock is None else 5.0)
    first = eng.run(EngineInput(slots=slots, drain=True, force_new=True, hook_step=10))
    assert "flipped" not in first.fields and first.churn == []  # nothing a lag old yet
    if changed:
        _raise_bias(net)
    if clock is not None:
        clock.now += 6.0
    second = eng.run(EngineInput(hook_step=150))
    return obs, second


@pytest.mark.parametrize("changed", [False, True])
def test_engine_churn_equals_the_hand_count(changed):
    obs, res = _engine_run(changed)
    s_f, flipped = res.fields["flipped"]
    s_d, dq = res.fields["dq"]
    np.testing.assert_array_equal(s_f, np.arange(len(obs)))
    np.testing.assert_array_equal(s_d, np.arange(len(obs)))
    want_f, want_dq = _expected(obs, changed)
    np.testing.assert_array_equal(flipped, want_f)
    np.testing.assert_array_equal(dq, want_dq)
    assert len(res.churn) == 1
    step, then, frac, med, n = res.churn[0]
    assert (step, then, n) == (150, 10, len(obs))
    assert frac == pytest.approx(want_f.mean()) and med == pytest.approx(np.median(want_dq))
    assert (frac > 0.1) == changed  # the known change flips a real share of the states (|s0| < 0.5: ~38 %)


def test_engine_churn_with_a_lag_in_seconds(monkeypatch):
    from better_rl_widget.capture import churn

    clock = _Clock()
    monkeypatch.setattr(churn, "time", clock)
    obs, res = _engine_run(True, clock)
    np.testing.assert_array_equal(res.fields["flipped"][1], _expected(obs, True)[0])
    np.testing.assert_array_equal(res.fields["dq"][1], _expected(obs, True)[1])


def test_a_network_that_fails_switches_churn_off_with_a_note_and_the_map_goes_on():
    _, eng, est, slots = _engine(_sign_net(), churn_lag_steps=1)
    eng.run(EngineInput(slots=slots, drain=True, force_new=True, hook_step=0))

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    est.churn_eval = broken
    res = eng.run(EngineInput(hook_step=5))
    assert any(n.startswith("policy churn off: RuntimeError: boom") for n in res.notes)
    assert "td_error" in res.fields and res.frame is not None and "flipped" not in res.fields


# -- through a real TrainingHook ---------------------------------------------------------------------------------
def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("worker", ["thread", "process"])
def test_churn_reaches_the_frame_state_and_the_widget_through_a_hook(worker):
    w = BufferWidget()
    buf = ReplayBuffer(400)
    net = _sign_net()
    hook = TrainingHook(w, buf, q_network=net, n_actions=3, worker=worker, every=1, churn_lag_steps=100,
                        snapshot_every_s=0.0, td_budget_s=30.0, projection="pca")
    try:
        _fill(buf, 300, seed=2)
        hook.on_step(step=50)  # copies the 300 rows; the engine snapshots the network at step 50
        assert hook.flush(60)
        assert hook.worker.mode == worker
        assert w.churn_trace.shape == (0, 3) and "churn" not in w.status  # no snapshot a lag old yet
        _raise_bias(net)
        _fill(buf, 20, seed=3)
        hook.on_step(step=400)  # 350 steps later: the step-50 snapshot is the reference
        assert hook.flush(60)
        assert _wait(lambda: len(w.churn_trace) >= 1), w.status
        lanes = np.flatnonzero(hook.worker.frame_state.present_mask())
        assert len(lanes) == 320
        obs = buf.read(lanes, ("obs",))["obs"]
        want_f, want_dq = _expected(obs, changed=True)
        fs = hook.worker.frame_state
        np.testing.assert_array_equal(fs.column("flipped", lanes), want_f)
        np.testing.assert_array_equal(fs.column("dq", lanes), want_dq)
        step, frac, med = w.churn_trace[-1]
        assert step == 400 and frac == pytest.approx(want_f.mean()) and med == pytest.approx(np.median(want_dq))
        assert w.status["churn"]["lag"] == "100 steps" and w.status["churn"]["trace"][-1][1] == 50
        w.publish_keyframe()
        meta, a = decode(w.keyframe)  # the view gets both channels
        assert {"flipped", "dq"} <= set(meta["channels"])
        order = np.argsort(a["slots"])
        np.testing.assert_array_equal(a["flipped"][order], want_f)
        assert w.errors == []
    finally:
        hook.close()


def test_an_unchanged_network_shows_no_churn_through_a_hook():
    w = BufferWidget()
    buf = ReplayBuffer(200)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    hook = TrainingHook(w, buf, q_network=net, n_actions=3, worker="thread", every=1, churn_lag_steps=10,
                        snapshot_every_s=0.0, td_budget_s=30.0, projection="pca")
    try:
        _fill(buf, 150, seed=4)
        hook.on_step(step=1)
        assert hook.flush(60)
        _fill(buf, 10, seed=5)
        hook.on_step(step=100)
        assert hook.flush(60)
        assert _wait(lambda: len(w.churn_trace) >= 1), w.status
        lanes = np.flatnonzero(hook.worker.frame_state.present_mask())
        assert (hook.worker.frame_state.column("flipped", lanes) == 0).all()
        assert (hook.worker.frame_state.column("dq", lanes) == 0).all()
        assert w.churn_trace[-1].tolist() == [100.0, 0.0, 0.0]
    finally:
        hook.close()


def test_churn_off_adds_no_channels_and_no_trace():
    w = BufferWidget()
    buf = ReplayBuffer(100)
    net = _sign_net()
    hook = TrainingHook(w, buf, q_network=net, n_actions=3, worker="thread", every=1, churn_lag_steps=0,
                        snapshot_every_s=0.0, td_budget_s=30.0, projection="pca")
    try:
        _fill(buf, 80, seed=6)
        hook.on_step(step=1)
        assert hook.flush(60)
        _raise_bias(net)
        _fill(buf, 10, seed=7)
        hook.on_step(step=100_000)
        assert hook.flush(60)
    finally:
        hook.close()
    meta, _ = decode(w.keyframe)
    assert "flipped" not in meta["channels"] and "dq" not in meta["channels"] and "churn" not in w.status


# -- actor-critic: ΔV, no flips -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sac", "td3"])
def test_actor_critic_churn_is_the_change_in_v_and_has_no_flips(kind):
    """Raising the last bias of both online critics by c raises min(Q1, Q2) and so V by exactly c (the actor and
    α are unchanged); an unchanged policy gives dq == 0."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import SAC, TD3

    from better_rl_widget.capture.critic_estimator import CriticEstimator

    model = (SAC if kind == "sac" else TD3)("MlpPolicy", "Pendulum-v1", seed=0, device="cpu",
                                            policy_kwargs={"net_arch": [32, 32]})
    est = CriticEstimator(model.policy, kind=kind, alpha=(lambda: 0.2) if kind == "sac" else None, refresh_s=0.0)
    cap = 120
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(cap, 3)).astype(np.float32)
    rows = {"obs": obs, "next_obs": obs, "action": rng.uniform(-1, 1, (cap, 1)).astype(np.float32),
            "reward": np.zeros(cap, np.float32), "terminated": np.zeros(cap, bool),
            "episode": np.zeros(cap, np.int64), "episode_step": np.arange(cap), "done": np.zeros(cap, np.uint8)}
    mirror = BufferMirror(cap)
    slots = np.arange(cap)
    mirror.apply(slots, rows)
    eng = Engine(cap, make_projection("pca", cap, 0), LiveOptions(td_budget_s=30.0, projection="pca",
                                                                  churn_lag_steps=10), mirror=mirror, estimator=est)
    eng.td_sweep_s = 0.0
    eng.run(EngineInput(slots=slots, drain=True, force_new=True, hook_step=0))
    same = eng.run(EngineInput(hook_step=20))
    assert "flipped" not in same.fields and same.churn[0][2] is None
    np.testing.assert_array_equal(same.fields["dq"][1], np.zeros(cap, np.float32))
    with torch.no_grad():
        for q_net in model.policy.critic.q_networks:
            q_net[-1].bias += 0.75
    moved = eng.run(EngineInput(hook_step=40))  # reference: the step-0 or step-20 snapshot (both before the change)
    np.testing.assert_allclose(moved.fields["dq"][1], 0.75, atol=1e-5)
    assert moved.churn[0][3] == pytest.approx(0.75, abs=1e-5)
