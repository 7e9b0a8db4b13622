# Sourced by scripts that bring their own tools. install_missing WHO PACKAGE...: installs the
# Debian packages given (those found missing), or says how to, naming WHO needs them.
install_missing() {
  local who=$1
  shift
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "$who need $*; install them (Debian: apt-get install $*) or run as root." >&2
    exit 1
  fi
  echo "Installing $* ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
