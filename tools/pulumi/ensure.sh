#!/usr/bin/env bash
# Finds or builds the Pulumi CLI the real-CLI tests, `make preview` and `make demo` run.
#   1. a `pulumi` on PATH at v3.274 or newer (within v3) is used as it is, as a user's would be;
#   2. tools/pulumi/bin/pulumi, built earlier, is reused;
#   3. otherwise, with Go, it is built here from the Go module proxy, pinned by go.mod and go.sum.
# Without either, it says so and succeeds: the tests then skip, except under CI=true where they fail.
set -euo pipefail
export PULUMI_SKIP_UPDATE_CHECK=true
cd "$(dirname "$0")"
VERSION=v3.274.1
BIN=bin
say() { echo "pulumi-cli: $*"; }

compatible() {  # "v3.M.P" with M >= 274
    [[ "$1" =~ ^v3\.([0-9]+)\. ]] && (( BASH_REMATCH[1] >= 274 ))
}

if ambient=$(command -v pulumi 2>/dev/null); then
    version=$(pulumi version 2>/dev/null || true)
    if compatible "$version"; then
        say "using $ambient ($version) from PATH"
        exit 0
    fi
    say "ignoring $ambient on PATH: version '$version' is not v3.274 or newer"
fi

if [[ -x $BIN/pulumi && -f $BIN/pulumi-language-python-exec ]] && [[ $($BIN/pulumi version 2>/dev/null) == "$VERSION" ]]; then
    say "reusing tools/pulumi/$BIN/pulumi ($VERSION, built earlier)"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    say "no pulumi on PATH and no Go to build $VERSION: the real-CLI tests will skip"
    exit 0
fi

say "building pulumi $VERSION from the Go module proxy into tools/pulumi/$BIN (first build: about 15 min on 2 busy cores and 3.3 GB of Go caches; a 163 MB binary)"
start=$SECONDS
mkdir -p "$BIN"
export GOFLAGS=-mod=readonly
nice -n 10 go build -o "$BIN/pulumi.partial" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
sdk=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
mv "$BIN/pulumi.partial" "$BIN/pulumi"
say "built tools/pulumi/$BIN/pulumi ($($BIN/pulumi version)) in $((SECONDS - start)) s, $(du -h "$BIN/pulumi" | cut -f1)"
