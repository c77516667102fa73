"""The person-level membership latent of a grade-of-membership model (paper section 7-9).

An item-level class variable C_ij (eq 28) has, per person j, a membership vector g_j on the
simplex: P(C_ij = k | g_j) = g_jk. Its distribution is one of

* ``logistic-normal`` (eq 30, 34): g_j = softmax(a + Gamma x_j + b_j, 0), b_j ~ N(0, Sigma)
  with a full (K-1) x (K-1) covariance, Cholesky-parameterized (``var(c#k)``, ``cov(c#k,c#l)``);
* ``restricted`` (eq 35, Hedeker / Vermunt): b_jk = lambda_k eta_j, eta_j ~ N(0, 1), one
  dimension for any K (``eta BY c#k``; the last class's lambda is 0);
* ``dirichlet`` (Erosheva): g_j ~ Dirichlet(alpha) with free ``alpha(c#k)`` (no class intercepts);
* ``fixed``: no person-level latent (the items' classes are independent given x; with
  item-specific logits gamma_ik, eq 44, this is the guessing part of the 3PL, eq 45-47).

This module describes the latent and registers its parameters; ``gom_likelihood.py`` builds
its graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import ParameterLayout

ITEM_LOGIT_BOUND = 15.0  # item logits that run off (a guessing probability of 0 or 1) are held at +-15


@dataclass(frozen=True, eq=False)
class Membership:
    """The membership latent of item-level class variable ``class_var``.

    ``random`` holds the phi elements of the random class logits' loading matrix M (K, d)
    with b_j = M z_j, z_j ~ N(0, I_d), -1 for 0: the Cholesky factor of Sigma padded by a
    zero last row (logistic-normal), the loadings lambda (restricted), or None. ``alpha``
    (K,) holds the Dirichlet concentrations, ``item_logits`` (K, P) the item-specific logits
    gamma (None without them); ``items`` are the class variable's items in data order.
    """

    class_var: str
    kind: str
    n_classes: int
    items: tuple[str, ...]
    random: np.ndarray | None = None
    alpha: np.ndarray | None = None
    item_logits: np.ndarray | None = None

    @property
    def dim(self) -> int:
        """Dimensions of the membership integral (0 for Dirichlet, integrated exactly, and fixed)."""
        return 0 if self.random is None else int(self.random.shape[1])

    def signature(self) -> tuple:
        """What the symbolic graph depends on."""
        return (self.class_var, self.kind, self.n_classes, self.items,
                None if self.random is None else self.random.tobytes(),
                None if self.alpha is None else self.alpha.tobytes(),
                None if self.item_logits is None else self.item_logits.tobytes())


def membership_key(class_var: str) -> str:
    """Layout block key of the membership parameters."""
    return f"membership:{class_var}"


def add_membership(layout: ParameterLayout, cv, items: tuple[str, ...]) -> Membership:
    """Register the membership parameters of item-level class variable ``cv`` (spec.ClassVariable)."""
    k = cv.n_classes
    classes = np.arange(1, k + 1)
    key = membership_key(cv.name)
    random = alpha = item_logits = None
    if cv.membership == "logistic-normal" and k > 1:
        dim = k - 1
        labels = np.empty((dim, dim), dtype=object)
        for a in range(dim):
            for b in range(a + 1):
                labels[a, b] = f"var({cv.name}#{a + 1})" if a == b else f"cov({cv.name}#{a + 1},{cv.name}#{b + 1})"
        block = layout.add_cholesky(key, labels, class_var=None, cls=None,
                                    effects=[f"{cv.name}#{c}" for c in range(1, k)])
        random = np.vstack([block.index, np.full((1, dim), -1, dtype=np.int64)])  # (K, K-1), last class 0
    elif cv.membership == "restricted" and k > 1:
        fixed = np.full(k, np.nan)
        fixed[-1] = 0.0
        block = layout.add_block(key, np.array([f"eta BY {cv.name}#{c}" for c in classes], dtype=object),
                                 group="membership loading", class_var=cv.name, classes=classes,
                                 items=np.array(["eta"] * k, dtype=object), transform="identity",
                                 class_axes={cv.name: 0}, fixed=fixed)
        random = block.index[:, None].astype(np.int64)  # (K, 1)
    elif cv.membership == "dirichlet":
        block = layout.add_block(key, np.array([f"alpha({cv.name}#{c})" for c in classes], dtype=object),
                                 group="membership concentration", class_var=cv.name, classes=classes,
                                 items=np.array(["alpha"] * k, dtype=object), transform="log",
                                 class_axes={cv.name: 0}, bounds=(np.log(1e-3), np.log(1e3)))
        alpha = block.index.astype(np.int64)
    if cv.item_logits:
        fixed = np.full((k, len(items)), np.nan)
        fixed[-1, :] = 0.0
        names = np.array([[f"{cv.name}#{c}|{it}" for it in items] for c in classes], dtype=object)
        block = layout.add_block(f"ilogit:{cv.name}", names, group="item logit", class_var=cv.name,
                                 classes=classes[:, None], items=np.array(items, dtype=object)[None, :],
                                 transform="identity", class_axes={cv.name: 0}, fixed=fixed,
                                 bounds=(-ITEM_LOGIT_BOUND, ITEM_LOGIT_BOUND))
        item_logits = block.index.astype(np.int64)
    return Membership(cv.name, cv.membership, k, tuple(items), random, alpha, item_logits)
