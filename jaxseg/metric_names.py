"""The metrics a results file holds, by name: JAX-free, for the tools that read finished runs.

`jaxseg/metrics.py` computes them (the official ISIC scorer's definitions).
"""

# Mean over images of the per-image scores; JA_thresholded is the ISIC 2018 ranking score.
METRIC_KEYS = ("AC", "DI", "JA", "SE", "SP", "JA_thresholded")
