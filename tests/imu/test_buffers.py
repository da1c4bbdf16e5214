"""GrowingArray: append-only storage, and adopting an array already in memory."""

import numpy as np

from stridesense.imu.buffers import GrowingArray


def test_appends_grow_and_keep_every_row():
    g = GrowingArray(3)
    rows = np.arange(3000 * 3, dtype=float).reshape(-1, 3)
    for i in range(0, 3000, 700):
        g.append(rows[i:i + 700])
    assert np.array_equal(g.view, rows)


def test_an_adopted_array_is_not_copied_when_its_own_rows_are_appended():
    data = np.random.default_rng(0).normal(size=(1000, 3))
    g = GrowingArray(3)
    g.adopt(data)
    for i in range(0, 1000, 300):
        g.append(data[i:i + 300])
    assert np.shares_memory(g.view, data) and np.array_equal(g.view, data)


def test_other_rows_end_the_adoption_with_a_copy_and_the_source_is_never_written():
    data = np.zeros((100, 3))
    g = GrowingArray(3)
    g.adopt(data)
    g.append(data[:40])
    g.append(np.ones((10, 3)))  # not the adopted array's next rows
    assert not np.shares_memory(g.view, data)
    assert np.array_equal(g.view, np.vstack([np.zeros((40, 3)), np.ones((10, 3))]))
    assert not data.any()


def test_truncate_keeps_the_first_rows_and_appends_after_them():
    a = GrowingArray(2)
    a.append(np.arange(10.0).reshape(5, 2))
    a.truncate(2)
    assert a.view.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    a.append([[7.0, 7.0]])
    assert a.view.tolist() == [[0.0, 1.0], [2.0, 3.0], [7.0, 7.0]]
    a.truncate(10)  # more rows than there are: nothing changes
    assert len(a) == 3


def test_drop_front_keeps_the_newest_rows_in_order_and_appends_go_on():
    g = GrowingArray(2)
    g.append(np.arange(20.0).reshape(10, 2))
    g.drop_front(7)
    g.append(np.array([[20.0, 21.0]]))
    assert g.view.tolist() == [[14, 15], [16, 17], [18, 19], [20, 21]]
    g.drop_front(99)
    assert len(g) == 0
    adopted = GrowingArray()
    data = np.arange(5.0)
    adopted.adopt(data)
    adopted.append(data[:3])
    adopted.drop_front(1)
    adopted.append(np.array([9.0]))
    assert adopted.view.tolist() == [1, 2, 9] and data.tolist() == [0, 1, 2, 3, 4]


def test_dropping_the_front_of_an_adopted_array_keeps_it_adopted_without_a_copy():
    # Offline analysis forgets old signals every chunk: the adopted samples must not be copied each time.
    data = np.random.default_rng(1).normal(size=(1000, 3))
    g = GrowingArray(3)
    g.adopt(data)
    g.append(data[:300])
    g.drop_front(250)
    g.append(data[300:600])
    assert np.shares_memory(g.view, data)
    assert np.array_equal(g.view, data[250:600])
