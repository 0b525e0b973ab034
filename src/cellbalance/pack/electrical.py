"""The pack's electrical solve: parallel groups, series elements with their balancing hardware.

One source of truth for Kirchhoff's laws in the pack (the compiled segments do the same arithmetic
per block, ``sim/segment.py``, and are tested equal to this):

* a parallel group of Thevenin cells ``V = E_i + I_i R_i`` is one Thevenin element
  ``E_g = sum(E_i/R_i) / sum(1/R_i)``, ``R_g = 1 / sum(1/R_i)``; given the element current the
  cells share it so that all see one voltage (:func:`split_group_current`);
* an element carries the pack current ``i_p``, a held balancing current ``i_b`` (converters), a shunt
  conductance ``g`` (bleed resistors) and conductance links to other elements (switched
  capacitors, Laplacian ``L`` over the elements); KCL at every element node,
  ``i_p + i_b - g v - (L v) = (v - E_g) / R_g``, is linear in ``v``, so the element voltages are an
  affine function of the pack current, ``v = a + b i_p`` (:func:`element_affine`): exact, no
  iteration, for every control mode (current, power, voltage hold).
"""

from __future__ import annotations

import numpy as np

__all__ = ["element_affine", "element_currents", "group_thevenin", "split_group_current"]


def group_thevenin(emf, r0, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Thevenin equivalent (E_g, R_g) of every parallel group; ``emf``, ``r0`` over cells, ``shape``
    (B, Ns, Np); returns two (B, Ns) arrays."""
    B, Ns, Np = shape
    if Np == 1:
        return emf.reshape(B, Ns), r0.reshape(B, Ns)
    g = 1.0 / r0.reshape(shape)
    r_g = 1.0 / g.sum(-1)
    return (emf.reshape(shape) * g).sum(-1) * r_g, r_g


def element_affine(e_g, r_g, i_bal, g_sh, lap=None) -> tuple[np.ndarray, np.ndarray]:
    """Element voltages as ``v = a + b i_p`` for pack current ``i_p`` (per pack).

    Parameters: (B, Ns) arrays ``e_g``, ``r_g`` (element Thevenin), ``i_bal`` (held balancing
    current into the element), ``g_sh`` (shunt conductance); ``lap`` (B, Ns, Ns) link Laplacian or
    None. Returns ``a``, ``b`` (B, Ns).
    """
    if lap is None:
        k = 1.0 / (1.0 + g_sh * r_g)
        return (e_g + r_g * i_bal) * k, r_g * k
    ns = e_g.shape[-1]
    m = np.eye(ns) + r_g[..., :, None] * (lap + g_sh[..., :, None] * np.eye(ns))
    rhs = np.stack([e_g + r_g * i_bal, r_g], -1)
    sol = np.linalg.solve(m, rhs)
    return sol[..., 0], sol[..., 1]


def element_currents(v, i_p, i_bal, g_sh, lap=None) -> np.ndarray:
    """Current into the cells of each element (B, Ns): ``i_p + i_b - g v - L v``."""
    i_g = i_p[:, None] + i_bal - g_sh * v
    if lap is not None:
        i_g = i_g - np.einsum("bij,bj->bi", lap, v)
    return i_g


def split_group_current(i_group, emf, r0) -> tuple[np.ndarray, np.ndarray]:
    """Currents of the cells of each parallel group, so all share one terminal voltage.

    Each cell is ``V = E_i + I_i R_i``; with ``sum_i I_i = I_g``:
    ``V_g = (I_g + sum E_i/R_i) / sum 1/R_i`` and ``I_i = (V_g - E_i) / R_i`` (closed form).

    Parameters
    ----------
    i_group : array (B, Ns)   group current [A], positive = charging
    emf, r0 : arrays (B, Ns, Np)

    Returns
    -------
    i_cell : (B, Ns, Np), v_group : (B, Ns)
    """
    g = 1.0 / r0
    gsum = g.sum(axis=-1)
    v = (i_group + (emf * g).sum(axis=-1)) / gsum
    return (v[..., None] - emf) * g, v
