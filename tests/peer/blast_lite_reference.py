"""Reference trajectories from NREL's BLAST-Lite for the aging tests (not a test; not imported by them).

BLAST-Lite pins numpy < 2, so it runs in its own environment:

    python3 -m venv /work/blast-venv && /work/blast-venv/bin/pip install blast-lite
    /work/blast-venv/bin/python tests/peer/blast_lite_reference.py

writes ``tests/peer/data/blast_lite_reference.json``: for each model and duty, relative capacity
``q`` and resistance ``r`` every ``STRIDE_DAYS`` days over ``YEARS`` years (and the last day), plus
the daily profile itself (time [s], SOC, temperature [degC]) so the tests feed the same samples.

Drive: one BLAST-Lite object per (model, duty); every day ``update_battery_state(t, soc, T)`` with
that day's samples (the public per-period update; no SOC rescaling, no breakpoint search), so each
day is one stressor period: stressors extracted from the day's series, rates averaged over it,
states advanced once.
"""

from __future__ import annotations

import json
import math
from importlib.metadata import version
from pathlib import Path

import numpy as np
from blast import models as blast_models

OUT = Path(__file__).parent / "data" / "blast_lite_reference.json"
YEARS = 10
DAYS = 365 * YEARS
STRIDE_DAYS = 10
SAMPLE_S = 900  # 15-minute samples: 97 per day, both ends included

MODELS = {
    "nmc111_gr_kokam75ah_2017": "Nmc111_Gr_Kokam75Ah_Battery",
    "lfp_gr_sonymurata3ah_2018": "Lfp_Gr_SonyMurata3Ah_Battery",
    "nmc811_grsi_lgm50_5ah_2021": "Nmc811_GrSi_LGM50_5Ah_Battery",
}


def _ramp(t_h: np.ndarray, knots_h: list[float], soc: list[float]) -> np.ndarray:
    return np.interp(t_h, knots_h, soc)


def duties() -> dict[str, dict]:
    """The daily duties: name -> {description, time_s, soc, temperature_C} (one day, 97 samples)."""
    t = np.arange(0, 86400 + SAMPLE_S, SAMPLE_S, dtype=float)
    t_h = t / 3600.0
    one_cycle = _ramp(t_h, [0, 2, 6, 12, 16, 24], [0.9, 0.9, 0.1, 0.1, 0.9, 0.9])
    knots = np.arange(0, 24.01, 1.5)
    eight = _ramp(t_h, list(knots), [0.7 if i % 2 == 0 else 0.3 for i in range(len(knots))])
    return {
        "cycle_25C_dod80": {
            "description": "one cycle a day: rest 2 h at SOC 0.9, discharge to 0.1 in 4 h (0.2C), rest 6 h, "
            "charge to 0.9 in 4 h, rest 8 h; 25 degC",
            "time_s": t,
            "soc": one_cycle,
            "temperature_C": np.full_like(t, 25.0),
        },
        "cycle_35C_dod40_8x": {
            "description": "eight cycles a day between SOC 0.7 and 0.3 (1.5 h per half cycle, 0.27C), "
            "3.2 EFC a day; temperature 35 + 5 sin(2 pi t / 1 day) degC",
            "time_s": t,
            "soc": eight,
            "temperature_C": 35.0 + 5.0 * np.sin(2.0 * math.pi * t / 86400.0),
        },
        "calendar_30C_soc80": {
            "description": "storage at SOC 0.8 and 30 degC",
            "time_s": t,
            "soc": np.full_like(t, 0.8),
            "temperature_C": np.full_like(t, 30.0),
        },
    }


def run(model_cls_name: str, duty: dict) -> dict:
    cell = getattr(blast_models, model_cls_name)()
    t, soc, temp = duty["time_s"], duty["soc"], duty["temperature_C"]
    for day in range(DAYS):
        cell.update_battery_state(t + day * 86400.0, soc.copy(), temp.copy())
    q = np.asarray(cell.outputs["q"], dtype=float)
    r = np.asarray(cell.outputs["r"], dtype=float) if "r" in cell.outputs else np.ones_like(q)
    days = np.arange(0, DAYS + 1)
    keep = (days % STRIDE_DAYS == 0) | (days == DAYS)
    return {"day": days[keep].tolist(), "q": q[keep].tolist(), "r": r[keep].tolist()}


def main() -> None:
    ds = duties()
    out: dict = {
        "blast_lite_version": version("blast-lite"),
        "numpy_version": np.__version__,
        "years": YEARS,
        "stride_days": STRIDE_DAYS,
        "period": "one day per update_battery_state call",
        "duties": {
            k: {
                "description": v["description"],
                "time_s": v["time_s"].tolist(),
                "soc": v["soc"].tolist(),
                "temperature_C": v["temperature_C"].tolist(),
            }
            for k, v in ds.items()
        },
        "models": {},
    }
    for name, cls_name in MODELS.items():
        out["models"][name] = {"blast_class": cls_name, "runs": {}}
        for duty_name, duty in ds.items():
            res = run(cls_name, duty)
            out["models"][name]["runs"][duty_name] = res
            print(f"{name:30s} {duty_name:22s} q(10 y) = {res['q'][-1]:.6f}  r(10 y) = {res['r'][-1]:.6f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
