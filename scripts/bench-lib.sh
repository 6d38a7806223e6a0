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
