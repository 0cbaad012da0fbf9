#!/bin/sh
# Runs each test program given, then prints the totals of their closing lines.
# Test programs run from the repository root and end with "N passed, N failed, N skipped".
p=0; f=0; s=0; broken=""
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$last" ] || [ $rc -ne 0 ]; then
        printf '%s\n' "$out" | grep -E '^(FAIL|SKIP)|[Ee]rror|ERROR|SUMMARY' | head -n 40
    else
        printf '%s\n' "$out" | grep -E '^SKIP' | head -n 10
    fi
    if [ -z "$last" ]; then
        echo "$t: crashed or printed no result (exit $rc)"; f=$((f + 1)); broken="$broken $t"; continue
    fi
    printf '%-40s %s\n' "$(basename "$t")" "$last"
    tp=$(echo "$last" | sed -E 's/^([0-9]+) passed.*/\1/')
    tf=$(echo "$last" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    ts=$(echo "$last" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
    p=$((p + tp)); f=$((f + tf)); s=$((s + ${ts:-0}))
    if [ $rc -ne 0 ] && [ "$tf" -eq 0 ]; then f=$((f + 1)); broken="$broken $t"; fi
done
[ -n "$broken" ] && echo "failed programs:$broken"
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
