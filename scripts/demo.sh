#!/usr/bin/env bash
# The main job. Installs what it needs (scripts/setup.sh), then, with the `berth` CLI only: builds a
# small image from the host's busybox-static into berth's store, runs a command in it, runs a web server
# container with a port published on 127.0.0.1, fetches the page, shows `berth ps`, `berth port` and
# `berth logs`, and removes the container and the image it made (nothing of yours is touched: the image
# and container names are unique to this run).
#
#   bash scripts/demo.sh                  setup, then the berth demo on the default store (/var/lib/berth)
#   bash scripts/demo.sh --oci            setup, then the older berth-oci demo (a bundle run with berth-oci)
#   options: --no-setup (skip scripts/setup.sh); --root DIR, --run-root DIR, --config FILE (passed to
#   every berth command); --port N (host port on 127.0.0.1; default 8080 when free, else any free port)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

mode=berth
setup=1
port=
globals=()
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --oci) mode=oci ;;
    --no-setup) setup=0 ;;
    --root | --run-root | --config)
      [ $# -ge 2 ] || { echo "demo: $1 needs a path" >&2; exit 2; }
      globals+=("$1" "$2"); shift ;;
    --port)
      [ $# -ge 2 ] || { echo "demo: --port needs a number" >&2; exit 2; }
      port=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$setup" = 1 ]; then
  BERTH_EXTRA_PKGS="${BERTH_EXTRA_PKGS:-} iptables containernetworking-plugins" bash scripts/setup.sh
fi
if [ "$mode" = oci ]; then exec node dist/src/demo/oci-demo.js; fi

if [ "$(id -u)" != 0 ]; then
  echo "demo: berth makes namespaces, mounts, cgroups and a network bridge: run it as root" >&2
  exit 1
fi

berth() { "$repo/bin/berth" "${globals[@]}" "$@"; }
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
# an argument as a person would type it in a shell
quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
# show the command, then run it
run() {
  printf '$ berth'
  for a in "$@"; do printf ' %s' "$(quote "$a")"; done
  printf '\n'
  berth "$@"
}

# ---- names unique to this run; cleanup on any exit removes only what this run made
tag=$$
taken() { berth "$@" >/dev/null 2>&1; }
while taken image inspect "berth-demo/busybox:$tag" || taken inspect --type container "berth-demo-web-$tag" ||
  taken inspect --type container "berth-demo-hello-$tag"; do
  tag=$$-$RANDOM
done
image=berth-demo/busybox:$tag
web=berth-demo-web-$tag
hello=berth-demo-hello-$tag
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
made_image=0
made_web=0
made_hello=0
# berth keeps <run-root>/engine/pods bind-mounted (private, for pinned namespaces) while it has
# containers; the demo unmounts it afterwards when this run made it and no container is left
run_root=/run/berth
for ((i = 0; i < ${#globals[@]}; i += 2)); do
  if [ "${globals[i]}" = --run-root ]; then run_root=${globals[i + 1]}; fi
done
pods_mount=$run_root/engine/pods
had_pods_mount=0
if mountpoint -q "$pods_mount" 2>/dev/null; then had_pods_mount=1; fi
cleanup() {
  local rc=$?
  set +e
  if [ "$made_web" = 1 ]; then berth rm -f "$web" >/dev/null 2>&1; fi
  if [ "$made_hello" = 1 ]; then berth rm -f "$hello" >/dev/null 2>&1; fi
  if [ "$made_image" = 1 ]; then berth rmi "$image" >/dev/null 2>&1; fi
  rm -rf "$work"
  if [ "$had_pods_mount" = 0 ] && mountpoint -q "$pods_mount" 2>/dev/null && [ -z "$(berth ps -aq 2>/dev/null)" ]; then
    umount "$pods_mount" 2>/dev/null
  fi
  if [ "$rc" != 0 ]; then echo "demo: failed (exit $rc); removed what it had made" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# $1 when no host socket holds it, else one the kernel picks (a host port published by a container
# holds no socket: those are checked with berth ps below)
free_port() {
  node -e '
    const net = require("net");
    const try1 = (p) => { const s = net.createServer(); s.once("error", () => try1(0));
      s.listen(p, "127.0.0.1", () => { console.log(s.address().port); s.close(); }); };
    try1(Number(process.argv[1]));' "$1"
}
if [ -z "$port" ]; then
  port=$(free_port 8080)
  if berth ps -a --format '{{.Ports}}' 2>/dev/null | grep -q ":$port->"; then port=$(free_port 0); fi
fi

# ---- 1. an image from the host's busybox-static
page="Hello from a berth container (demo $tag)"
step "1. build an image from the host's busybox-static: a rootfs tarball, imported with berth import"
node dist/src/demo/demo-rootfs.js "$work/rootfs" "$page"
echo "rootfs: /bin/busybox + $(find "$work/rootfs/bin" -type l | wc -l) applet links, /etc/passwd, /etc/group, /www/index.html"
printf '$ tar -C rootfs -c . | berth import --change '\''CMD ["sh"]'\'' - %s\n' "$image"
tar --numeric-owner -C "$work/rootfs" -c . | berth import --change 'CMD ["sh"]' - "$image"
made_image=1
run images "$image"

# ---- 2. a command in a container
step "2. run a command in a container (its own hostname, pid 1, and filesystem)"
made_hello=1 # (--rm removes it; this is for an interrupted run)
run run --rm --name "$hello" --hostname demo "$image" sh -c 'echo "hello from $(hostname): I am pid $$;" / holds: $(ls /)'
made_hello=0

# ---- 3. a web server with a published port
step "3. run a web server in the background, port 80 published on 127.0.0.1:$port"
made_web=1 # (before: a run that fails half way may still leave a container to remove)
run run -d --name "$web" -p "127.0.0.1:$port:80" "$image" httpd -f -v -p 80 -h /www

step "4. fetch the page from the host: http://127.0.0.1:$port/"
echo "\$ busybox wget -qO- http://127.0.0.1:$port/"
body=
# (timeout, not wget -T: Debian's busybox-static 1.35 wget crashes with -T)
for _ in $(seq 1 50); do
  if body=$(timeout 5 busybox wget -qO- "http://127.0.0.1:$port/" 2>/dev/null); then break; fi
  body=
  sleep 0.2
done
echo "$body"
if [ "$body" != "$page" ]; then
  echo "demo: expected the page \"$page\", got \"$body\"" >&2
  exit 1
fi
echo "(the page came from the container: OK)"

step "5. the container: ps, port and logs (httpd -v logs each request)"
run ps
run port "$web"
run logs "$web" 2>&1 # httpd logs to stderr, which logs keeps apart as docker does: merged here to show in order

# ---- cleanup, shown
step "6. clean up: remove the container and the image"
run rm -f "$web"
made_web=0
run rmi "$image"
made_image=0
if timeout 5 busybox wget -qO- "http://127.0.0.1:$port/" >/dev/null 2>&1; then
  echo "demo: 127.0.0.1:$port still answers after rm -f" >&2
  exit 1
fi
step "done: image built, command run, page fetched on 127.0.0.1:$port, container and image removed"
