#!/bin/sh
# Starts a throwaway Prometheus (Debian's `prometheus` package) scraping a local Quetzal, so the
# Grafana dashboard in docs/grafana/quetzal.json has data. Storage lives in a temporary directory
# that is removed on exit.
#
#   scripts/prometheus.sh [target]        default target: localhost:8080
#
# Environment: QUETZAL_METRICS_TOKEN (sent as a bearer token when set),
#              PROMETHEUS_LISTEN (default 127.0.0.1:9090).
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
target="${1:-localhost:8080}"
listen="${PROMETHEUS_LISTEN:-127.0.0.1:9090}"

if ! command -v prometheus >/dev/null 2>&1; then
  echo "prometheus is not installed. On Debian/Ubuntu: sudo apt-get install prometheus" >&2
  echo "(the package also starts a system service; 'sudo systemctl disable --now prometheus'" >&2
  echo " frees port 9090 if you only want this script's instance)" >&2
  exit 1
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/quetzal-prometheus.XXXXXX")"
trap 'rm -rf "$dir"' EXIT INT TERM

auth=""
if [ -n "${QUETZAL_METRICS_TOKEN:-}" ]; then
  auth="    authorization:
      credentials: \"${QUETZAL_METRICS_TOKEN}\""
fi

sed -e "s|@TARGET@|${target}|" "$here/prometheus.yml.template" > "$dir/prometheus.yml"
if [ -n "$auth" ]; then
  printf '%s\n' "$auth" >> "$dir/prometheus.yml"
fi

if command -v promtool >/dev/null 2>&1; then
  promtool check config "$dir/prometheus.yml" >/dev/null
fi

cat <<INFO
Prometheus: http://${listen}  (scraping http://${target}/metrics every 5 s)
Dashboard:  in Grafana, add a Prometheus data source with URL http://${listen},
            then Dashboards > New > Import > upload docs/grafana/quetzal.json
            and pick that data source for DS_PROMETHEUS.
Stop with Ctrl-C; the data in ${dir} is deleted.
INFO

prometheus \
  --config.file="$dir/prometheus.yml" \
  --storage.tsdb.path="$dir/data" \
  --web.listen-address="$listen" \
  --log.level=warn &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
wait "$pid"
