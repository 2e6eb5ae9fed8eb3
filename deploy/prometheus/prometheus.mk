# Prometheus and promtool from Debian's `prometheus` package: the alert-rule tests (`promtool check` and
# `promtool test rules`) and the integration test that scrapes running services need them. Included by the
# Makefile, which makes `test` depend on `prometheus`. Installing needs root (as on CI); elsewhere install
# the package yourself, or those tests are skipped with a message saying so.
.PHONY: prometheus
prometheus: ## Install Prometheus and promtool (Debian package) unless promtool is already there
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  else \
	    echo "prometheus: promtool is missing; run 'apt-get install prometheus' as root, or the Prometheus tests are skipped"; \
	  fi; }
