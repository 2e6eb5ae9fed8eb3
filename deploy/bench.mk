# The benchmark (docs/bench/README.md): stage drain rates against the Python ceiling measured on the same
# broker, the end-of-day run, latency, gatekeeper state at scale, and CPU per contact. Included by the Makefile.
# Writes var/bench/bench-<date>.json and prints a table; QUICK=1 gives the same figures, smaller, in < 3 min.
.PHONY: bench
bench: setup ## Benchmark throughput, latency and scale on a local broker (QUICK=1: smaller, < 3 min)
	$(PY) -m devtools.bench $(if $(QUICK),--quick,)
