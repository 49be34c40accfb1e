#!/bin/sh
# Seeds the chat UI's data volume with what the image keeps under its data directory (the
# embedding, whisper and tiktoken caches Open WebUI needs offline), which the empty volume mounted
# over that directory would hide (open-webui/helm-charts#38, open-webui#3168):
#   sh seed-app-data.sh IMAGE_DATA VOLUME
# Only what the volume lacks is copied, so users' data and settings are never overwritten; each
# file goes to a temporary name first, so an interrupted seed never leaves a truncated cache file.
set -eu
from=$1 to=$2
find "$to" -name '*.greenzone-seeding' -exec rm -f {} +
list="$to/.greenzone-seed-list"
cd "$from"
find . ! -type d > "$list"  # a file first, so that an unreadable directory fails the seed
copied=0
while IFS= read -r entry; do
  entry=${entry#./}
  if [ -e "$to/$entry" ] || [ -L "$to/$entry" ]; then
    continue
  fi
  mkdir -p "$(dirname "$to/$entry")"
  cp -P --preserve=mode,timestamps "./$entry" "$to/$entry.greenzone-seeding"
  mv -f "$to/$entry.greenzone-seeding" "$to/$entry"
  copied=$((copied + 1))
done < "$list"
rm -f "$list"
echo "seed: $copied files copied from $from to $to; what $to already held is kept"
