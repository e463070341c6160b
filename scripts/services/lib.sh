# Helpers shared by scripts/services/*.sh (sourced).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT
wait_port() {
  local port="$1" tries=$(( ${2:-20} * 10 ))
  for _ in $(seq 1 "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# stop_pid FILE: stops the process whose pid FILE holds, if any, and removes FILE (what `down` does)
stop_pid() {
  [ -f "$1" ] || return 0
  kill "$(cat "$1")" 2>/dev/null || true
  rm -f "$1"
}

# apt_install PKG…: installs Debian packages that are missing (apt-get update once per run)
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "[services] apt-get install ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  # services start in parallel (scripts/test.sh): wait for another install's dpkg lock, not fail
  local wait=(-o DPkg::Lock::Timeout=600)
  if [ ! -f /tmp/.chatbox-apt-updated ]; then $sudo apt-get "${wait[@]}" update -qq >&2 && touch /tmp/.chatbox-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${wait[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2
}
