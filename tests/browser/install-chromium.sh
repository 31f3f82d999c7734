#!/usr/bin/env bash
# Install Debian's chromium for the report's browser test (tests/test_report.py) when it is
# missing and this machine allows it: root with apt-get, as CI runs. Anywhere else it says why
# and succeeds; the test then skips, naming this script.
set -euo pipefail

say() { echo "install-chromium: $*" >&2; }

command -v chromium >/dev/null && exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    say "chromium is missing and cannot be installed here (needs root and apt-get); the browser test will skip"
    exit 0
fi
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
say "installing chromium (Debian package)"
# A fresh container may have no package lists yet: read them once, only if the first try fails.
if ! apt_install && ! { apt-get update -qq && apt_install; }; then
    say "apt-get could not install chromium; the browser test will skip"
fi
