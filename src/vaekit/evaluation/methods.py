"""The names of the anomaly-score methods of :mod:`vaekit.evaluation.scores`, importable without
torch (the command line builds its help from them)."""

METHODS: tuple[str, ...] = ("elbo", "nll", "bpd", "complexity", "regret", "complexity+regret")
#: "auto", the default: complexity+regret where the model gives 8-bit images a true probability
#: (a density, or a discrete likelihood of binary data), else regret; the choice of the OOD
#: benchmark (benchmarks/ood.py, BENCHMARKS.md)
DEFAULT_METHOD = "auto"
#: posterior samples per example for elbo/nll/bpd/complexity and the regret's final ELBOs
DEFAULT_K = 16
