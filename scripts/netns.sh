#!/bin/sh
# Runs a command in a private, throw-away network namespace: loopback up, plus a veth pair
# q0/q1 with q0 = 198.18.0.1/24 (RFC 2544's benchmark range) and the default route, so a server can bind and
# announce a non-loopback address as it does in production while nothing routes off this host.
# Set QUETZAL_NETNS_ADDR for another address. Needs root (unshare --net) and iproute2.
#   scripts/netns.sh deno task start --public-ip 198.18.0.1
set -e
if [ "${1:-}" = "--inner" ]; then
  shift
  ip link set lo up
  ip link add q0 type veth peer name q1
  ip addr add "${QUETZAL_NETNS_ADDR:-198.18.0.1/24}" dev q0
  ip link set q1 up
  ip link set q0 up
  # A default route, as hosts have (into the veth pair: still nothing leaves the namespace).
  # Without one Firefox calls itself offline and gathers no ICE candidates.
  ip route add default dev q0
  exec "$@"
fi
exec unshare --net -- "$0" --inner "$@"
