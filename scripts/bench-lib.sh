# Shared by the benchmark scripts (sourced, not run).

# target TEXT VALUE OP LIMIT: prints whether lambdapool met a target (OP is
# <= or >=), or "not measured" when VALUE is empty. TEXT is padded to
# $TARGET_WIDTH (58 unless the script sets it).
target() {
    local text=$1 v=${2:-} op=$3 limit=$4 width=${TARGET_WIDTH:-58} ok
    if [ -z "$v" ]; then
        printf '  %-*s not measured\n' "$width" "$text"
        return 0
    fi
    ok=$(awk -v v="$v" -v l="$limit" -v op="$op" 'BEGIN {
        print ((op == "<=" && v <= l) || (op == ">=" && v >= l)) ? "met" : "MISSED" }')
    printf '  %-*s %-6s (%s)\n' "$width" "$text" "$ok" "$v"
}

# keep_lowest ARRAY PREFIX: reads "<key> <value>" lines; ARRAY[PREFIX<key>]
# keeps the lowest value seen (each figure is the lowest of its runs).
keep_lowest() {
    local -n into=$1
    local prefix=$2 k v
    while read -r k v; do
        [ -n "$k" ] || continue
        k=$prefix$k
        if [ -z "${into[$k]:-}" ] || awk -v a="$v" -v b="${into[$k]}" \
            'BEGIN { exit !(a < b) }'; then
            into[$k]=$v
        fi
    done
}
