"""Parameter layout: named model parameters, constraints, and the free-parameter vector.

Three vectors are involved:

* ``theta`` — the free, unconstrained vector the optimizer sees (length ``n_free``);
* ``u`` — one value per model parameter: ``theta`` expanded through equality constraints,
  with ``exp`` applied to log-scale parameters (variances, threshold increments) and fixed
  values filled in;
* ``phi`` — the natural parameters reported to users (Mplus scale): ``phi = C @ u`` where
  ``C`` accumulates ordered thresholds (tau_k = tau_{k-1} + exp(.), eq 1 needs
  tau_1 < tau_2 < ...). Everything else has ``C`` = identity.

Parameters are grouped in *blocks* (arrays of element indices with a shape, such as the
(K, P, M-1) thresholds of P items with M categories); the graph builder gathers a block
from ``phi`` in one indexing operation.

Covariance matrices of random effects are *Cholesky groups* (Hedeker & Gibbons 1996, the
paper's section 10): ``theta`` holds the Cholesky factor L (log of its diagonal), ``u``
holds L itself and the symbolic graph gathers L at those positions, while the reported
``phi`` (``natural``) holds the variances and covariances of ``L L^T``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecificationError

TRANSFORMS = ("identity", "log", "increment")


def lower_triangular(values: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """The (..., dim, dim) matrix of a Cholesky group: ``values`` at ``tri`` (its lower triangle), 0 above."""
    return np.where(tri >= 0, values[..., np.maximum(tri, 0)], 0.0)


def symmetric_matrix(values: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """The symmetric (dim, dim) matrix whose lower triangle is ``values`` at ``tri`` (a covariance)."""
    low = lower_triangular(values, tri)
    return low + np.tril(low, -1).T


@dataclass(frozen=True)
class ParamInfo:
    """Description of one model parameter (one element of ``phi``)."""

    name: str
    group: str  # threshold | mean | variance | intercept | slope | transition
    class_var: str | None
    cls: int | None  # 1-based class number
    item: str | None  # indicator, covariate or parent-class label
    transform: str


@dataclass(frozen=True)
class Block:
    """Element indices of a group of parameters, and which axis is which class variable."""

    index: np.ndarray
    class_axes: dict[str, int] = field(default_factory=dict)


class ParameterLayout:
    """Named parameters, their transforms, constraints and the maps theta <-> phi.

    Build with ``add_block`` for every parameter group, then ``finalize`` with the
    user constraints; only then are ``n_free`` and the maps available.
    """

    def __init__(self):
        self.infos: list[ParamInfo] = []
        self.blocks: dict[str, Block] = {}
        self._fixed: dict[int, float] = {}
        self._prev: dict[int, int] = {}  # increment element -> previous threshold element
        self._bounds: dict[int, tuple[float, float]] = {}
        self._equal: list[list[int]] = []
        self._chol: list[np.ndarray] = []  # (dim, dim) element indices, -1 above the diagonal

    # ------------------------------------------------------------ building
    def add_block(self, key: str, names: np.ndarray, *, group: str, class_var: str | None,
                  classes: np.ndarray, items: np.ndarray, transform, class_axes: dict[str, int],
                  fixed: np.ndarray | None = None, bounds=(-np.inf, np.inf)) -> Block:
        """Register a block of parameters; arrays all share the block's shape.

        ``transform`` is a string or an array of strings (per element); elements with
        transform ``"increment"`` accumulate onto the previous element along the last axis.
        ``fixed`` is an array of values with NaN for free elements.
        """
        names = np.asarray(names, dtype=object)
        shape = names.shape
        transform = np.broadcast_to(np.asarray(transform, dtype=object), shape)
        classes = np.broadcast_to(np.asarray(classes, dtype=object), shape)
        items = np.broadcast_to(np.asarray(items, dtype=object), shape)
        start = len(self.infos)
        index = np.arange(start, start + names.size).reshape(shape)
        for pos in np.ndindex(shape):
            k = int(index[pos])
            tr = transform[pos]
            if tr not in TRANSFORMS:
                raise ValueError(f"unknown transform {tr}")
            self.infos.append(ParamInfo(str(names[pos]), group, class_var,
                                        None if classes[pos] is None else int(classes[pos]),
                                        None if items[pos] is None else str(items[pos]), tr))
            if tr == "increment":
                prev_pos = pos[:-1] + (pos[-1] - 1,)
                if pos[-1] == 0:
                    raise ValueError("an increment needs a previous element on the last axis")
                self._prev[k] = int(index[prev_pos])
            if fixed is not None and not np.isnan(fixed[pos]):
                self._fixed[k] = float(fixed[pos])
            lo, hi = bounds(pos) if callable(bounds) else bounds
            self._bounds[k] = (lo, hi)
        block = Block(index, dict(class_axes))
        self.blocks[key] = block
        return block

    def add_cholesky(self, key: str, names: np.ndarray, *, class_var: str | None, cls: int | None,
                     effects: list[str]) -> Block:
        """Register a covariance matrix as a Cholesky group.

        ``names`` is a (dim, dim) array of which only the lower triangle is used. Returns a
        (dim, dim) block of element indices with -1 above the diagonal; the graph builds L
        from the lower-triangle elements (see the module docstring).
        """
        dim = len(effects)
        tri = np.full((dim, dim), -1, dtype=np.int64)
        for a in range(dim):
            for b in range(a + 1):
                transform = "log" if a == b else "identity"
                bounds = (np.log(1e-4), np.log(1e4)) if a == b else (-np.inf, np.inf)
                blk = self.add_block(f"{key}:{a}:{b}", np.array([names[a, b]], dtype=object), group="covariance",
                                     class_var=class_var, classes=np.array([cls], dtype=object),
                                     items=np.array([f"{effects[a]},{effects[b]}"], dtype=object),
                                     transform=transform, class_axes={}, bounds=bounds)
                tri[a, b] = int(blk.index[0])
                del self.blocks[f"{key}:{a}:{b}"]
        self._chol.append(tri)
        block = Block(tri, {})
        self.blocks[key] = block
        return block

    def add_equality(self, elements) -> None:
        """Constrain the listed elements (indices into ``phi``) to be equal."""
        self._equal.append([int(e) for e in elements])

    def finalize(self, fixed_by_name: dict[str, float], equal_by_name) -> None:
        """Apply user constraints by parameter name and build the theta <-> phi maps."""
        _refuse_name_collisions([info for info in self.infos])
        lookup = {info.name: k for k, info in enumerate(self.infos)}

        def idx(name):
            if name not in lookup:
                raise SpecificationError(
                    f"constraint names unknown parameter {name!r}; see Model.parameter_names for valid names"
                )
            return lookup[name]

        chol_offdiag = {int(t[a, b]) for t in self._chol for a in range(len(t)) for b in range(a)}
        chol_diag = {int(t[a, a]): t for t in self._chol for a in range(len(t))}
        for name, value in fixed_by_name.items():
            k = idx(name)
            if k in chol_offdiag or (k in chol_diag and (chol_diag[k] >= 0).sum() > len(chol_diag[k])):
                raise SpecificationError(
                    f"cannot fix {name!r}: parameters of a full random-effect covariance matrix are Cholesky "
                    "parameterized; use random_covariance='diagonal' to fix variances or zero covariances"
                )
            if k in chol_diag:
                if value <= 0:
                    raise SpecificationError(f"cannot fix variance {name!r} at {value}: it must be positive "
                                             "(leave the random effect out of the model for a zero variance)")
                value = float(np.sqrt(value))  # u holds the standard deviation
            self._fixed[k] = float(value)
        for group in equal_by_name:
            self.add_equality([idx(n) for n in group])

        n = len(self.infos)
        parent = list(range(n))

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for group in self._equal:
            kinds = {self.infos[e].transform for e in group}
            if len(kinds) > 1:
                names = [self.infos[e].name for e in group]
                raise SpecificationError(f"cannot constrain parameters of different kinds to be equal: {names}")
            for e in group[1:]:
                parent[find(e)] = find(group[0])
        roots: dict[int, list[int]] = {}
        for k in range(n):
            roots.setdefault(find(k), []).append(k)

        free_of = np.full(n, -1, dtype=np.int64)
        fixed_values = np.zeros(n)
        self.fixed_mask = np.zeros(n, dtype=bool)
        n_free = 0
        lower, upper = [], []
        for members in sorted(roots.values(), key=min):
            fixed_vals = {self._fixed[m] for m in members if m in self._fixed}
            if len(fixed_vals) > 1:
                names = [self.infos[m].name for m in members]
                raise SpecificationError(f"parameters {names} are constrained equal but fixed at different values")
            if fixed_vals:
                value = fixed_vals.pop()
                for m in members:
                    if self.infos[m].transform == "increment":
                        raise SpecificationError(
                            f"cannot fix {self.infos[m].name!r}: only the first threshold of an ordinal item can be fixed"
                        )
                    fixed_values[m] = value
                    self.fixed_mask[m] = True
                continue
            for m in members:
                free_of[m] = n_free
            lo = max(self._bounds[m][0] for m in members)
            hi = min(self._bounds[m][1] for m in members)
            lower.append(lo)
            upper.append(hi)
            n_free += 1
        self.free_of = free_of
        self.fixed_values = fixed_values
        self.n_free = n_free
        self.log_mask = np.array([info.transform in ("log", "increment") for info in self.infos])
        self.bounds = list(zip(lower, upper))
        cumsum = np.eye(n)
        for k in range(n):  # chains are built in order, so prev rows are complete
            if k in self._prev:
                cumsum[k] += cumsum[self._prev[k]]
        self.cumsum = cumsum
        self.has_increments = bool(self._prev)
        # the free parameter each theta entry stands for (first element of its group)
        self.representative = np.array([int(np.flatnonzero(free_of == f)[0]) for f in range(n_free)], dtype=np.int64)

    # ------------------------------------------------------------ maps
    @property
    def names(self) -> list[str]:
        """All parameter names, in ``phi`` order."""
        return [info.name for info in self.infos]

    @property
    def free_names(self) -> list[str]:
        """Name of the parameter each ``theta`` entry stands for."""
        return [self.infos[k].name for k in self.representative]

    def u_from_theta(self, theta: np.ndarray) -> np.ndarray:
        """Expanded, back-transformed values (numpy); works on (..., n_free)."""
        theta = np.asarray(theta, dtype=float)
        gathered = theta[..., np.maximum(self.free_of, 0)]
        vals = np.where(self.log_mask, np.exp(np.where(self.log_mask, gathered, 0.0)), gathered)
        return np.where(self.fixed_mask, self.fixed_values, vals)

    def natural(self, theta: np.ndarray) -> np.ndarray:
        """Natural parameters ``phi`` from ``theta`` (numpy); covariances as ``L L^T``."""
        u = self.u_from_theta(theta)
        phi = u @ self.cumsum.T if self.has_increments else u.copy()
        for tri in self._chol:
            low = tri >= 0
            chol = lower_triangular(u, tri)
            cov = chol @ np.swapaxes(chol, -1, -2)
            phi[..., tri[low]] = cov[..., low]
        return phi

    def theta_from_natural(self, phi: np.ndarray) -> np.ndarray:
        """Inverse of ``natural`` (takes each group's representative element)."""
        phi = np.asarray(phi, dtype=float)
        u = phi.copy()
        for k, p in self._prev.items():
            u[k] = phi[k] - phi[p]
        for tri in self._chol:
            low = tri >= 0
            try:
                chol = np.linalg.cholesky(symmetric_matrix(phi, tri))
            except np.linalg.LinAlgError:
                raise SpecificationError("starting values of a random-effect covariance matrix are not positive "
                                         f"definite: {[self.infos[k].name for k in tri[low]]}") from None
            u[tri[low]] = chol[low]
        if np.any(u[self.log_mask & ~self.fixed_mask] <= 0):
            bad = [self.infos[k].name for k in np.flatnonzero(self.log_mask & ~self.fixed_mask & (u <= 0))]
            raise SpecificationError(f"starting values must be positive variances / increasing thresholds: {bad[:5]}")
        t = u[self.representative]
        logs = self.log_mask[self.representative]
        t[logs] = np.log(t[logs])
        return t

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d phi / d theta, shape (n_params, n_free)."""
        u = self.u_from_theta(theta)
        d_u = np.zeros((len(self.infos), self.n_free))
        rows = np.flatnonzero(self.free_of >= 0)
        d_u[rows, self.free_of[rows]] = np.where(self.log_mask[rows], u[rows], 1.0)
        jac = self.cumsum @ d_u
        for tri in self._chol:  # d(L L^T)_ab / dL_cd = [a=c] L_bd + [b=c] L_ad
            dim = tri.shape[0]
            chol = lower_triangular(u, tri)
            for a in range(dim):
                for b in range(a + 1):
                    row = np.zeros(self.n_free)
                    for c in range(dim):
                        for d in range(c + 1):
                            coef = (chol[b, d] if a == c else 0.0) + (chol[a, d] if b == c else 0.0)
                            if coef:
                                row += coef * d_u[tri[c, d]]
                    jac[tri[a, b]] = row
        return jac

    def symbolic_natural(self, theta_rows):
        """PyTensor version of ``natural`` for a (R, n_free) matrix of theta rows."""
        import pytensor.tensor as pt

        gathered = theta_rows[:, np.maximum(self.free_of, 0)]
        log_mask = pt.as_tensor_variable(self.log_mask)
        vals = pt.switch(log_mask, pt.exp(pt.switch(log_mask, gathered, 0.0)), gathered)
        u = pt.switch(pt.as_tensor_variable(self.fixed_mask), pt.as_tensor_variable(self.fixed_values), vals)
        if self.has_increments:
            return pt.dot(u, pt.as_tensor_variable(self.cumsum.T))
        return u

    def symbolic_reported(self, theta):
        """PyTensor version of ``natural`` for one theta vector, covariances as ``L L^T``."""
        import pytensor.tensor as pt

        phi = self.symbolic_natural(theta[None, :])[0]
        for tri in self._chol:
            rows, cols = np.nonzero(tri >= 0)
            chol = pt.set_subtensor(pt.zeros(tri.shape)[rows, cols], phi[tri[rows, cols]])
            cov = pt.dot(chol, chol.T)
            phi = pt.set_subtensor(phi[tri[rows, cols]], cov[rows, cols])
        return phi

    def gather(self, phi, key: str):
        """The (R, *shape) tensor of block ``key`` from a (R, n_params) ``phi``."""
        return phi[:, self.blocks[key].index]


def _refuse_name_collisions(infos) -> None:
    """Two parameters with one name (items ``y`` and ``var(y)`` both give ``var(y)|c#1``) would make
    constraints, start values and the JSON ambiguous: refuse, naming the items involved."""
    seen: dict[str, object] = {}
    for info in infos:
        if info.name in seen:
            other = seen[info.name]
            raise SpecificationError(
                f"parameter name {info.name!r} arises twice (from {other.item or other.group!r} and "
                f"{info.item or info.group!r}); rename the column(s) so that no name is another's "
                "parameter name, e.g. avoid names such as 'var(y)', 'y$1' or 'c#1'")
        seen[info.name] = info
