"""Graph helpers shared by the catalogue tests (unit and shipped-catalogue): ISL pair sets and connected pieces."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def pairs_set(pairs: np.ndarray) -> set[tuple[int, int]]:
    """The (E, 2) ISL pairs as a set of (a, b) tuples."""
    return {(int(a), int(b)) for a, b in pairs}


def components(pairs: np.ndarray, idx: np.ndarray, n: int) -> int:
    """Connected pieces among satellites ``idx`` (of ``n``), counting only the pairs with both ends in ``idx``."""
    m = np.isin(pairs[:, 0], idx) & np.isin(pairs[:, 1], idx)
    g = coo_matrix((np.ones(m.sum()), (pairs[m, 0], pairs[m, 1])), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    return len(np.unique(lab[idx]))
