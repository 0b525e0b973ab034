"""Acceptance on one cell: a dynamic profile (repeated UDDS / US06 with rests), noisy sensors, the
filter started 5 % SOC off. NMC: tight; LFP: its error and bounds follow the OCV slope dU/dz."""

import numpy as np
import pytest


@pytest.mark.parametrize("kind", ["ekf", "spkf"])
def test_nmc_with_hysteresis_meets_the_acceptance_figures(runs, kind):
    r = runs("nmc_lg_m50", kind)
    print(f"\nNMC {kind}: RMS after 10 min {100 * r['rms_after_10min']:.3f} %, max {100 * r['max_after_10min']:.3f} %, "
          f"final 3-sigma {100 * r['final_3sigma']:.3f} %, inside 3-sigma {100 * r['inside_3sigma']:.2f} %")
    assert r["z"].max() - r["z"].min() > 0.25  # the profile does move the SOC
    assert r["rms_after_10min"] <= 0.005
    assert r["final_3sigma"] <= 0.01
    assert r["inside_3sigma"] >= 0.99


def test_lfp_error_follows_the_ocv_slope(runs):
    """On LFP's plateau a voltage error of sigma_y is a SOC error of sigma_y / |dU/dz|: the voltage says
    little, so the filter's bounds widen there and its error is larger than on NMC's slope. The filter
    stays consistent (truth inside its bounds)."""
    lfp, nmc = runs("lfp_a123_26650"), runs("nmc_lg_m50")
    print(f"\nLFP ekf: RMS after 10 min {100 * lfp['rms_after_10min']:.3f} %, max {100 * lfp['max_after_10min']:.3f} %, "
          f"final 3-sigma {100 * lfp['final_3sigma']:.3f} %, inside 3-sigma {100 * lfp['inside_3sigma']:.2f} %")
    after = lfp["t"] >= 600.0
    s = np.abs(lfp["dudz"][after])
    sd = lfp["std"][after]
    flat, steep = s < np.quantile(s, 0.25), s > np.quantile(s, 0.75)
    print(f"LFP |dU/dz| flat quartile {s[flat].mean():.3f} V, steep {s[steep].mean():.3f} V; "
          f"mean sigma flat {100 * sd[flat].mean():.3f} %, steep {100 * sd[steep].mean():.3f} %")
    assert s[flat].mean() < 0.5 * s[steep].mean()
    assert sd[flat].mean() > 1.5 * sd[steep].mean()  # bounds widen where the OCV is flat
    assert np.mean(lfp["std"][after]) > np.mean(nmc["std"][after])
    assert lfp["rms_after_10min"] > nmc["rms_after_10min"]
    assert lfp["inside_3sigma"] >= 0.99
