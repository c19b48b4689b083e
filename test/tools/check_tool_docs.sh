#!/usr/bin/env bash
# Every long option a tool's --help lists is in its manual page and its bash completion, the
# manual pages format without warnings, and the completion functions complete.
# Usage: check_tool_docs.sh SOURCE_ROOT QMP_SHELL QOM
set -euo pipefail
root=$1
declare -A tools=([qmp-shell]=$2 [qom]=$3)
status=0
for name in "${!tools[@]}"; do
    page=$root/tools/man/$name.1
    completion=$root/tools/completion/$name
    # --method is qemu-ga's option, quoted in qmp-shell's help.
    for option in $("${tools[$name]}" --help | grep -o -- '--[a-z][a-z-]*' | sort -u | grep -vx -- --method); do
        grep -q -- "${option//-/\\\\-}" "$page" || { echo "$page: no $option"; status=1; }
        grep -qw -- "$option" "$completion" || { echo "$completion: no $option"; status=1; }
    done
    if command -v man >/dev/null; then
        warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
        [[ -z $warnings ]] || { echo "$page: $warnings"; status=1; }
    fi
done

# shellcheck source=/dev/null
source "$root/tools/completion/qmp-shell"
COMP_WORDS=(qmp-shell --no-ev) COMP_CWORD=1
_qmp_shell
[[ "${COMPREPLY[*]}" == --no-events ]] || { echo "qmp-shell --no-ev: ${COMPREPLY[*]}"; status=1; }
# shellcheck source=/dev/null
source "$root/tools/completion/qom"
COMP_WORDS=(qom -p l) COMP_CWORD=2
_qom
[[ "${COMPREPLY[*]}" == "ls list" ]] || { echo "qom -p l: ${COMPREPLY[*]}"; status=1; }
exit $status
