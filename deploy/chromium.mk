# Chromium from Debian's `chromium` package: the report's browser test (tests/integration/test_report_browser.py)
# drives it with Playwright through executable_path, because Playwright's own browser download cannot work
# here. Included by the Makefile, which makes `test` and `test-integration` depend on `chromium`. Installing
# needs root (as on CI); elsewhere install the package yourself, or the browser test is skipped saying so.
CHROMIUM ?= /usr/bin/chromium

.PHONY: chromium
chromium: ## Install Chromium (Debian package) for the report's browser test unless it is already there
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else \
	    echo "chromium: $(CHROMIUM) is missing; run 'apt-get install chromium' as root, or the browser test is skipped"; \
	  fi; }
