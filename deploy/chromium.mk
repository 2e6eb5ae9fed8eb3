# Chromium from Debian's `chromium` package: the report's browser test (tests/integration/test_report_browser.py)
# drives it with Playwright through executable_path, because Playwright's own browser download cannot work
# here. Included by the Makefile, which makes `test` and `test-integration` depend on `chromium`. Installing
# needs root (as on CI); elsewhere install the package yourself, or the browser test is skipped saying so.
CHROMIUM ?= /usr/bin/chromium
# axe-core, injected by the portal's browser test to check accessibility (WCAG 2.1 AA); skipped without it.
AXE_VERSION ?= 4.10.3
AXE := var/node/node_modules/axe-core/axe.min.js

.PHONY: chromium
chromium: ## Install Chromium (Debian package) for the browser tests, and axe-core (npm) for the portal's, unless there
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-wqy-zenhei; \
	  else \
	    echo "chromium: $(CHROMIUM) is missing; run 'apt-get install chromium' as root, or the browser test is skipped"; \
	  fi; }
	@test -f $(AXE) || { command -v npm >/dev/null 2>&1 && \
	  npm install --prefix var/node --no-audit --no-fund --silent axe-core@$(AXE_VERSION) || \
	  echo "chromium: axe-core not installed (npm missing or offline): the portal's accessibility test is skipped"; }
