#!/usr/bin/env bash
# Installs what the browser end-to-end tests in e2e/ need:
#   - Debian's chromium plus CJK and emoji fonts (only when missing),
#   - playwright-core (the only npm dependency; it never downloads a browser).
# Safe to run repeatedly; fast when everything is already there.
# Needs root (or sudo) for apt-get. Non-interactive: works with CI=true and no stdin.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
e2e_dir="$repo_root/e2e"

apt_packages=(chromium fonts-noto-cjk fonts-noto-color-emoji)

missing=()
for pkg in "${apt_packages[@]}"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done
if [[ ! -x /usr/bin/chromium ]] && [[ ${#missing[@]} -eq 0 ]]; then
    missing+=(chromium)
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    echo "e2e-setup: installing ${missing[*]}"
    sudo_cmd=()
    if [[ "$(id -u)" -ne 0 ]]; then
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${apt_packages[@]}" </dev/null
else
    echo "e2e-setup: chromium and fonts already installed"
fi

if [[ ! -x /usr/bin/chromium ]]; then
    echo "e2e-setup: /usr/bin/chromium is still missing after apt-get install" >&2
    exit 1
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "e2e-setup: npm is not installed (need Node.js >= 20 with npm)" >&2
    exit 1
fi

cd "$e2e_dir"
# playwright-core never downloads a browser; make sure nothing else tries either.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
wanted="$(node -p "require('./package.json').dependencies['playwright-core']")"
installed="$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch { '' }")"
if [[ -n "$installed" && "$installed" == "$wanted" ]]; then
    echo "e2e-setup: playwright-core $installed already installed"
elif [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund </dev/null
else
    npm install --no-audit --no-fund </dev/null
fi

echo "e2e-setup: done ($(/usr/bin/chromium --version 2>/dev/null || echo chromium))"
