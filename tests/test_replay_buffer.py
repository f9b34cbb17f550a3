import numpy as np
import pytest

from better_rl_widget import ReplayBuffer


def test_ring_overwrites_oldest_and_tracks_episodes():
    b = ReplayBuffer(4)
    for i in range(6):
        b.add(np.full(3, i, np.float32), i % 2, float(i), np.full(3, i + 1, np.float32), terminated=(i == 2))
    assert len(b) == 4 and b.total_inserted == 6 and b.evictions == 2
    rows = b.read(np.arange(4))
    # insertions 4 and 5 overwrote slots 0 and 1
    np.testing.assert_array_equal(rows["step"], [4, 5, 2, 3])
    np.testing.assert_array_equal(rows["obs"][:, 0], [4, 5, 2, 3])
    np.testing.assert_array_equal(rows["episode"], [1, 1, 0, 1])  # episode 0 ended at insertion 2
    np.testing.assert_array_equal(rows["episode_step"], [1, 2, 2, 0])


def test_image_observations_keep_dtype():
    b = ReplayBuffer(3)
    frame = np.random.default_rng(0).integers(0, 255, (4, 84, 84), dtype=np.uint8)
    b.add(frame, 1, 0.0, frame, False)
    assert b.read(np.array([0]))["obs"].dtype == np.uint8
    assert b.obs_shape == (4, 84, 84)


def test_read_returns_copies():
    b = ReplayBuffer(2)
    b.add(np.zeros(2), 0, 0.0, np.zeros(2), False)
    rows = b.read(np.array([0]))
    rows["obs"][:] = 7
    assert b.read(np.array([0]))["obs"].sum() == 0


def test_shape_change_is_a_clear_error():
    b = ReplayBuffer(2)
    b.add(np.zeros(4), 0, 0.0, np.zeros(4), False)
    with pytest.raises(ValueError, match=r"shape \(5,\).*\(4,\)"):
        b.add(np.zeros(5), 0, 0.0, np.zeros(5), False)


def test_bad_capacity_and_empty_sample():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0)
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(3).sample(2)
