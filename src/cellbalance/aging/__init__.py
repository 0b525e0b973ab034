"""Per-cell aging: the semi-empirical capacity-fade and resistance-growth models of NREL's BLAST-Lite.

Physics layer (beside :mod:`cellbalance.cell`): imports numpy, scipy and :mod:`cellbalance.errors` only.

Use::

    model = get_aging_model("nmc111_gr_kokam75ah_2017")
    state = model.initial_state(n_cells)
    s = sample_rate_scalars(n_cells, sigma=0.1, seed=1)
    for day in range(3650):
        st = Stressors.from_timeseries(t_s, soc, temperature_K)   # or Stressors.constant(...)
        state = model.advance(state, st, rate_scalar=s)
    state.q, state.r                                              # relative capacity, resistance

Equations and sources: ``docs/models.md``, section "Aging".
"""

from .laws import SCHEMES
from .models import (
    AGING_MODEL_FOR_CELL,
    AgingModel,
    AgingRangeWarning,
    AgingState,
    FittedRange,
    Lfp_Gr_SonyMurata3Ah_2018,
    Nmc111_Gr_Kokam75Ah_2017,
    Nmc811_GrSi_LGM50_5Ah_2021,
    UnknownAgingModelError,
    available_aging_models,
    get_aging_model,
    sample_rate_scalars,
)
from .stressors import Stressors, anode_potential

__all__ = [
    "AGING_MODEL_FOR_CELL",
    "SCHEMES",
    "AgingModel",
    "AgingRangeWarning",
    "AgingState",
    "FittedRange",
    "Lfp_Gr_SonyMurata3Ah_2018",
    "Nmc111_Gr_Kokam75Ah_2017",
    "Nmc811_GrSi_LGM50_5Ah_2021",
    "Stressors",
    "UnknownAgingModelError",
    "anode_potential",
    "available_aging_models",
    "get_aging_model",
    "sample_rate_scalars",
]
