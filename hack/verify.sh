#!/usr/bin/env bash
# Fails when a generated file is stale, gofmt would change a file, or a go.mod is untidy.
#
# Generated files are checked against the sources, not against git: the committed (or working-tree)
# copies are saved, regenerated with `make generate manifests` (generate first: the CRDs are made from Go that generate writes), and compared. A stale file is left
# regenerated so that the fix is one `git add` away.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

generated=(config/crd/bases config/rbac/role.yaml charts/innkeeper/crds charts/innkeeper/templates/manager-rbac.yaml
	charts/innkeeper/templates/agent-policy.yaml)
while IFS= read -r f; do generated+=("$f"); done < <(git ls-files --cached --others --exclude-standard '*zz_generated*.go')

snapshot=$(mktemp -d)
trap 'rm -rf "$snapshot"' EXIT
for p in "${generated[@]}"; do
	if [[ -e "$p" ]]; then
		mkdir -p "$snapshot/$(dirname "$p")"
		cp -R "$p" "$snapshot/$p"
	fi
done

make --no-print-directory -s generate manifests helm >/dev/null

status=0
for p in "${generated[@]}"; do
	if [[ ! -e "$snapshot/$p" && ! -e "$p" ]]; then
		continue
	fi
	if [[ ! -e "$snapshot/$p" || ! -e "$p" ]] || ! diff -ruN "$snapshot/$p" "$p" >&2; then
		echo "verify: $p was stale; it has been regenerated: review and commit it" >&2
		status=1
	fi
done
# A package that gained its first API type gains a zz_generated file that the snapshot cannot hold.
while IFS= read -r f; do
	if [[ ! -e "$snapshot/$f" ]]; then
		echo "verify: $f is generated but was missing; it has been generated: review and commit it" >&2
		status=1
	fi
done < <(git ls-files --cached --others --exclude-standard '*zz_generated*.go')

unformatted=$(gofmt -s -l $(git ls-files --cached --others --exclude-standard '*.go'))
if [[ -n "$unformatted" ]]; then
	echo "verify: gofmt -s would change these files (run make fmt):" >&2
	echo "$unformatted" >&2
	status=1
fi

for mod in . hack/tools hack/tools/lint hack/promcheck hack/featuregates hack/differential hack/controlplane/*/; do
	mod=${mod%/}
	if ! (cd "$mod" && go mod tidy -diff >&2); then
		echo "verify: $mod/go.mod is not tidy (run: cd $mod && go mod tidy)" >&2
		status=1
	fi
done

if [[ $status -eq 0 ]]; then
	echo "verify: generated files, formatting and go.mod files are up to date"
fi
exit $status
