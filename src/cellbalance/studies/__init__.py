"""Studies: anything that runs many simulations (drift over days; later comparisons, lifetime,
sweeps). They sit above the loop (``sim``) and below analysis, I/O and the CLI."""
