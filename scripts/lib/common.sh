# shellcheck shell=bash
# Small helpers shared by scripts/test and its libraries. Sourced, never run.

# One-line step header.
header() { printf '==> %s\n' "$*"; }

# An error that names what went wrong, on stderr.
err() { printf 'scripts/%s: error: %s\n' "${0##*/}" "$*" >&2; }

# Print the last lines of a log file to stderr, framed, so a failure shows its cause.
show_log() {
    local file=$1 lines=${2:-60}
    [[ -f $file ]] || return 0
    printf -- '---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf -- '---- end of %s ----\n' "$file" >&2
}

# `as_root CMD...`: run CMD as root (directly when we are root, else through sudo).
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        err "need root (or passwordless sudo) to run: $*"
        return 1
    fi
}

# `wait_until SECONDS CMD...`: run CMD every 0.2 s until it succeeds or SECONDS pass.
wait_until() {
    local seconds=$1
    shift
    local tries=$((seconds * 5))
    while ((tries-- > 0)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}
