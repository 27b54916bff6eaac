"""DeepFaceDrawing's manifold projection, in numpy: a part's latent replaced by a blend of its neighbours in the
latent bank of real faces (Chen et al. 2020, section 3.1), as the upstream code computes it.

Upstream finds the k = 15 nearest bank rows with `std::nth_element` and takes the first 15 entries in the
order that leaves them (not sorted), then solves a least-squares problem that penalises the weights of all
but the FIRST neighbour; so the order changes the result, and `nth_element` below is libstdc++'s introselect
step for step. The distances are rounded as upstream's kernel rounds them (float differences and squares, a
double sum in index order, stored as float), or near-ties could swap.
Framework-free: MindSpore and the PyTorch reference pipelines both use it.
"""
import numpy as np

NEIGHBOURS = 15  # upstream's sample_Num
PENALTY = 10.0  # the row of tens upstream appends to the least-squares system


def bank_distances(z, bank):
    """Squared distances of the latent `z` (512,) to every bank row, rounded as upstream's C++ kernel."""
    dx = np.asarray(z, np.float32)[None, :] - bank  # float - float: float
    squares = (dx * dx).astype(np.float64)  # float product, added to a double
    return np.cumsum(squares, axis=1)[:, -1].astype(np.float32)  # the sum in index order; stored as float


def nth_element(items, nth):
    """std::nth_element(items.begin(), items.begin() + nth, items.end()) of libstdc++ (GCC), in place, on a
    list of comparable items (here (distance, index) pairs, compared as std::pair compares them)."""
    first, last = 0, len(items)
    if first == last or nth == last:
        return items
    depth_limit = 2 * ((last - first).bit_length() - 1)  # 2 * floor(log2(n)), std::__lg
    while last - first > 3:
        if depth_limit == 0:
            _heap_select(items, first, nth + 1, last)
            items[first], items[nth] = items[nth], items[first]
            return items
        depth_limit -= 1
        cut = _unguarded_partition_pivot(items, first, last)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(items, first, last)
    return items


def _unguarded_partition_pivot(a, first, last):
    mid = first + (last - first) // 2
    _move_median_to_first(a, first, first + 1, mid, last - 1)
    return _unguarded_partition(a, first + 1, last, first)


def _move_median_to_first(a, result, i, j, k):
    if a[i] < a[j]:
        if a[j] < a[k]:
            median = j
        elif a[i] < a[k]:
            median = k
        else:
            median = i
    elif a[i] < a[k]:
        median = i
    elif a[j] < a[k]:
        median = k
    else:
        median = j
    a[result], a[median] = a[median], a[result]


def _unguarded_partition(a, first, last, pivot):
    while True:
        while a[first] < a[pivot]:
            first += 1
        last -= 1
        while a[pivot] < a[last]:
            last -= 1
        if not first < last:
            return first
        a[first], a[last] = a[last], a[first]
        first += 1


def _insertion_sort(a, first, last):
    for i in range(first + 1, last):
        value = a[i]
        if value < a[first]:
            a[first + 1:i + 1] = a[first:i]
            a[first] = value
        else:  # unguarded linear insert
            j = i
            while value < a[j - 1]:
                a[j] = a[j - 1]
                j -= 1
            a[j] = value


def _heap_select(a, first, middle, last):
    length = middle - first
    _make_heap(a, first, length)
    for i in range(middle, last):
        if a[i] < a[first]:  # pop_heap into i
            value = a[i]
            a[i] = a[first]
            _adjust_heap(a, first, 0, length, value)


def _make_heap(a, first, length):
    if length < 2:
        return
    for parent in range((length - 2) // 2, -1, -1):
        _adjust_heap(a, first, parent, length, a[first + parent])


def _adjust_heap(a, first, hole, length, value):
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if a[first + child] < a[first + child - 1]:
            child -= 1
        a[first + hole] = a[first + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        a[first + hole] = a[first + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2  # push_heap
    while hole > top and a[first + parent] < value:
        a[first + hole] = a[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    a[first + hole] = value


def neighbours(z, bank, k=NEIGHBOURS):
    """Indices of the k nearest bank rows to `z`, in the order upstream's nth_element leaves them."""
    pairs = list(zip(bank_distances(z, bank).tolist(), range(len(bank))))
    return [index for _, index in nth_element(pairs, k)[:k]]


def blend_weights(z, bank, idx):
    """Weights (k,) summing to 1 with which the rows `idx` best rebuild `z`, the first neighbour favoured.

    Least squares of z - A_0 on the differences A_i - A_0 (i >= 1), plus PENALTY**2 * (sum of those weights)**2,
    by the normal equations; float32 where upstream's arithmetic is float32, float64 elsewhere.
    """
    z = np.asarray(z, np.float32)
    rows = bank[idx]  # (k, 512) float32
    differences = rows[1:] - rows[0]  # float32
    system = np.vstack([differences.T, np.full((1, len(idx) - 1), PENALTY)])  # (513, k - 1) float64
    target = np.zeros(z.shape[0] + 1)
    target[:-1] = z - rows[0]  # float32 difference
    x = np.linalg.solve(system.T @ system, system.T @ target)
    return np.concatenate([[1.0 - x.sum()], x])


def project(z, bank, weight=1.0, k=NEIGHBOURS):
    """The latent the decoders see: `weight` of its projection onto the bank's manifold, the rest itself."""
    z = np.asarray(z, np.float32).reshape(-1)
    idx = neighbours(z, bank, k)
    projected = (bank[idx].T.astype(np.float64) @ blend_weights(z, bank, idx)[:, None])[:, 0]  # as upstream's
    weight = float(weight)  # a Python float: (1 - weight) * z stays float32, as upstream computes it
    return (projected * weight + (1.0 - weight) * z).astype(np.float32)
