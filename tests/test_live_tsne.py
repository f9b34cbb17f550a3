"""The live t-SNE engine: placement, removal, determinism, bad input, stability and quality of a small live run."""

import numpy as np
import pytest
import scipy.sparse as sp
from openTSNE import TSNE
from sklearn.neighbors import NearestNeighbors

from better_rl_widget.embed import LiveTSNE, PCAProjection, Projection, make_projection
from better_rl_widget.embed.knn_graph import FAR, KNNGraph
from better_rl_widget.embed.live_tsne import _GRADIENT, _gradient_only
from better_rl_widget.embed.quality import knn_preservation_of


def blobs(n, d=8, centres=3, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    C = np.eye(centres, d) * 6.0
    lab = rng.integers(0, centres, n)
    return (C[lab] + rng.normal(scale=spread, size=(n, d))).astype(np.float32), lab


def run_steps(e, k):
    for _ in range(k):
        f = e.step(0.1)
    return f


def test_factory_and_hook_default():
    assert isinstance(make_projection("tsne", 100), LiveTSNE)
    auto = make_projection("auto", 100)
    assert isinstance(auto, Projection) and auto.name == "auto"
    assert isinstance(make_projection("pca", 100), PCAProjection)
    import inspect

    from better_rl_widget.capture.hook import TrainingHook
    assert inspect.signature(TrainingHook).parameters["projection"].default == "auto"


def test_knn_graph_stays_exact_through_inserts_and_removals():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(700, 5)).astype(np.float32)
    g = KNNGraph(700, 5, k=12, repair_fraction=1.0)  # repair every loss: the graph must equal brute force
    g.rebuild(np.arange(400), Z[:400])
    g.remove(np.arange(0, 100))
    g.insert(np.arange(400, 700), Z[400:])
    g.remove(np.arange(500, 550))
    live = np.flatnonzero(g.present)
    nn = NearestNeighbors(n_neighbors=13).fit(Z[live])
    truth = live[nn.kneighbors(Z[live], return_distance=False)[:, 1:]]
    assert np.mean([len(set(a) & set(b)) / 12 for a, b in zip(truth, g.nbr[live])]) > 0.99
    assert not np.isin(g.nbr[live], np.r_[0:100, 500:550]).any()


def test_new_point_is_placed_near_its_true_neighbours():
    X, lab = blobs(600)
    e = LiveTSNE(1000, seed=0, min_points=100)
    e.add(np.arange(600), X)
    run_steps(e, 30)
    new = np.array([[6.0, 0, 0, 0, 0, 0, 0, 0], [0, 6.0, 0, 0, 0, 0, 0, 0], [0, 0, 6.0, 0, 0, 0, 0, 0]], np.float32)
    e.add(np.array([700, 701, 702]), new)
    f = e.step(0.1)
    xy = dict(zip(f.slots.tolist(), f.coords))
    old = np.array([xy[i] for i in range(600)])
    for j, s in enumerate([700, 701, 702]):
        d = np.linalg.norm(old - xy[s], axis=1)
        nearest = lab[np.argsort(d)[:10]]
        assert (nearest == j).mean() >= 0.9  # on the map, among points of its own cluster
    assert f.info["pending"] == 0


def test_removal_leaves_no_trace():
    X, _ = blobs(400)
    e = LiveTSNE(500, seed=0, min_points=100)
    e.add(np.arange(400), X)
    run_steps(e, 5)
    gone = np.arange(0, 400, 3)
    e.remove(gone)
    e.remove(np.array([499, 10_000]))  # unknown and out-of-range slots are ignored
    f = e.step(0.1)
    assert not np.isin(f.slots, gone).any() and len(f.slots) == 400 - len(gone)
    g = e.graph
    live = np.flatnonzero(g.present)
    assert not g.present[gone].any()
    assert not np.isin(g.nbr[live][g.dist[live] < FAR], gone).any()
    P = e._affinities(live)
    assert P.shape == (len(live), len(live)) and np.isclose(P.sum(), 1.0)


def stream(seed_engine, seed_data=0):
    X, _ = blobs(900, seed=seed_data)
    e = LiveTSNE(600, seed=seed_engine, min_points=100)
    for i in range(0, 900, 150):  # wraps the ring: slots are evicted and replaced
        e.add(np.arange(i, i + 150) % 600, X[i:i + 150])
        if i == 450:
            e.remove(np.arange(0, 20))
        e.step(0.1)
    return run_steps(e, 3)


def test_same_seed_same_stream_same_coordinates():
    a, b = stream(0), stream(0)
    np.testing.assert_array_equal(a.slots, b.slots)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert a.extent == b.extent
    c = stream(1)
    assert not np.array_equal(a.coords, c.coords)


def test_duplicates_constant_features_and_nan_rows():
    e = LiveTSNE(800, seed=0, min_points=100)
    X, _ = blobs(300)
    dup = np.repeat(X[:1], 300, axis=0)  # replay buffers are full of repeated states
    e.add(np.arange(600), np.concatenate([X, dup]))
    bad = np.ones((5, 8), np.float32)
    bad[:, 3] = np.nan
    e.add(np.arange(600, 605), bad)
    f = run_steps(e, 10)
    assert np.isfinite(f.coords).all() and np.isfinite(f.extent).all()
    assert len(f.slots) == 600 and not np.isin(f.slots, np.arange(600, 605)).any()
    assert f.info["nan_rejected"] == 5 and "non-finite" in f.info["note"]
    c = LiveTSNE(300, seed=0, min_points=100)
    c.add(np.arange(200), np.full((200, 6), 3.0, np.float32))  # every feature constant
    f = run_steps(c, 3)
    assert np.isfinite(f.coords).all() and len(f.slots) == 200


def test_fewer_points_than_the_perplexity_needs():
    e = LiveTSNE(50, seed=0, min_points=4)
    X, _ = blobs(10)
    e.add(np.arange(10), X)
    f = run_steps(e, 5)
    assert np.isfinite(f.coords).all() and len(f.slots) == 10
    assert f.info["perplexity"] == 3.0 and "clamped" in f.info["note"]
    e.remove(np.arange(8))
    f = e.step(0.1)
    assert len(f.slots) == 2 and "too few" in f.info["note"] and np.isfinite(f.coords).all()


def test_burst_is_placed_over_several_frames_without_blowup():
    X, _ = blobs(6000, seed=3)
    e = LiveTSNE(6000, seed=0, min_points=100, max_place_per_step=1000)
    e.add(np.arange(500), X[:500])
    run_steps(e, 3)
    e.add(np.arange(500, 6000), X[500:6000])  # 10x the usual insertions at once
    f = e.step(0.1)
    assert f.info["pending"] == 4500 and "burst" in f.info["note"]
    while e.pending.any():
        f = e.step(0.1)
    assert len(f.slots) == 6000 and np.isfinite(f.coords).all()
    assert e.graph.nbr.shape == (6000, e.k)  # memory is fixed by capacity, not by the burst


def test_bad_calls_get_clear_errors():
    e = LiveTSNE(10)
    with pytest.raises(ValueError, match="features must be"):
        e.add(np.arange(3), np.zeros((2, 4), np.float32))
    e.add(np.arange(2), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="width changed"):
        e.add(np.arange(2), np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="slots must lie"):
        e.add(np.array([10]), np.zeros((1, 4), np.float32))


def test_auto_starts_from_the_pca_picture_and_keeps_converged_points_still():
    X, _ = blobs(700, seed=5)
    e = make_projection("auto", 1000, seed=0)
    e.add(np.arange(499), X[:499])
    f = e.step(0.1)
    assert f.info["phase"] == "pca" and len(f.slots) == 499
    pca_xy = dict(zip(f.slots.tolist(), f.coords))
    e.add(np.arange(499, 700), X[499:])
    e.step(0.1)  # the switch: first t-SNE frame starts from the PCA picture of the same points
    # right after the switch, the PCA picture is the t-SNE init: same layout up to scale
    old = np.array([pca_xy[i] for i in range(499)])
    start = e.coords[:499]
    assert abs(np.corrcoef(old[:, 0], start[:, 0])[0, 1]) > 0.8
    f = run_steps(e, 14)  # ~350 iterations: past early exaggeration, the expansion has slowed
    assert f.info["phase"] == "tsne" and f.info["iterations"] >= e.early_iter
    g1 = e.step(0.1)
    g2 = e.step(0.1)
    assert g1.extent == g2.extent  # no zoom jumps between frames of a converging map
    assert (g1.coords != g2.coords).any(axis=1).mean() < 0.9  # sub-tolerance moves are not republished
    f = run_steps(e, 20)  # no new points: the map settles and then rests
    assert f.info["phase"] == "resting"
    g3 = e.step(0.1)
    np.testing.assert_array_equal(f.coords, g3.coords)
    e.add(np.array([900]), X[:1])
    assert e.step(0.1).info["phase"] == "tsne" and e.step(0.1).info["iterations"] > g3.info["iterations"]


def test_small_live_run_keeps_knn_preservation_near_a_full_fit():
    """A rolling run (the buffer turns over twice) ends within 0.75x of a full openTSNE fit's kNN@10 on the same
    points. The benchmark reaches 0.9x+ at 500/s; 0.75 leaves room for the shorter run and a different stream."""
    X, _ = blobs(3000, d=10, centres=6, seed=7, spread=1.0)
    cap = 1000
    e = LiveTSNE(cap, seed=0, min_points=200)
    slot_row = np.zeros(cap, np.int64)
    for i in range(0, 3000, 100):
        sl = np.arange(i, i + 100) % cap
        e.add(sl, X[i:i + 100])
        slot_row[sl] = np.arange(i, i + 100)
        run_steps(e, 2)
    f = run_steps(e, 5)
    Z = e.reducer.transform(X[slot_row[f.slots]])
    full = np.asarray(TSNE(n_jobs=1, random_state=0).fit(Z))
    live_q = knn_preservation_of(Z, f.coords, k=10, sample=None)
    full_q = knn_preservation_of(Z, full, k=10, sample=None)
    assert live_q >= 0.75 * full_q, (live_q, full_q)
    assert 0 < f.info["knn_preservation"] <= 1


def test_buffers_beyond_max_points_stay_on_pca_with_a_note():
    X, _ = blobs(300)
    e = LiveTSNE(1000, seed=0, min_points=100, max_points=500)
    e.add(np.arange(300), X)
    f = run_steps(e, 2)
    assert f.info["phase"] == "pca" and "t-SNE off" in f.info["note"] and len(f.slots) == 300
    assert e.graph is None  # no t-SNE state was built


def test_joint_p_equals_scipys_symmetrisation():
    """Our sort-free (C + C^T) / sum holds the same matrix as scipy's (duplicates summed) and gives the same
    openTSNE gradient."""
    import scipy.sparse as sp
    from openTSNE.tsne import kl_divergence_bh

    from better_rl_widget.embed.live_tsne import _joint_p
    rng = np.random.default_rng(0)
    n, k = 300, 12
    cols = np.stack([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    cols[5, 3] = cols[40, 0] = -1  # evicted neighbours
    w = rng.random((n, k))
    P = _joint_p(cols, w)
    ok = cols >= 0
    C = sp.csr_matrix((w[ok], (np.repeat(np.arange(n), k)[ok.ravel()], cols[ok])), shape=(n, n))
    ref = (C + C.T).tocsr()
    ref /= ref.sum()
    np.testing.assert_allclose(P.toarray(), ref.toarray(), rtol=1e-12, atol=1e-18)
    Y = rng.normal(size=(n, 2))
    g = kl_divergence_bh(Y, P, dof=1, bh_params={"theta": 0.0})[1]
    g_ref = kl_divergence_bh(Y, ref, dof=1, bh_params={"theta": 0.0})[1]
    np.testing.assert_allclose(g, g_ref, rtol=1e-9, atol=1e-14)


def test_gradient_only_optimises_exactly_like_opentsne():
    """Skipping openTSNE's trailing KL evaluation must not change a single coordinate."""
    from openTSNE import TSNEEmbedding
    from openTSNE.affinity import PerplexityBasedNN

    from better_rl_widget.embed.live_tsne import _GRADIENT
    X, _ = blobs(400)
    aff = PerplexityBasedNN(X, perplexity=20, method="exact", random_state=0)
    init = np.random.default_rng(0).normal(size=(400, 2)) * 1e-2
    out = []
    for method in ("fft", _GRADIENT["fft"]):
        emb = TSNEEmbedding(init.copy(), aff, negative_gradient_method=method, random_state=0)
        out.append(np.asarray(emb.optimize(5, learning_rate=100.0)))
    np.testing.assert_array_equal(out[0], out[1])


def test_new_points_are_settled_before_they_are_first_shown():
    """openTSNE's transform step settles a frame of new points: their kNN-preservation on the first frame that
    shows them beats the median start clearly."""
    from better_rl_widget.embed.quality import knn_ids
    rng = np.random.default_rng(2)
    t = rng.random(2400) * 3 * np.pi + 1.5 * np.pi
    X = np.c_[t * np.cos(t), rng.random(2400) * 12.0, t * np.sin(t)].astype(np.float32)  # a swiss roll
    X += rng.normal(scale=0.1, size=X.shape).astype(np.float32)
    scores = []
    for refine in (0, 30):
        e = LiveTSNE(2400, seed=0, min_points=100, refine_iter=refine)
        e.add(np.arange(2000), X[:2000])
        run_steps(e, 40)
        e.add(np.arange(2000, 2400), X[2000:])
        f = e.step(0.1)
        rows = np.searchsorted(f.slots, np.arange(2000, 2400))
        hi = knn_ids(e.reducer.transform(X[f.slots]), 10, rows)
        lo = knn_ids(f.coords, 10, rows)
        scores.append((hi[:, :, None] == lo[:, None, :]).any(axis=2).mean())
    assert scores[1] > scores[0] + 0.1, scores


def test_large_buffer_defaults_iterations_and_publish_tolerance():
    """What a rolling 20k buffer needs (docs/embedding.md): perplexity 15 (45 neighbours a row), at least 3
    iterations a frame, and a publish tolerance below the neighbour spacing; small buffers keep openTSNE's 30."""
    big, small = LiveTSNE(20_000), LiveTSNE(5_000)
    assert (big.perplexity, big.k) == (15.0, 45) and (small.perplexity, small.k) == (30.0, 90)
    assert LiveTSNE(20_000, perplexity=30).k == 90
    assert big.iters_for(20_000) == 2 and big.iters_for(4_000) == 8 and big.iters_for(500) == 25
    assert big.publish_tol(20_000) < 0.1 / np.sqrt(20_000) + 1e-12 < big.move_tol
    assert small.publish_tol(1_000) == small.move_tol


def settle_until_done(e, budget_s=0.5, max_calls=100, **kw):
    """The caller's loop around ``LiveTSNE.settle``, bounded by a number of calls instead of the clock."""
    frames = []
    for _ in range(max_calls):
        frames.append(e.settle(budget_s, **kw))
        if frames[-1].info["settled"]:
            break
    return frames


def test_settle_takes_a_map_stopped_in_early_exaggeration_to_a_converged_one():
    """Training ended after ~40 iterations (still exaggerated: everything squeezed together) with a last batch not
    yet drawn: the settle pass places that batch, leaves early exaggeration and converges, within a bounded number
    of calls (a pass is at most settle_early_iter + settle_max_iter iterations, at least one block a call)."""
    X, _ = blobs(1650, d=10, centres=6, seed=7, spread=1.0)
    e = LiveTSNE(1650, seed=0, min_points=100)
    e.add(np.arange(1500), X[:1500])
    f = run_steps(e, 2)
    assert f.info["phase"] == "exaggeration" and f.info["iterations"] < e.early_iter
    before = knn_preservation_of(e.reducer.transform(X[:1500]), e.coords[:1500], k=10, sample=None)
    e.add(np.arange(1500, 1650), X[1500:])  # the last batch, pending
    frames = settle_until_done(e)
    f = frames[-1]
    assert f.info["settled"] and f.info["settle_progress"] == 1.0 and len(frames) < 100
    assert f.info["pending"] == 0 and len(f.slots) == 1650 and np.isfinite(f.coords).all()
    assert f.info["phase"] == "resting" and f.info["settle_iterations"] > 0
    after = knn_preservation_of(e.reducer.transform(X[f.slots]), e.coords[f.slots], k=10, sample=None)
    assert after > before + 0.2 and after > 0.35, (before, after)
    g = e.step(0.1)  # a settled map rests: no more work, no more deltas
    assert g.info["phase"] == "resting"
    np.testing.assert_array_equal(f.coords, g.coords)
    again = e.settle(0.5)  # nothing changed since: still settled, no work
    assert again.info["settled"] and again.info["iterations"] == f.info["iterations"]


def test_settle_progress_is_monotone_and_a_resting_map_still_settles():
    """A map can rest (no change of its points for settle_iter iterations) before it has converged; settle runs
    anyway. Progress never goes back, reaches 1.0 only when settled; new points start a new pass."""
    X, _ = blobs(650, seed=4)
    e = LiveTSNE(700, seed=0, min_points=100, early_iter=20, settle_iter=20)
    e.add(np.arange(600), X[:600])
    for _ in range(20):
        f = e.step(0.1)
        if f.info["phase"] == "resting":
            break
    assert f.info["phase"] == "resting"
    np.testing.assert_array_equal(e.step(0.1).coords, f.coords)  # resting: step alone would not move it
    resting = e.coords[:600].copy()
    frames = settle_until_done(e, budget_s=0.01, n_jobs=2)  # tiny rounds: many progress reports
    prog = [fr.info["settle_progress"] for fr in frames]
    assert all(0.0 <= p <= 1.0 for p in prog) and prog == sorted(prog) and prog[-1] == 1.0
    assert [fr.info["settled"] for fr in frames] == [False] * (len(frames) - 1) + [True]
    assert len(frames) > 2 and all(p < 1.0 for p in prog[:-1])
    assert frames[-1].info["settle_iterations"] > 0 and not np.allclose(e.coords[:600], resting)
    e.add(np.arange(600, 650), X[600:])  # the point set changed: a new pass
    f = e.settle(0.01)
    assert not f.info["settled"] and f.info["settle_progress"] < 1.0 and f.info["pending"] == 0
    assert settle_until_done(e)[-1].info["settled"]


def test_settle_result_does_not_depend_on_the_round_budget():
    """Convergence is checked every settle_block(N) iterations whatever the rounds: the budget only cuts the
    same sequence of iterations into frames, so the settled map is the same."""
    X, _ = blobs(500, seed=6)
    maps = []
    for budget in (1e-4, 1e6):
        e = LiveTSNE(500, seed=0, min_points=100)
        e.add(np.arange(500), X)
        run_steps(e, 2)
        frames = settle_until_done(e, budget_s=budget)
        assert frames[-1].info["settled"]
        maps.append((len(frames), e.coords[:500].copy(), e.iterations))
    assert maps[0][0] > maps[1][0] == 1  # tiny rounds: several calls; a generous one: a single call
    np.testing.assert_array_equal(maps[0][1], maps[1][1])
    assert maps[0][2] == maps[1][2]


def test_settle_in_the_pca_phase_is_settled_at_once():
    X, _ = blobs(50)
    e = LiveTSNE(1000, seed=0, min_points=100)
    e.add(np.arange(50), X)
    f = e.settle(0.5)
    assert f.info["phase"] == "pca" and f.info["settled"] is True and f.info["settle_progress"] == 1.0
    assert len(f.slots) == 50 and e.graph is None  # still PCA: nothing of t-SNE was built


def test_governed_steps_leave_refinement_to_the_settle_pass():
    """``refine_in_step=False`` (what the engine sets when the cost governor sizes frames): step() places new
    points at their neighbours' median without openTSNE's transform step; the settle pass still refines."""
    X, _ = blobs(700)
    e = LiveTSNE(700, seed=0, min_points=100)
    e.add(np.arange(600), X[:600])
    run_steps(e, 10)
    calls = []
    refine = e._refine
    e._refine = lambda *a, **k: (calls.append(len(a[0])), refine(*a, **k))[1]
    e.refine_in_step = False
    e.add(np.arange(600, 650), X[600:650])
    e.step(0.1)
    assert calls == [] and e.placed[600:650].all()
    e.add(np.arange(650, 700), X[650:700])
    e.settle(5.0)
    assert calls == [50]


def test_engine_turns_refinement_off_for_governed_frames_only():
    from better_rl_widget.capture.engine import Engine
    from better_rl_widget.capture.options import LiveOptions

    e = LiveTSNE(100, seed=0)
    eng = Engine(100, e, LiveOptions())
    eng._fit_work(0.03)
    assert e.refine_in_step is False
    eng._fit_work(None)  # flush / drain: nothing governs the frame
    assert e.refine_in_step is True


def test_the_openTSNE_internals_the_live_map_calls_behave_as_it_expects():
    """live_tsne.py calls openTSNE below its public API (pinned to 1.0.x in pyproject.toml). A release that moves or
    changes these fails here, by name, rather than as a wrong map."""
    import inspect

    from openTSNE import TSNEEmbedding, _tsne
    from openTSNE.affinity import PrecomputedAffinities
    from openTSNE.tsne import PartialTSNEEmbedding, kl_divergence_bh, kl_divergence_fft

    # The perplexity kernel on a fixed-k distance matrix: rows of conditional p_j|i that sum to 1 and reach the
    # asked perplexity (entropy log(perp)), called exactly as live_tsne.py calls it.
    rng = np.random.default_rng(0)
    dist = np.sort(rng.random((50, 30)), axis=1) ** 2
    cond = np.asarray(_tsne.compute_gaussian_perplexity(dist, np.array([10.0], np.float64), num_threads=1))
    assert cond.shape == dist.shape
    np.testing.assert_allclose(cond.sum(axis=1), 1.0, atol=1e-6)
    entropy = -(cond * np.log(np.maximum(cond, 1e-300))).sum(axis=1)
    np.testing.assert_allclose(entropy, np.log(10.0), atol=1e-3)

    for objective in (kl_divergence_bh, kl_divergence_fft):
        assert {"embedding", "P", "should_eval_error"} <= set(inspect.signature(objective).parameters)
    ref = TSNEEmbedding(rng.normal(size=(40, 2)), PrecomputedAffinities(sp.csr_matrix((40, 40)), normalize=False),
                        negative_gradient_method="fft", ints_in_interval=3, n_jobs=1)
    before = np.array(ref)
    ref.prepare_interpolation_grid()  # recentres the reference in place; live_tsne.py measures and undoes it
    shift = np.asarray(ref)[0] - before[0]
    np.testing.assert_allclose(np.asarray(ref) - shift, before, atol=1e-9)
    # New points placed against the fixed reference, with the gradient wrapper and step settings live_tsne.py uses.
    cols = np.stack([rng.choice(40, 5, replace=False) for _ in range(3)])
    P = sp.csr_matrix((np.full(15, 0.2), cols.ravel(), np.arange(0, 16, 5)), shape=(3, 40))
    start = rng.normal(size=(3, 2)) * 5 + shift
    part = PartialTSNEEmbedding(start.copy(), ref, P, negative_gradient_method=_GRADIENT["fft"], n_jobs=1)
    part.optimize(5, inplace=True, learning_rate=0.5, exaggeration=1.5, momentum=0.8, max_grad_norm=0.25,
                  max_step_norm=None)
    out = np.asarray(part)
    assert out.shape == (3, 2) and np.isfinite(out).all() and not np.allclose(out, start)
    # These starts lie outside the reference's grid. openTSNE clamps a box index only from above, so below or left
    # of the grid it reads outside its arrays (a segfault seen in CI); the live map's gradient clamps them in.
    lo = ref.box_x_lower_bounds[0]
    hi = lo + np.sqrt(len(ref.box_x_lower_bounds)) * (ref.box_x_lower_bounds[1] - lo)
    seen = _gradient_only(lambda e, P, **kw: (0.0, np.array(e)))
    outside = np.array([[lo - 3.0, hi + 3.0], [lo - 0.5, 0.0]])
    _, passed_on = seen(outside, P, reference_embedding=ref)
    assert (passed_on >= lo).all() and (passed_on < hi).all()
    np.testing.assert_allclose(passed_on[:, 0], lo)
