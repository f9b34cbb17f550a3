"""Issue 5's analyses on constructed data whose answers are known: skills, influence, calibration, trajectories."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from torch import nn

from better_rl_widget.analysis.calibration import (
    calibration,
    predict_values,
    table_calibration,
    value_trace,
)
from better_rl_widget.analysis.influence import (
    group_influence,
    label_groups,
    quantile_groups,
    start_influence,
)
from better_rl_widget.analysis.returns import returns_to_go
from better_rl_widget.analysis.skills import (
    compare_k,
    fit_skills,
    skill_stats,
    skill_timeline,
)
from better_rl_widget.analysis.trajectories import (
    episode_paths,
    episodes,
    map_regions,
    recurring_segments,
)
from better_rl_widget.envs import GridWorld

# Two tall rooms side by side, a door at the top of the wall: k-means alone cuts them across (top/bottom).
TWO_ROOMS = """\
#########
#...#...#
#.......#
#...#...#
#...#...#
#...#...#
#...#...#
#...#...#
#...#...#
#...#...#
#S..#..G#
#########"""


def two_room_rollouts(n_episodes=30, eps=0.8, seed=0):
    """ε-greedy walks (shortest path to the goal, ε random) from S in the left room to G in the right room."""
    env = GridWorld.from_layout(TWO_ROOMS)
    rng = np.random.default_rng(seed)
    succ = env.P.argmax(axis=2)
    goal = int(np.flatnonzero(env.terminal)[0])
    dist = np.full(env.n_states, np.inf)
    dist[goal] = 0
    for _ in range(env.n_states):
        dist = np.minimum(dist, 1 + dist[succ].min(axis=1))
        dist[goal] = 0
    cells, ep, st = [], [], []
    for e in range(n_episodes):
        s, _ = env.reset(seed=int(rng.integers(1 << 30)))
        for t in range(400):
            cells.append(env.state_cell[s])
            ep.append(e)
            st.append(t)
            a = int(rng.integers(4)) if rng.random() < eps else int(np.argmin(dist[succ[s]]))
            s, _r, term, _tr, _ = env.step(a)
            if term:
                break
    cells = np.array(cells, float)
    room = np.where(cells[:, 0] < 4, 0, np.where(cells[:, 0] > 4, 1, -1))  # -1: the doorway
    xy = cells + rng.normal(0, 0.15, cells.shape)  # a map where each cell is a small blob
    return xy, np.array(ep), np.array(st), room


@pytest.mark.parametrize("seed", [0, 3])
def test_two_rooms_split_into_two_skills(seed):
    xy, ep, st, room = two_room_rollouts(seed=seed)
    inside = room >= 0
    sk = fit_skills(xy, ep, st, k=2, seed=seed)
    assert adjusted_rand_score(room[inside], sk.labels[inside]) > 0.9
    # The rooms are tall: without time, k-means cuts them top/bottom instead.
    km = KMeans(2, n_init=4, random_state=0).fit_predict(xy)
    assert adjusted_rand_score(room[inside], km[inside]) < 0.3
    # The start room is skill 0 (numbered by first visit); the skill graph is the door in both directions.
    assert np.bincount(sk.labels[inside & (room == 0)]).argmax() == 0
    np.testing.assert_allclose(sk.transitions, [[0, 1], [1, 0]])
    assert sk.coherence > skill_stats(km, xy, ep, st).coherence
    table = pd.DataFrame({"slot": np.arange(len(xy)), "episode": ep, "episode_step": st})
    tl = skill_timeline(table, sk.labels)
    first = tl.groupby("episode").first()
    last = tl.groupby("episode").last()
    assert (first["skill"] == 0).all() and (last["skill"] == 1).mean() > 0.9
    assert tl["length"].sum() == len(xy)


def test_compare_k_scores_each_k():
    xy, ep, st, _ = two_room_rollouts(n_episodes=10)
    one = fit_skills(xy, ep, st, k=1)
    assert one.k == 1 and one.coherence == 1.0 and one.transition_entropy == 0.0
    with pytest.raises(ValueError, match="cannot form"):
        fit_skills(xy[:3], ep[:3], st[:3], k=4)
    df = compare_k(xy, ep, st, ks=(2, 3, 5))
    assert df["k"].tolist() == [2, 3, 5]
    assert df["explained_variance"].is_monotonic_increasing
    assert ((df["transition_entropy"] >= 0) & (df["transition_entropy"] <= 1)).all()
    assert df["coherence"].iloc[0] > df["coherence"].iloc[-1]  # more skills, more hand-overs


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x):
        return self.net(x)


def consistent_rows(net, n=2000, seed=0, gamma=0.9):
    """Transitions whose rewards make every TD-error exactly 0 for ``net`` (so only a perturbed group has any)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    nxt = rng.normal(size=(n, 4)).astype(np.float32)
    action = rng.integers(0, 3, n)
    term = rng.random(n) < 0.1
    with torch.no_grad():
        q = net(torch.as_tensor(obs)).numpy()[np.arange(n), action]
        v = net(torch.as_tensor(nxt)).numpy().max(axis=1)
    reward = (q - gamma * (1 - term) * v).astype(np.float32)
    return {"obs": obs, "action": action, "reward": reward, "next_obs": nxt, "terminated": term}


def test_large_td_group_moves_the_policy_more_than_random_groups():
    torch.manual_seed(0)
    net = MLP()
    rows = consistent_rows(net)
    hot = np.arange(0, 2000, 10)  # 200 rows
    rows["reward"][hot] += 5.0  # their TD-errors are 5, everyone else's 0
    before = [p.detach().clone() for p in net.parameters()]
    df = group_influence(net, rows, {"hot": hot}, gamma=0.9, steps=10, lr=1e-2, n_random=5, seed=0)
    r = df.iloc[0]
    assert r["complete"] and r["n_random"] == 5 and r["size"] == 200
    assert r["dq"] > 3 * r["dq_random"] and r["dq_z"] > 5
    assert r["flipped"] > r["flipped_random"]
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # the live network is untouched

    # By TD-error quantile: only the top quartile holds the hot rows, and it is the most influential.
    from better_rl_widget.analysis.td import td_errors
    td = td_errors(net, None, rows["obs"], rows["action"], rows["reward"], rows["next_obs"], rows["terminated"],
                   gamma=0.9).td_error
    groups = quantile_groups(td, 4)
    assert set(hot) <= set(groups["q75-100%"])
    df = group_influence(net, rows, groups, gamma=0.9, steps=10, lr=1e-2, n_random=3)
    assert df["group"].iloc[df["dq"].argmax()] == "q75-100%"
    assert df["dq"].iloc[0] < df["dq_random"].iloc[0]  # the zero-TD quartile is below random


def test_influence_budget_and_background_thread():
    net = MLP()
    rows = consistent_rows(net, n=400)
    groups = label_groups(np.arange(400) % 4)
    assert list(groups) == ["skill 0", "skill 1", "skill 2", "skill 3"]
    df = group_influence(net, rows, groups, n_random=2, budget_s=0.0)  # nothing fits: no rows, not a crash
    assert len(df) == 0 and not df.attrs["complete"]
    fut = start_influence(net, rows, {"a": np.arange(50)}, n_random=2)
    assert fut.result(timeout=60)["n_random"].iloc[0] == 2
    with pytest.raises(ValueError, match="outside"):
        group_influence(net, rows, {"bad": np.array([400])})
    with pytest.raises(ValueError, match="empty"):
        group_influence(net, rows, {"none": np.array([], int)})


class ReturnNet(nn.Module):
    """Q(s, ·) = the true return-to-go stored in the observation's last component, for every action."""

    def forward(self, x):
        return x[:, -1:].repeat(1, 2)


def test_calibration_is_the_identity_for_a_network_that_predicts_true_returns():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 40, size=30)
    episode = np.repeat(np.arange(30), lengths)
    step = np.concatenate([np.arange(n) for n in lengths])
    reward = rng.normal(size=len(episode)).astype(np.float32)
    done = np.concatenate([np.r_[np.zeros(n - 1), 1] for n in lengths]).astype(bool)
    done[episode == 29] = False  # the newest episode is unfinished: no known return
    g = returns_to_go(episode, step, reward, done, gamma=0.95)
    obs = np.c_[rng.normal(size=(len(g), 3)), np.nan_to_num(g)].astype(np.float32)
    q, v = predict_values(ReturnNet(), obs, rng.integers(0, 2, len(g)))
    q[episode == 29] = 123.0  # wrong, but must not count: its return is unknown
    cal = calibration(q, g, n_bins=8)
    assert len(cal.points) == (episode != 29).sum()
    assert cal.bias == pytest.approx(0.0, abs=1e-6) and cal.mae == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(cal.bins["predicted"], cal.bins["realised"], atol=1e-5)
    assert cal.bins["count"].sum() == len(cal.points) and len(cal.bins) == 8
    # An optimistic network over-estimates by exactly its offset.
    assert calibration(q + 2.0, g).bias == pytest.approx(2.0, abs=1e-5)
    table = pd.DataFrame({"slot": np.arange(len(g)), "episode": episode, "episode_step": step, "reward": reward,
                          "done": done, "q": q, "value": v})
    assert table_calibration(table, "q", gamma=0.95).bias == pytest.approx(0.0, abs=1e-6)
    trace = value_trace(table, 3, gamma=0.95)
    assert trace["episode_step"].tolist() == list(range(lengths[3]))
    np.testing.assert_allclose(trace["value"], trace["return"], atol=1e-5)
    with pytest.raises(ValueError, match="not in the table"):
        value_trace(table, 99)
    with pytest.raises(ValueError, match="no 'td' column"):
        table_calibration(table, "td")


def corridor_table(n_episodes=12, seed=0):
    """Episodes walking a ring of 6 map positions; episodes 0, 3, 6, ... take the detour 0→1→4 instead of 0→1→2."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [4, 0], [8, 0], [8, 4], [4, 8], [0, 8]], float)
    rows = []
    slot = 0
    for e in range(n_episodes):
        path = [0, 1, 4, 5] if e % 3 == 0 else [0, 1, 2, 3]
        t = 0
        for pos in path:
            for _ in range(rng.integers(2, 5)):  # a few steps in each region
                x, y = centres[pos] + rng.normal(0, 0.2, 2)
                rows.append((slot, x, y, e, t, pos))
                slot += 1
                t += 1
    return pd.DataFrame(rows, columns=["slot", "x", "y", "episode", "episode_step", "pos"])


def test_recurring_segments_count_the_paths_taken():
    table = corridor_table().sample(frac=1.0, random_state=0)  # rows in any order
    labels, _centres = map_regions(table[["x", "y"]].to_numpy(), 6)
    assert adjusted_rand_score(table["pos"], labels) == 1.0
    seg = recurring_segments(table, labels, length=3)
    # Map regions to positions to read the answer: 0→1→2 (8 episodes), 1→2→3 (8), 0→1→4 and 1→4→5 (4 each).
    to_pos = dict(zip(labels, table["pos"]))
    got = {tuple(to_pos[r] for r in s): c for s, c in zip(seg["segment"], seg["count"])}
    assert got == {(0, 1, 2): 8, (1, 2, 3): 8, (0, 1, 4): 4, (1, 4, 5): 4}
    top = seg.iloc[0]
    assert top["n_episodes"] == 8 and len(top["episodes"]) == 8
    want = table[table["episode"].isin(top["episodes"]) & table["pos"].isin([0, 1, 2])
                 if tuple(to_pos[r] for r in top["segment"]) == (0, 1, 2)
                 else table["episode"].isin(top["episodes"]) & table["pos"].isin([1, 2, 3])]["slot"]
    assert set(top["slots"].tolist()) == set(want.tolist())
    assert len(recurring_segments(table, labels, length=3, min_count=5)) == 2
    with pytest.raises(ValueError, match="at least 2"):
        recurring_segments(table, labels, length=1)


def test_episodes_and_paths():
    table = corridor_table().sample(frac=1.0, random_state=1)
    last = episodes(table, last=3)
    assert sorted(last["episode"].unique()) == [9, 10, 11]
    assert (last.groupby("episode")["episode_step"].diff().dropna() == 1).all()
    paths = episode_paths(table, last=2)
    assert list(paths) == [10, 11]
    t = table.set_index("slot")
    assert (np.diff(t.loc[paths[11], "episode_step"].to_numpy()) == 1).all()
    with pytest.raises(ValueError, match="positive"):
        episodes(table, last=0)


def test_figures_draw_the_numbers():
    from better_rl_widget.analysis import figures

    table = corridor_table()
    labels, _ = map_regions(table[["x", "y"]].to_numpy(), 6)
    fig = figures.trajectories_figure(table, last=3)
    assert [t.name for t in fig.data[1:]] == ["episode 9", "episode 10", "episode 11"]
    assert figures.segments_figure(table, recurring_segments(table, labels), top=2).data[1].name.endswith("×8")
    sk = fit_skills(table[["x", "y"]].to_numpy(), table["episode"].to_numpy(), table["episode_step"].to_numpy(), 3)
    assert len(figures.skills_map_figure(table, sk).data) == 3
    graph = figures.skill_graph_figure(sk)
    assert len(graph.data[0].x) == 3 and len(graph.layout.annotations) == int((sk.transitions >= 0.05).sum())
    assert len(figures.skill_timeline_figure(skill_timeline(table, sk.labels)).data) == 3
    g = np.linspace(0, 5, 50)
    cal_fig = figures.calibration_figure(calibration(g + 1.0, g))
    assert "+1.000 (over-estimates)" in cal_fig.layout.title.text
    trace = pd.DataFrame({"episode_step": np.arange(5), "reward": np.ones(5), "value": np.arange(5.0),
                          "return": np.arange(5.0)})
    assert [t.name for t in figures.value_trace_figure(trace).data] == ["reward", "V(s)", "return-to-go"]
    df = pd.DataFrame([["a", 10, 0.1, 0.5, 0.0, 0.0, 0.1, 0.01, 3, 40.0, True]],
                      columns=["group", "size", "flipped", "dq", "flipped_random", "flipped_random_std", "dq_random",
                               "dq_random_std", "n_random", "dq_z", "complete"])
    assert len(figures.influence_figure(df).data) == 4
    assert len(figures.compare_k_figure(compare_k(table[["x", "y"]].to_numpy(), table["episode"].to_numpy(),
                                                   table["episode_step"].to_numpy(), ks=(2, 3))).data) == 3


def test_the_analyses_run_on_a_live_hook():
    """A short reference-DQN run streamed by a real hook: the table, calibration, skills and influence read it."""
    from better_rl_widget import BufferWidget, TrainingHook
    from better_rl_widget.agents.dqn import DQN, DQNConfig
    from better_rl_widget.analysis.influence import hook_batch
    from better_rl_widget.analysis.skills import table_skills
    from better_rl_widget.analysis.trajectories import buffer_table

    agent = DQN("CartPole-v1", DQNConfig(buffer_size=2_000, learning_starts=200), seed=0)
    widget = BufferWidget()
    with TrainingHook(widget, agent.buffer, every=5, projection="pca", max_points=50_000, q_network=agent.q,
                      target_network=agent.q_target) as hook:
        agent.learn(1_500, callback=hook.on_step)
    table = buffer_table(hook)
    assert len(table) == 1_500 and table["slot"].is_unique
    assert {"x", "y", "episode", "episode_step", "q", "value", "td_error", "return"} <= set(table.columns)
    xy = widget.frame_state.coords(table["slot"].to_numpy())
    np.testing.assert_array_equal(xy[:, 0], table["x"].to_numpy(np.float32))
    cal = table_calibration(table, "q")
    assert len(cal.points) == np.isfinite(table["return"]).sum() > 1_000
    sk = table_skills(table, k=3)
    assert sk.k == 3 and sk.counts.sum() == len(table)
    slots, rows = hook_batch(hook)
    assert len(slots) == len(table)
    groups = {"top TD": np.argsort(-np.abs(table.set_index("slot").loc[slots, "td_error"].to_numpy()))[:100]}
    df = group_influence(agent.q, rows, groups, target_network=agent.q_target, n_random=2, steps=3)
    assert df["complete"].all() and np.isfinite(df["dq"]).all()


def test_interpret_service_publishes_the_panels_data():
    """enable_interpret: skills on the map's skill channel, the skill graph, calibration, paths, trace, influence."""
    from better_rl_widget import BufferWidget, TrainingHook
    from better_rl_widget.agents.dqn import DQN, DQNConfig
    from better_rl_widget.frames.codec import decode

    agent = DQN("CartPole-v1", DQNConfig(buffer_size=2_000, learning_starts=200), seed=0)
    widget = BufferWidget()
    hook = TrainingHook(widget, agent.buffer, every=5, projection="pca", max_points=50_000, q_network=agent.q,
                        target_network=agent.q_target)
    svc = widget.enable_interpret(hook, k=3, last=2, every_s=30.0)
    agent.learn(1_200, callback=hook.on_step)
    hook.close()
    start = svc.refreshes
    svc.refresh()
    assert svc.wait(start + 1)
    meta, a = decode(widget.interpret)
    assert meta["k"] == 3 and meta["n"] == 1_200 and not widget.errors
    slots = svc.table["slot"].to_numpy()
    np.testing.assert_array_equal(widget.frame_state.column("skill", slots), svc.skills.labels)
    assert a["skill_counts"].sum() == 1_200 and a["skill_transitions"].shape == (3, 3)
    assert set(meta["scores"]) >= {"transition_entropy", "coherence", "explained_variance"}
    assert meta["calibration"]["value"] == "q" and len(a["cal_predicted"]) == min(1_500, meta["calibration"]["n"])
    # Paths: the 2 newest episodes, each in step order.
    assert len(meta["paths"]) == 2 and a["path_offsets"][-1] == len(a["path_slots"])
    t = svc.table.set_index("slot")
    for i, ep in enumerate(meta["paths"]):
        part = a["path_slots"][a["path_offsets"][i]:a["path_offsets"][i + 1]].astype(np.int64)
        assert (t.loc[part, "episode"] == ep).all() and (np.diff(t.loc[part, "episode_step"]) == 1).all()
    assert len(a["trace_step"]) == (t["episode"] == meta["trace_episode"]).sum()
    skill_of = dict(zip(slots.tolist(), svc.skills.labels.tolist()))  # the timeline: each path step's skill
    assert a["path_skill"].tolist() == [skill_of[int(s)] for s in a["path_slots"]]
    # The view picks one episode, then asks for the influence of TD-error quartiles.
    ep = int(t["episode"].iloc[0])
    svc._on_msg(None, {"type": "interpret", "episode": ep}, [])
    assert svc.wait(start + 2)
    assert decode(widget.interpret)[0]["paths"] == [ep]
    svc._on_msg(None, {"type": "influence", "group": "td", "budget_s": 60}, [])
    assert svc.wait(start + 3, timeout=120)
    meta, a = decode(widget.interpret)
    assert meta["influence"]["groups"] == ["q0-25%", "q25-50%", "q50-75%", "q75-100%"]
    assert len(a["influence_dq"]) == 4 and np.isfinite(a["influence_dq_random"]).all()
    svc._on_msg(None, {"type": "influence", "group": "selection"}, [])
    assert svc.wait(start + 4)
    assert "lasso" in decode(widget.interpret)[0]["influence"]["message"]
    svc._on_msg(None, {"type": "influence", "group": "priority"}, [])
    assert svc.wait(start + 5)
    assert "not a prioritized buffer" in decode(widget.interpret)[0]["influence"]["message"]
    widget.selection_bytes = np.arange(0, 300, dtype="<u4").tobytes()  # what a lasso sends
    svc._on_msg(None, {"type": "influence", "group": "selection", "budget_s": 60}, [])
    assert svc.wait(start + 6, timeout=120)
    meta = decode(widget.interpret)[0]["influence"]
    assert meta["groups"] == ["selection"] and meta["sizes"] == [300]
    svc.close()


def test_labels_for_rows_read_later():
    from better_rl_widget.analysis.trajectories import labels_for

    table = pd.DataFrame({"slot": [5, 6, 7], "step": [105, 106, 107]})
    got = labels_for(table, np.array([0, 1, 2]), np.array([7, 5, 8, 6]), np.array([107, 105, 108, 206]))
    assert got.tolist() == [2, 0, -1, -1]  # slot 8 is new; slot 6 was overwritten since the table was read


def test_short_stays_do_not_make_segments():
    from better_rl_widget.analysis.trajectories import region_sequences

    table = pd.DataFrame({"slot": np.arange(7), "episode": 0, "episode_step": np.arange(7)})
    regions = np.array([0, 0, 1, 0, 0, 2, 2])  # a one-step brush into region 1
    seq, runs = region_sequences(table, regions)[0]
    assert seq.tolist() == [0, 1, 0, 2]
    seq, runs = region_sequences(table, regions, min_dwell=2)[0]
    assert seq.tolist() == [0, 2] and [r.tolist() for r in runs] == [[0, 1, 3, 4], [5, 6]]


def test_interpret_service_without_a_network_and_idle_when_nothing_changes():
    import time

    from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
    from better_rl_widget.frames.codec import decode

    buf = ReplayBuffer(1_000)
    rng = np.random.default_rng(0)
    for i in range(600):
        o = rng.normal(size=4).astype(np.float32)
        buf.add(o, i % 2, 1.0, o, i % 50 == 49)
    widget = BufferWidget()
    with TrainingHook(widget, buf, projection="pca") as hook:
        hook.flush()
    svc = widget.enable_interpret(hook, k=2, every_s=0.2)
    assert svc.wait(1)
    meta, a = decode(widget.interpret)
    assert meta["calibration"] is None and "q_network" in meta["message"] and "cal_predicted" not in a
    assert len(a["skill_counts"]) == 2 and "trace_value" not in a and len(a["trace_reward"]) == 50
    n = svc.refreshes
    time.sleep(1.5)  # 7 periods: the map did not change, so nothing is recomputed
    assert svc.refreshes == n
    seq = widget.frame_state.seq
    svc.refresh()  # forced: recomputed, but the same skills send no delta
    assert svc.wait(n + 1)
    assert widget.frame_state.seq == seq
    n += 1
    svc.request_influence("td")
    assert svc.wait(n + 1)
    assert "q_network" in decode(widget.interpret)[0]["influence"]["message"]
    svc.request_influence("nonsense")
    assert "unknown group" in widget.errors[-1]
    with pytest.raises(ValueError, match="every_s"):
        widget.enable_interpret(hook, every_s=0)
    assert widget._interpret is svc and svc._thread.is_alive()  # a bad call leaves the running panels alone
    second = widget.enable_interpret(hook, k=3)
    assert not svc._thread.is_alive() and second.wait(1)
    widget._handle_custom_msg({"type": "interpret", "k": 4}, [])  # as the view sends it
    assert second.k == 4 and svc.k == 2  # only the running panels answer
    second.close()


def test_state_action_features():
    from better_rl_widget.analysis.state_action import (
        state_action_features,
        state_action_map,
    )

    torch.manual_seed(0)
    net = MLP()
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(300, 4)).astype(np.float32)
    action = rng.integers(0, 3, 300)
    f = state_action_features(net, obs, action, "qhead")
    with torch.no_grad():
        q = net(torch.as_tensor(obs)).numpy()[np.arange(300), action]
    bias = net.net[-1].bias.detach().numpy()[action]
    np.testing.assert_allclose(f.sum(axis=1) + bias, q, rtol=1e-4, atol=1e-5)  # contributions sum to Q(s, a)
    g = state_action_features(net, obs, action, "append")
    assert g.shape == (300, 32 + 3)
    onehot = g[:, 32:] / g[:, 32:].max()
    np.testing.assert_array_equal(onehot.argmax(axis=1), action)
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    # The same state under two actions: identical state features, different pair features.
    two = state_action_features(net, np.repeat(obs[:1], 2, axis=0), np.array([0, 1]), "append")
    np.testing.assert_array_equal(two[0, :32], two[1, :32])
    assert not np.array_equal(two[0], two[1])
    xy = state_action_map(net, obs, action, per_action=60)
    assert xy.shape == (300, 2) and np.isfinite(xy).all()
    with pytest.raises(ValueError, match="how must be"):
        state_action_features(net, obs, action, "nope")
    with pytest.raises(ValueError, match="actions must lie"):
        state_action_features(net, obs, np.full(300, 5), "qhead")


def test_interpret_overhead_benchmark_json():
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "interpret_overhead.py"), "--json", "--steps",
                          "1500", "--pairs", "1", "--every-s", "0.3", "--worker", "thread"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"ratio", "with_panels_steps_s", "without_steps_s", "cpu_per_refresh_s", "core_fraction"} <= set(r)
    assert r["refreshes"][0] >= 1 and r["cpu_per_refresh_s"] > 0 and 0 < r["core_fraction"] < 1


def test_features_ignore_forward_passes_of_other_threads():
    """The hooks sit on the user's live network: a training thread or the panels' service may run it at the same
    time, on another batch. Those passes must not be taken for ours (seen once as a reshape error in a notebook)."""
    import threading

    from better_rl_widget.analysis.network_hooks import this_thread_only
    from better_rl_widget.analysis.plasticity import layer_activations
    from better_rl_widget.analysis.state_action import state_action_features

    torch.manual_seed(0)
    net = MLP()
    seen: list[int] = []
    handle = net.net[-1].register_forward_pre_hook(this_thread_only(lambda _m, inp: seen.append(len(inp[0]))))
    try:
        other = threading.Thread(target=lambda: net(torch.zeros(7, 4)))
        other.start()
        other.join()
        net(torch.zeros(5, 4))
    finally:
        handle.remove()
    assert seen == [5]  # the other thread's pass of 7 rows was not taken

    rng = np.random.default_rng(0)
    obs = rng.normal(size=(300, 4)).astype(np.float32)
    action = rng.integers(0, 3, 300)
    alone = state_action_features(net, obs, action, "qhead")
    acts = layer_activations(net, torch.as_tensor(obs))
    stop = threading.Event()

    def busy() -> None:  # another thread running the same network on batches of 64, as training does
        x = torch.zeros(64, 4)
        with torch.no_grad():
            while not stop.is_set():
                net(x)

    t = threading.Thread(target=busy, daemon=True)
    t.start()
    try:
        for _ in range(50):
            np.testing.assert_array_equal(state_action_features(net, obs, action, "qhead"), alone)
            again = layer_activations(net, torch.as_tensor(obs))
            assert all(np.array_equal(again[k], acts[k]) for k in acts)
    finally:
        stop.set()
        t.join(5.0)
