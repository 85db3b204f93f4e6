#!/bin/sh
# Builds quetzal-peers offline from Debian's Go packages (golang-go,
# golang-github-pion-webrtc.v3-dev): GOPATH mode over /usr/share/gocode, plus a private GOPATH
# of symlinks for the modules whose major-version suffix Debian's layout lacks.
#   bench/peers/build.sh OUT_BINARY
#   bench/peers/build.sh --test      (runs the package's go tests instead)
set -eu
out=${1:?usage: build.sh OUT_BINARY | --test}
here=$(cd "$(dirname "$0")" && pwd)
gocode=${GOCODE:-/usr/share/gocode}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/src/github.com/pion
for pair in webrtc:v3 sdp:v3 transport:v2 udp:v2 dtls:v2 ice:v2 srtp:v2 turn:v2; do
  name=${pair%%:*}
  major=${pair##*:}
  if [ ! -e "$gocode/src/github.com/pion/$name/$major" ]; then
    mkdir -p "$src/$name"
    ln -s "$gocode/src/github.com/pion/$name" "$src/$name/$major"
  fi
done
mkdir -p "$work/src/quetzal"
ln -s "$here" "$work/src/quetzal/peers"
cd "$work/src/quetzal/peers"
if [ "$out" = --test ]; then
  GO111MODULE=off GOPATH="$work:$gocode" GOFLAGS= GOPROXY=off go test -count=1 .
else
  GO111MODULE=off GOPATH="$work:$gocode" GOFLAGS= GOPROXY=off go build -o "$out" .
fi
