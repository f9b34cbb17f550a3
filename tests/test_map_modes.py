"""Map modes (capture/map_modes.py): states, (state, action) pairs and windows of k pairs, switched live."""

import numpy as np
import pytest

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
from better_rl_widget.capture.map_modes import ActionCode, check_map_mode, read_context, window_rows
from better_rl_widget.capture.options import LiveOptions
from better_rl_widget.frames.codec import decode

from .conftest import browser_update, fill, keyframe_arrays

PATTERN = (1, 3, 0, 5)


def planted_stream(n_episodes: int = 24, ep_len: int = 25, n_actions: int = 6, p_start: float = 0.15,
                   seed: int = 0) -> tuple[ReplayBuffer, np.ndarray]:
    """Episodes of random actions in which the fixed sequence PATTERN recurs; states are N(0, 1) whatever the
    action. Returns the buffer and, per insertion, whether it ends a full PATTERN (the planted windows)."""
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(n_episodes * ep_len, seed=seed)
    planted = []
    for _ep in range(n_episodes):
        actions: list[int] = []
        ends: list[bool] = []
        while len(actions) < ep_len:
            if len(actions) + len(PATTERN) <= ep_len and rng.random() < p_start:
                actions += PATTERN
                ends += [False] * (len(PATTERN) - 1) + [True]
            else:
                a = int(rng.integers(n_actions))
                actions.append(a)
                ends.append(False)
        for t, a in enumerate(actions):
            o = rng.normal(size=4).astype(np.float32)
            buf.add(o, a, float(rng.random()), o, terminated=t == ep_len - 1)
        planted += ends
    return buf, np.asarray(planted)


def current(widget: BufferWidget) -> dict:
    widget.publish_keyframe()  # refreshed every 10 s while running: read the state now
    return keyframe_arrays(widget)[1]


def knn_purity(xy: np.ndarray, label: np.ndarray, k: int = 10) -> float:
    """Mean share of each labelled point's k nearest map neighbours that carry the label too."""
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy[label], return_distance=False)[:, 1:]
    return float(label[idx].mean())


def run_map(mode: str, buf: ReplayBuffer, planted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The map's coordinates (live t-SNE, settled on close) and the planted labels of its points."""
    widget = BufferWidget()
    with TrainingHook(widget, buf, map_mode=mode, window_k=4, projection="tsne", seed=0, worker="thread",
                      settle_s=8.0, max_fps=50):
        pass  # close(): the final capture, placement and settle pass
    _meta, a = keyframe_arrays(widget)
    assert len(a["slots"]) == len(planted)
    return np.stack([a["x"], a["y"]], axis=1), planted[a["step"].astype(np.int64)]


def test_planted_action_pattern_forms_its_own_cluster_in_windows_mode():
    """Known answer: windows ending at a planted A,B,C,D sequence sit among each other on the windows map; on the
    states map (same rows, same t-SNE) their neighbours are planted only at the base rate."""
    buf, planted = planted_stream()
    base = planted.mean()
    assert 0.05 < base < 0.2
    xy, label = run_map("windows", buf, planted)
    windows = knn_purity(xy, label)
    shuffled = knn_purity(xy, np.random.default_rng(1).permutation(label))  # same map, labels shuffled
    states = knn_purity(*run_map("states", buf, planted))
    print(f"kNN@10 purity of planted windows: windows {windows:.3f}, shuffled labels {shuffled:.3f}, "
          f"states {states:.3f}, base rate {base:.3f}")
    assert windows > 0.6
    assert shuffled < base + 0.1 and states < base + 0.1
    assert windows - max(shuffled, states) > 0.4


def test_read_context_same_episode_in_order_padded_at_start():
    buf = ReplayBuffer(50)
    for i in range(30):  # episodes of 7 steps: 0..6, 7..13, ...
        buf.add(np.full(2, i, np.float32), i % 5, float(i), np.zeros(2, np.float32), terminated=i % 7 == 6)
    slots = np.array([3, 9, 20, 29])
    rows = buf.read(slots)
    ctx = read_context(buf.read, rows, slots, 4, buf.capacity, 30)
    # slot 3 (episode 0, step 3): three real pairs 0, 1, 2
    assert ctx["ctx_step"][0].tolist() == [0, 1, 2] and ctx["ctx_valid"][0].tolist() == [1, 1, 1]
    # slot 9 (episode 1, its step 2): 7 and 8 are its own; 6 ends episode 0 -> padded by repeating step 7
    assert ctx["ctx_step"][1].tolist() == [7, 7, 8] and ctx["ctx_valid"][1].tolist() == [0, 1, 1]
    assert ctx["ctx_obs"][1, :, 0].tolist() == [7, 7, 8] and ctx["ctx_action"][1].tolist() == [2, 2, 3]
    assert ctx["ctx_reward"][1].tolist() == [7.0, 7.0, 8.0]
    # slot 20 (episode 2, step 6 of 14..20): 17, 18, 19
    assert ctx["ctx_step"][2].tolist() == [17, 18, 19] and ctx["ctx_valid"][2].all()
    # slot 29 (episode 4 starts at 28): 28 real, the rest repeat it
    assert ctx["ctx_step"][3].tolist() == [28, 28, 28] and ctx["ctx_valid"][3].tolist() == [0, 0, 1]


def test_read_context_skips_overwritten_rows_and_interleaved_envs():
    buf = ReplayBuffer(10)
    for i in range(14):  # one long episode; slots 0..3 hold insertions 10..13 now
        buf.add(np.full(2, i, np.float32), i % 3, 0.0, np.zeros(2, np.float32), terminated=False)
    rows = buf.read(np.array([1]))  # insertion 11: 10 is there, 9 and 8 too (slots 0, 9, 8)
    ctx = read_context(buf.read, rows, np.array([1]), 4, 10, 10)
    assert ctx["ctx_step"][0].tolist() == [8, 9, 10] and ctx["ctx_valid"][0].all()
    rows = buf.read(np.array([4]))  # insertion 4: overwritten neighbours 3, 2, 1 (slots hold 13, 12, 11)
    ctx = read_context(buf.read, rows, np.array([4]), 4, 10, 10)
    assert ctx["ctx_valid"][0].tolist() == [0, 0, 0] and ctx["ctx_step"][0].tolist() == [4, 4, 4]
    # two envs interleaved (insertion t·2 + e): env 1's earlier rows are 2 slots back
    from better_rl_widget.capture.record import RecordBuffer

    rec = RecordBuffer(40, n_envs=2)
    for t in range(6):
        o = np.array([[t, 0], [t, 1]], np.float32)
        rec.record(o, np.array([t, 10 + t]), np.zeros(2), o, np.zeros(2, bool), np.zeros(2, bool))
    s = np.array([11])  # t=5, env 1
    ctx = read_context(rec.read, rec.read(s), s, 3, 40, 12, stride=2)
    assert ctx["ctx_action"][0].tolist() == [13, 14] and ctx["ctx_obs"][0, :, 1].tolist() == [1, 1]


def test_window_rows_put_pairs_oldest_first_with_scaled_actions():
    code = ActionCode.fit(np.array([0, 1, 2]), n_actions=3)
    states = np.array([[1.0, 0.0]], np.float32)
    ctx_states = np.array([[[0.0, 1.0]]], np.float32)
    rows = window_rows(states, np.array([2]), ctx_states, np.array([[0]]), code, 2.0)
    assert rows.tolist() == [[0.0, 1.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0]]
    cont = ActionCode.fit(np.array([[0.0, 1.0], [2.0, 3.0]]))
    assert not cont.discrete and cont.width == 2
    assert np.allclose(np.linalg.norm(cont.encode(np.array([[0.0, 1.0]]))), 1.0)


def test_switching_modes_through_the_trait_rebuilds_the_projection():
    widget = BufferWidget()
    buf = ReplayBuffer(300)
    hook = TrainingHook(widget, buf, every=1, projection="pca", worker="thread", max_fps=100)
    fill(buf, 300)
    hook.flush()
    assert widget.map_mode == "states" and widget.window_k == 4
    assert widget.status["map_mode"]["mode"] == "states"
    before = hook.projection
    a0 = current(widget)
    widget.map_mode = "windows"  # as the view's select does (through the trait)
    assert hook.map_mode == ("windows", 4)
    assert hook.flush()
    a1 = current(widget)
    assert hook.projection is not before
    assert widget.status["map_mode"] == {"mode": "windows", "k": 4, "label": "windows of 4 (state, action) pairs"}
    assert any("projection rebuilt" in n for n in widget.status.get("notes", []))
    assert len(a1["slots"]) == len(a0["slots"]) == 300
    assert not np.allclose(a0["x"], a1["x"])  # new features: new coordinates
    # the engine embeds windows: 4 pairs of (4 state values + 8 action columns)
    _lanes, X, _xy = hook.worker.embedding_snapshot()
    assert X.shape == (300, 4 * (4 + 8))
    # k from the view, as a trait update from the browser
    browser_update(widget, window_k=2)
    assert hook.map_mode == ("windows", 2)
    hook.flush()
    assert widget.status["map_mode"]["k"] == 2 and hook.worker.embedding_snapshot()[1].shape == (300, 2 * 12)
    browser_update(widget, map_mode="state-actions")
    hook.flush()
    assert hook.worker.embedding_snapshot()[1].shape == (300, 12)
    hook.set_map_mode("states")
    hook.flush()
    assert widget.map_mode == "states" and hook.worker.embedding_snapshot()[1].shape == (300, 4)
    hook.close()
    assert widget.errors == []


def test_clicked_window_lists_its_pairs_and_points():
    widget = BufferWidget()
    buf = ReplayBuffer(200)
    hook = TrainingHook(widget, buf, every=1, projection="pca", worker="thread", map_mode="windows", window_k=3)
    fill(buf, 200)  # episodes of 25 steps: 0..24, 25..49, ...
    hook.flush()
    widget.clicked = 27  # episode 1, its step 2
    meta = decode(widget.inspection)[0]
    win = meta["window"]
    assert win["k"] == 3 and win["episode"] == 1
    assert win["steps"] == [25, 26, 27] and win["padded"] == [False, False, False]
    assert win["actions"] == [1, 0, 1] and win["rewards"] == [1.0, 2.0, 0.0]
    assert win["points"] == [25, 26, 27]
    widget.clicked = 51  # episode 2 starts at 50: one pair padded
    win = decode(widget.inspection)[0]["window"]
    assert win["steps"] == [50, 50, 51] and win["padded"] == [True, False, False] and win["points"] == [50, 51]
    hook.set_map_mode("states")
    hook.flush()
    widget.clicked = 27
    assert "window" not in decode(widget.inspection)[0]
    hook.close()


def test_sampled_map_reads_context_only_for_drawn_rows():
    widget = BufferWidget()
    buf = ReplayBuffer(2000)
    reads = []
    read = buf.read

    def counting_read(slots, fields=None):
        reads.append(len(slots))
        return read(slots, fields)

    buf.read = counting_read  # type: ignore[method-assign]
    hook = TrainingHook(widget, buf, every=1, projection="pca", worker="thread", map_mode="windows", window_k=4,
                        max_points=100)
    fill(buf, 2000)
    reads.clear()
    hook.flush()
    drawn = widget.n_points
    assert 0 < drawn <= 100
    assert sum(reads) <= drawn * 4 + 2 * 100  # the drawn rows and their 3 earlier pairs (+ a few re-reads)
    hook.close()


def test_windows_context_reaches_a_worker_process():
    """worker="process": the window context travels to the child with the rows (ENGINE_FIELDS)."""
    widget = BufferWidget()
    buf = ReplayBuffer(200)
    hook = TrainingHook(widget, buf, every=1, projection="pca", worker="process", max_fps=100)
    try:
        assert hook.worker.mode == "process"
        fill(buf, 200)
        hook.flush()
        hook.set_map_mode("windows", 3)
        assert hook.flush()
        _lanes, X, _xy = hook.worker.embedding_snapshot()
        assert X.shape == (200, 3 * (4 + 8))
        # a window's earlier pairs are the episode's earlier states: row 27's block 0 holds state 25
        i = int(np.flatnonzero(_lanes == 27)[0])
        assert np.allclose(X[i, :4], buf.read(np.array([25]))["obs"][0])
        assert np.allclose(X[i, 24:28], buf.read(np.array([27]))["obs"][0])
    finally:
        hook.close()
    assert widget.errors == []


def test_windows_of_network_features_follow_the_widgets_traits():
    """With a q_network the states are its features (the penultimate layer), for the earlier pairs too; a hook
    takes the mode from BufferWidget(map_mode=..., window_k=...)."""
    torch = pytest.importorskip("torch")
    from better_rl_widget.embed.pca import PCAProjection

    widths = []

    class Recording(PCAProjection):
        def add(self, slots, features):
            widths.append(np.asarray(features).shape)
            super().add(slots, features)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    widget = BufferWidget(map_mode="windows", window_k=3)
    buf = ReplayBuffer(200)
    hook = TrainingHook(widget, buf, every=1, projection=Recording(200), worker="thread", q_network=net,
                        n_actions=2)
    fill(buf, 200)
    hook.flush()
    assert hook.map_mode == ("windows", 3) and widths == [(200, 3 * (16 + 2))]
    with pytest.raises(ValueError, match="cannot be rebuilt"):  # a Projection object of the user's
        hook.set_map_mode("states")
    widget.map_mode = "states"  # from the view: refused, shown, and the select goes back
    assert widget.map_mode == "windows" and hook.map_mode == ("windows", 3)
    assert "cannot be rebuilt" in widget.errors[-1]
    hook.close()


@pytest.mark.parametrize(("mode", "k", "err"), [("pairs", 4, ValueError), ("windows", 0, ValueError),
                                                ("windows", 33, ValueError), ("windows", 2.5, TypeError),
                                                ("windows", "4", TypeError)])
def test_bad_mode_or_k_gives_a_clear_error(mode, k, err):
    with pytest.raises(err, match=r"map_mode|window_k"):
        check_map_mode(mode, k)
    with pytest.raises(err, match=r"map_mode|window_k"):
        LiveOptions(map_mode=mode, window_k=k)
    widget = BufferWidget()
    with pytest.raises(Exception, match=r"map_mode|window_k"):
        widget.map_mode, widget.window_k = mode, k


def test_bad_mode_from_the_view_is_refused_and_shown():
    widget = BufferWidget()
    hook = TrainingHook(widget, ReplayBuffer(10), projection="pca", worker="thread")
    browser_update(widget, map_mode="clusters")
    assert widget.map_mode == "states" and hook.map_mode == ("states", 4)
    assert "map_mode must be one of" in widget.errors[-1]
    hook.close()
    with pytest.raises(RuntimeError, match="closed"):
        hook.set_map_mode("windows")
