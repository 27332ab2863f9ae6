#!/usr/bin/env bash
# Installs what webgpu-compressor needs on Debian/Ubuntu, idempotently:
#   1. node_modules (npm ci) when missing or older than package-lock.json;
#   2. a WebGPU adapter for Node: Dawn (npm "webgpu") needs a Vulkan driver,
#      and on a machine without a GPU that is Mesa's lavapipe. Dawn rejects
#      bookworm's own Mesa 22.3, so on bookworm it comes from bookworm-backports;
#   3. with --browser (or WGC_SETUP_BROWSER=1): Debian's Chromium, for the
#      headless browser tests (SwiftShader ships inside it).
# Prints what it does and nothing when there is nothing to do. apt output goes
# to a log file ($WGC_SETUP_LOG), whose tail is shown when a step fails.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/setup.sh [--browser] [--dry-run] [--assume-no-adapter]

  --browser            also install Chromium for the browser tests
                       (same as WGC_SETUP_BROWSER=1)
  --dry-run, -n        print the commands that would change the system
                       instead of running them
  --assume-no-adapter  act as if the adapter probe failed (to exercise the
                       driver install path; combine with --dry-run)

Environment: WGC_SETUP_LOG (log file), WGC_CHROMIUM (a Chromium binary to use
instead of Debian's /usr/lib/chromium/chromium), WGC_SETUP_OS_RELEASE (an
os-release file to read instead of /etc/os-release; for testing).
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BROWSER=${WGC_SETUP_BROWSER:-0}
DRY_RUN=0
ASSUME_NO_ADAPTER=0
OS_RELEASE=${WGC_SETUP_OS_RELEASE:-/etc/os-release}
LOG=${WGC_SETUP_LOG:-${TMPDIR:-/tmp}/wgc-setup-$(id -u).log}
CHROMIUM=${WGC_CHROMIUM:-/usr/lib/chromium/chromium}
BACKPORTS_LIST=/etc/apt/sources.list.d/wgc-bookworm-backports.list

while (($#)); do
  case "$1" in
    --browser) BROWSER=1 ;;
    -n | --dry-run) DRY_RUN=1 ;;
    --assume-no-adapter) ASSUME_NO_ADAPTER=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

log_tail() {
  echo "setup: last lines of $LOG:" >&2
  tail -n 25 "$LOG" >&2 || true
}

# Runs a command with its output in the log; in dry-run mode only prints it.
run() {
  if ((DRY_RUN)); then echo "setup: would run: $*"; return 0; fi
  echo "+ $*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    echo "setup: error: '$*' failed" >&2
    log_tail
    exit 1
  fi
}

# Like run, as root: directly when root, through sudo otherwise.
run_root() {
  if ((EUID == 0)) || ((DRY_RUN)); then run "$@"; return; fi
  command -v sudo >/dev/null 2>&1 || die "'$*' needs root; run this script as root or install sudo"
  run sudo "$@"
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this installer supports Debian and Ubuntu only; install $* by hand"
  if ((!APT_UPDATED)); then
    run_root apt-get -o DPkg::Lock::Timeout=300 update
    APT_UPDATED=1
  fi
  run_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@"
}

# Prints one field of os-release (ID, ID_LIKE, VERSION_CODENAME), or nothing.
os_field() {
  [[ -r $OS_RELEASE ]] || return 0
  # shellcheck disable=SC1090
  (. "$OS_RELEASE" && printf '%s' "${!1:-}")
}

cd "$ROOT"
: >>"$LOG" 2>/dev/null || LOG=$(mktemp -t wgc-setup.XXXXXX.log)

# --- Node and node_modules ------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20 or newer (https://nodejs.org or NodeSource)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "Node.js $(node --version) is too old: webgpu-compressor needs Node 20 or newer"

# npm writes node_modules/.package-lock.json on every install; it is older
# than package-lock.json exactly when the lock changed since.
stamp=node_modules/.package-lock.json
if [[ ! -d node_modules || ! -e $stamp || package-lock.json -nt $stamp ]]; then
  say "installing npm dependencies (npm ci)"
  run npm ci --no-audit --no-fund
fi

# --- WebGPU adapter for Node ------------------------------------------------
# probe-adapter.mjs exits 0 with an adapter, 1 without, 2 when the bindings
# do not load, 3 on a timeout.
PROBE_OUT=""
PROBE_RC=0
probe() {
  if ((ASSUME_NO_ADAPTER)); then PROBE_OUT="(probe skipped: --assume-no-adapter)"; PROBE_RC=1; return 1; fi
  if ((DRY_RUN)) && [[ ! -d node_modules/webgpu ]]; then
    PROBE_OUT="(dry run: npm ci was not run, so the probe cannot load the webgpu package)"; PROBE_RC=1; return 1
  fi
  PROBE_RC=0
  PROBE_OUT=$(node "$ROOT/scripts/probe-adapter.mjs" 2>&1) || PROBE_RC=$?
  return "$PROBE_RC"
}

if ! probe; then
  if ((PROBE_RC == 2)); then
    echo "$PROBE_OUT" >&2
    die "Dawn's Node bindings (npm package webgpu) do not load here; a Vulkan driver will not fix that"
  fi
  id=$(os_field ID)
  id_like=$(os_field ID_LIKE)
  codename=$(os_field VERSION_CODENAME)
  if [[ $id == debian && $codename == bookworm ]]; then
    say "no WebGPU adapter for Node; installing Mesa's software Vulkan driver (lavapipe) from bookworm-backports"
    # bookworm's Mesa 22.3 is too old for Dawn; backports has 25.x.
    sources=()
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
      [[ -f $f ]] && sources+=("$f")
    done
    if ! { ((${#sources[@]})) && grep -Eqs '^[^#]*[[:space:]]bookworm-backports([[:space:]]|$)' "${sources[@]}"; }; then
      say "adding bookworm-backports to apt sources ($BACKPORTS_LIST)"
      run_root sh -c "echo 'deb http://deb.debian.org/debian bookworm-backports main' > '$BACKPORTS_LIST'"
    fi
    apt_install -t bookworm-backports mesa-vulkan-drivers
  elif [[ $id == debian || $id == ubuntu || " $id_like " == *" debian "* || " $id_like " == *" ubuntu "* ]]; then
    say "no WebGPU adapter for Node; installing Mesa's software Vulkan driver (lavapipe)"
    apt_install mesa-vulkan-drivers
  else
    die "no WebGPU adapter, and ${id:-this system} is not Debian or Ubuntu: install a Vulkan driver yourself (Mesa lavapipe; Dawn rejects Mesa 22.3, Mesa 25.0 works). Probe said: $PROBE_OUT"
  fi
  if ((DRY_RUN)); then
    say "would probe again: node scripts/probe-adapter.mjs"
  elif probe; then
    say "${PROBE_OUT##*$'\n'}"
  else
    mesa=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 'not installed')
    echo "$PROBE_OUT" >&2
    die "still no WebGPU adapter after installing mesa-vulkan-drivers ($mesa). Dawn rejects old Mesa (22.3 lacks shaderUniform*ArrayDynamicIndexing; 25.0 works); check 'vulkaninfo --summary' (package vulkan-tools) and $LOG"
  fi
fi

# --- Chromium for the browser tests ----------------------------------------
if [[ $BROWSER == 1 && ! -x $CHROMIUM ]]; then
  if [[ -n ${WGC_CHROMIUM:-} ]]; then
    die "WGC_CHROMIUM=$WGC_CHROMIUM is not an executable file"
  fi
  if [[ $(os_field ID) == ubuntu ]]; then
    die "Ubuntu ships Chromium only as a snap, which the browser tests cannot drive; install a Chromium or Chrome binary and set WGC_CHROMIUM to its path"
  fi
  say "installing Chromium for the browser tests"
  # fonts-liberation: pages need a font for text (screenshots); the other
  # recommends (printing, notifications, setuid sandbox) are not used headless.
  apt_install chromium fonts-liberation
  if ((!DRY_RUN)); then
    [[ -x $CHROMIUM ]] || die "the chromium package did not provide $CHROMIUM"
    say "$("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM installed")"
  fi
fi
exit 0
