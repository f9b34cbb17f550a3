import numpy as np
import pytest

from better_rl_widget.embed import PCAProjection, Projection
from better_rl_widget.embed.features import flatten_features


def test_is_a_projection():
    assert isinstance(PCAProjection(10), Projection)


def test_empty_one_and_two_points():
    p = PCAProjection(10)
    f = p.step(0.1)
    assert f.coords.shape == (0, 2)
    p.add(np.array([3]), np.ones((1, 4), np.float32))
    f = p.step(0.1)
    assert f.slots.tolist() == [3] and np.isfinite(f.coords).all()
    p.add(np.array([5]), np.zeros((1, 4), np.float32))
    f = p.step(0.1)
    assert f.slots.tolist() == [3, 5] and np.isfinite(f.coords).all()
    assert not np.allclose(f.coords[0], f.coords[1])


def test_recovers_the_dominant_axis_and_keeps_points_still_between_refits():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)).astype(np.float32) * np.array([10, 3, .1, .1, .1, .1], np.float32)
    p = PCAProjection(1000)
    p.add(np.arange(400), X)
    f1 = p.step(0.1)
    r = np.corrcoef(f1.coords[:, 0], X[:, 0])[0, 1]
    assert abs(r) > 0.99
    # a few new points: kept points do not move, new ones are placed with the same basis
    p.add(np.arange(400, 410), X[:10] + 0.01)
    f2 = p.step(0.1)
    np.testing.assert_array_equal(f2.coords[:400], f1.coords)
    np.testing.assert_allclose(f2.coords[400:], f1.coords[:10], atol=0.1)


def test_refit_keeps_orientation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 3)).astype(np.float32) * np.array([5, 2, 1], np.float32)
    p = PCAProjection(2000)
    p.add(np.arange(500), X[:500])
    a = p.step(0.1).coords
    p.add(np.arange(500, 1000), X[500:])  # enough turnover for a refit
    f = p.step(0.1)
    assert p.refits == 2
    b = f.coords[:500]
    for k in range(2):
        assert np.corrcoef(a[:, k], b[:, k])[0, 1] > 0.95  # same axes, same signs


def test_constant_features_and_removal():
    p = PCAProjection(10)
    p.add(np.arange(5), np.ones((5, 3), np.float32))
    f = p.step(0.1)
    assert np.isfinite(f.coords).all()
    p.remove(np.array([0, 1, 99 % 10]))
    assert sorted(p.step(0.1).slots.tolist()) == [2, 3, 4]


def test_feature_width_change_is_rejected():
    p = PCAProjection(10)
    p.add(np.arange(2), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="width changed"):
        p.add(np.arange(2), np.zeros((2, 4), np.float32))


def test_flatten_features_subsamples_images_deterministically():
    frames = np.random.default_rng(0).integers(0, 255, (3, 4, 84, 84), dtype=np.uint8)
    f1, f2 = flatten_features(frames), flatten_features(frames)
    assert f1.shape == (3, 1024) and f1.dtype == np.float32
    np.testing.assert_array_equal(f1, f2)
