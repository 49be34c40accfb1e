#!/bin/sh
# Seeds an engine's model store from the bundle's models on this node:
#   sh seed-models.sh BUNDLE STORE PREFIX
# copies every file of BUNDLE/SHA256SUMS whose path starts with PREFIX (`ollama/`, `hf/ORG/NAME/`)
# to STORE, so that the store never holds a truncated or wrong file:
# - each copy goes to a temporary name, is checked against the bundle's sha256, then renamed;
# - a file already in the store is kept when it matches (checked once, then remembered by size,
#   mtime and sha256 under STORE/.seed/), and replaced when it does not;
# - seeders on one node (replicas sharing one store directory) take turns through a lock on the store
#   (a store on NFS needs a mount that allows locks);
# the store holds the bundle's files: one edited there is put back as the bundle has it.
set -eu
bundle=$1 store=$2 prefix=$3
sums="$bundle/SHA256SUMS"
if [ ! -f "$sums" ]; then
  echo "seed: $sums is missing: this node's copy of the bundle's models is incomplete; run greenzone install again" >&2
  exit 1
fi
mkdir -p "$store/.seed/stamps"
exec 9>>"$store/.seed/lock"
flock 9
# A seeder killed mid-copy left its temporary file; no other seeder is copying now.
find "$store" -path "$store/.seed" -prune -o -name '*.greenzone-seeding' -type f -exec rm -f {} +

copied=0 kept=0
while read -r sum path; do
  case "$path" in "$prefix"*) ;; *) continue ;; esac
  source="$bundle/$path" target="$store/$path" stamp="$store/.seed/stamps/$path"
  if [ -f "$target" ]; then
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum $(stat -c '%s %Y' "$target")" ]; then
      kept=$((kept + 1)); continue
    fi
    found=$(sha256sum "$target")
    if [ "${found%% *}" = "$sum" ]; then
      mkdir -p "$(dirname "$stamp")"
      echo "$sum $(stat -c '%s %Y' "$target")" > "$stamp"
      kept=$((kept + 1)); continue
    fi
    echo "seed: $target does not match the bundle; replacing it"
  fi
  if [ ! -f "$source" ]; then
    echo "seed: $source is missing: this node's copy of the bundle's models is incomplete; run greenzone install again" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$target")" "$(dirname "$stamp")"
  cp "$source" "$target.greenzone-seeding"
  got=$(sha256sum "$target.greenzone-seeding")
  got=${got%% *}
  if [ "$got" != "$sum" ]; then
    rm -f "$target.greenzone-seeding"
    echo "seed: $source has sha256 $got, the bundle says $sum: this node's copy of the bundle is damaged; run greenzone install again" >&2
    exit 1
  fi
  sync "$target.greenzone-seeding"  # on disk before it takes the real name: a power cut leaves no hole
  mv -f "$target.greenzone-seeding" "$target"
  echo "$sum $(stat -c '%s %Y' "$target")" > "$stamp"
  copied=$((copied + 1))
done < "$sums"
if [ $((copied + kept)) -eq 0 ]; then
  echo "seed: $sums lists no file under $prefix: the bundle does not hold this model" >&2
  exit 1
fi
echo "seed: $prefix: $copied copied, $kept already in the store (unchanged)"
