# Shared helpers for scripts/test and scripts/quickstart. Idempotent: each ensure_* does nothing when
# its thing is already there.

MCPCTL_TEST_CACHE="${MCPCTL_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpctl-test}"
PODMAN_SOCKET_PATH="/run/podman/podman.sock"
mkdir -p "$MCPCTL_TEST_CACHE"

step() {  # step LABEL COMMAND...: run and time one stage, printing a short line
  local label=$1 start=$SECONDS
  shift
  printf '==> %s\n' "$label"
  "$@"
  printf '    %s done in %ss\n' "$label" $((SECONDS - start))
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {  # ensure_packages PKG...: install only what is missing; apt-get update once
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "    installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {  # the project venv with its test extras; reinstalls only when pyproject.toml changes
  local stamp=.venv/.mcpctl-pyproject-hash
  local want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  [ -x .venv/bin/python ] || python3 -m venv .venv
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    local log="$MCPCTL_TEST_CACHE/pip.log"
    if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[test]'; } >"$log" 2>&1; then
      grep -v '^WARNING: Location' "$log" | tail -30 >&2
      return 1
    fi
    echo "$want" > "$stamp"
  fi
}

ensure_dockerd() {
  if docker info >/dev/null 2>&1; then return 0; fi
  echo "    starting dockerd (log: $MCPCTL_TEST_CACHE/dockerd.log)"
  # Daemons start in /: they outlive this checkout, and Podman's conmon fails ("write child: broken pipe")
  # once the service's working directory is deleted.
  as_root bash -c "cd / && nohup dockerd >'$MCPCTL_TEST_CACHE/dockerd.log' 2>&1 &"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "dockerd did not start; see $MCPCTL_TEST_CACHE/dockerd.log" >&2
  tail -20 "$MCPCTL_TEST_CACHE/dockerd.log" >&2
  return 1
}

podman_answers() {
  curl -fsS --unix-socket "$PODMAN_SOCKET_PATH" http://d/_ping >/dev/null 2>&1
}

ensure_podman() {
  # crun fails on this kernel's hybrid cgroups; runc with cgroupfs works everywhere we run.
  if ! grep -qs 'runtime = "runc"' /etc/containers/containers.conf; then
    as_root mkdir -p /etc/containers
    printf '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
      | as_root tee /etc/containers/containers.conf >/dev/null
  fi
  # Docker sets the FORWARD policy to DROP; with br_netfilter that also drops traffic *within* Podman's
  # internal bridges (egress-filter networks). Accept bridged (same-bridge) frames; routing is unaffected.
  if as_root iptables -nL DOCKER-USER >/dev/null 2>&1 \
     && ! as_root iptables -C DOCKER-USER -m physdev --physdev-is-bridged -j ACCEPT 2>/dev/null; then
    as_root iptables -I DOCKER-USER -m physdev --physdev-is-bridged -j ACCEPT
  fi
  if podman_answers; then return 0; fi
  echo "    starting podman system service on $PODMAN_SOCKET_PATH"
  as_root mkdir -p "$(dirname "$PODMAN_SOCKET_PATH")"
  as_root bash -c "cd / && nohup podman system service --time=0 unix://$PODMAN_SOCKET_PATH >'$MCPCTL_TEST_CACHE/podman.log' 2>&1 &"
  for _ in $(seq 1 30); do
    podman_answers && return 0
    sleep 1
  done
  echo "podman service did not start; see $MCPCTL_TEST_CACHE/podman.log" >&2
  return 1
}

debian_mirror() {  # the mirror the host's apt uses, so debootstrap reaches what apt reaches
  local uri
  uri=$(grep -rhs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}
