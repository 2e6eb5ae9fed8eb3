# docker-compose: a fresh .env of generated secrets for it (`compose-env`), and docker-compose (v1) from
# Debian's `docker-compose` package, to validate docker-compose.yml without a Docker engine
# (`docker-compose config` never talks to one). Included by the Makefile, which makes `test` depend on
# `compose-check-tool`. Installing needs root (as on CI); elsewhere the validation tests are skipped.
.PHONY: compose-check-tool
compose-check-tool: ## Install docker-compose (Debian package, no engine) unless it is already there
	@command -v docker-compose >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose; \
	  else \
	    echo "docker-compose: missing; run 'apt-get install --no-install-recommends docker-compose' as root, or the compose validation test is skipped"; \
	  fi; }

.PHONY: compose-env
compose-env: $(VENV)/.stamp ## Write .env for docker-compose, every secret generated (never over an existing one)
	$(PY) -m devtools.compose env --output .env
