"""Quality measures: kNN-preservation, trustworthiness (scikit-learn), displacement of kept points."""

import numpy as np
import pytest

from better_rl_widget.embed.quality import (
    displacement,
    kept_displacement,
    knn_ids,
    knn_preservation,
    knn_preservation_of,
    trustworthiness,
)


def test_knn_preservation_of_a_perfect_and_a_random_map():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    assert knn_preservation_of(X, X.copy(), k=10, sample=None) == 1.0
    rand = knn_preservation_of(X, rng.normal(size=(400, 2)), k=10, sample=None)
    assert rand < 0.1  # chance level is about k/N = 0.025
    # a map that keeps the structure under rotation and scaling keeps every neighbourhood
    R = np.array([[0.0, -3.0], [3.0, 0.0]])
    assert knn_preservation_of(X, X @ R, k=10, sample=100) == 1.0


def test_knn_preservation_counts_partial_overlap():
    high = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    low = np.array([[4, 3, 9, 9], [8, 0, 0, 0]])
    assert knn_preservation(high, low) == pytest.approx((2 / 4 + 1 / 4) / 2)
    with pytest.raises(ValueError, match="one \\(n, k\\) shape"):
        knn_preservation(high, low[:, :3])


def test_knn_ids_excludes_self_even_with_duplicates():
    X = np.zeros((5, 3))
    ids = knn_ids(X, 2)
    assert all(i not in row for i, row in enumerate(ids))


def test_trustworthiness_from_scikit_learn():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    assert trustworthiness(X, X) == pytest.approx(1.0)
    assert trustworthiness(X, rng.normal(size=(300, 2))) < 0.7


def test_displacement_of_kept_points():
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert displacement(a, a) == 0.0
    assert displacement(a, a + [3.0, 4.0]) == pytest.approx(5.0)
    assert displacement(a, a + [3.0, 4.0], extent=[0, 10, 0, 5]) == pytest.approx(0.5)
    # frames list their slots in any order; only common slots count
    s1, s2 = np.array([1, 2, 3]), np.array([3, 2, 9])
    xy1 = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    xy2 = np.array([[2.0, 2.0], [1.0, 0.0], [50.0, 50.0]])
    assert kept_displacement(s1, xy1, s2, xy2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="align"):
        displacement(a, a[:1])
