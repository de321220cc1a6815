#!/usr/bin/env bash
# The layering rule (docs/architecture.md): a file of one layer includes attend headers of its own
# layer and of the layers below it only. Prints every violation as FILE:LINE and exits 1 if any.
# Usage: tools/check_layers.sh [source dir]
set -euo pipefail
root=${1:-$(dirname "$0")/..}
layers=(core text nn train io decode eval experiment serve)
rank_of() {
  local i
  for i in "${!layers[@]}"; do [[ ${layers[$i]} == "$1" ]] && { echo "$i"; return; }; done
  echo -1
}
violations=0
for rank in "${!layers[@]}"; do
  layer=${layers[$rank]}
  for dir in "$root/include/attend/$layer" "$root/src/$layer"; do
    [[ -d $dir ]] || continue
    # FILE:LINE:#include "attend/<layer>/x.hpp" or an internal "<layer>/x.hpp" under src/
    while IFS= read -r hit; do
      target=$(sed -E 's/^[^:]*:[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](attend\/)?([a-z_]+)[/.].*/\2/' <<<"$hit")
      target_rank=$(rank_of "$target")
      # attend/<name>.hpp with no layer folder is the umbrella header: for users of the library only.
      if grep -Eq '[<"]attend/[a-z_]+\.hpp' <<<"$hit"; then target_rank=99; fi
      if (( target_rank > rank )); then
        echo "${hit%%:#*}: layer '$layer' includes ${hit#*:*:} (above it)"
        violations=$((violations + 1))
      fi
    done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]((attend/[a-z_]+[/.])|([a-z_]+/[a-z_]+\.hpp"))' "$dir" || true)
  done
done
if (( violations > 0 )); then
  echo "$violations include(s) break the layering (lowest first: ${layers[*]})"
  exit 1
fi
echo "layering holds (lowest first: ${layers[*]})"
