#!/usr/bin/env bash
# `make tools`: Prometheus/promtool and Alertmanager/amtool for the tests and the benchmark,
# from Debian unstable's packages, unpacked into .tools/ (binaries in .tools/bin).
#
# Nothing on the machine is installed, upgraded or reconfigured: the `sid` suite is added to a
# private apt configuration under .tools/apt (pinned low, so it could never win an upgrade even
# if that configuration were reused), on the mirror of the machine's own Debian source entry
# (or DEBIAN_MIRROR), and the packages are fetched with `apt-get download` and unpacked with
# `dpkg -x`. The binaries need only libc (Debian's Alertmanager also needs its two default
# templates in /usr/share/prometheus/alertmanager: see below). Run again, it does nothing once usable versions are
# found (.tools/bin, then PATH); remove .tools/ to fetch again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
PACKAGES=(prometheus/sid promtool/sid prometheus-alertmanager/sid)
BINARIES=(prometheus promtool prometheus-alertmanager amtool)

check() { python3 -m tests.support.upstream; }

if check >/dev/null 2>&1; then
  echo "upstream tools already present:"
  check
  exit 0
fi

# The first `deb` URI whose path ends in /debian (not debian-security, not a third party),
# from deb822 files (URIs:) or one-line entries (deb [options] URI suite ...).
debian_mirror() {
  local files=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  local existing=()
  local f
  for f in "${files[@]}"; do [ -f "$f" ] && existing+=("$f"); done
  [ ${#existing[@]} -gt 0 ] || return 0
  awk '
    /^[[:space:]]*URIs:/ { for (i = 2; i <= NF; i++) print $i }
    /^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; break } }
  ' "${existing[@]}" | grep -E '/debian/?$' | head -n 1 | sed 's:/$::'
}

MIRROR=${DEBIAN_MIRROR:-$(debian_mirror)}
KEYRING=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
if [ -z "$MIRROR" ]; then
  echo "make tools: no Debian source entry in /etc/apt/sources.list or /etc/apt/sources.list.d/." >&2
  echo "Set DEBIAN_MIRROR to a Debian mirror URI (one whose dists/ holds sid) and run it again." >&2
  exit 1
fi
if [ ! -r "$KEYRING" ]; then
  echo "make tools: the Debian archive keyring $KEYRING is missing (package debian-archive-keyring)," >&2
  echo "or set DEBIAN_KEYRING to it." >&2
  exit 1
fi
for command in apt-get dpkg python3; do
  command -v "$command" >/dev/null || { echo "make tools: $command is needed (a Debian or Ubuntu machine)" >&2; exit 1; }
done

APT=$TOOLS/apt
rm -rf "$APT" "$TOOLS/root"
mkdir -p "$APT/etc/sources.list.d" "$APT/etc/preferences.d" "$APT/lists/partial" "$APT/cache/archives/partial" \
  "$APT/debs" "$TOOLS/root" "$TOOLS/bin"
: > "$APT/etc/sources.list"
cat > "$APT/etc/sources.list.d/sid.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: sid
Components: main
Signed-By: $KEYRING
EOF
cat > "$APT/etc/preferences.d/sid" <<EOF
Package: *
Pin: release n=sid
Pin-Priority: 50
EOF
apt_options=(
  -o "Dir::Etc::sourcelist=$APT/etc/sources.list"
  -o "Dir::Etc::sourceparts=$APT/etc/sources.list.d"
  -o "Dir::Etc::preferences=$APT/etc/preferences"
  -o "Dir::Etc::preferencesparts=$APT/etc/preferences.d"
  -o "Dir::State::lists=$APT/lists"
  -o "Dir::Cache=$APT/cache"
  -o "APT::Sandbox::User=$(id -un)"
  -o "Debug::NoLocking=true"
)
echo "make tools: sid from $MIRROR (private apt configuration in $APT)"
apt-get "${apt_options[@]}" update -qq
(cd "$APT/debs" && apt-get "${apt_options[@]}" download "${PACKAGES[@]}")
for deb in "$APT"/debs/*.deb; do
  echo "  unpacking $(basename "$deb")"
  dpkg -x "$deb" "$TOOLS/root"
done
for binary in "${BINARIES[@]}"; do
  ln -sfn "../root/usr/bin/$binary" "$TOOLS/bin/$binary"
done
rm -rf "$APT/lists" "$APT/cache" "$APT/debs"

# Debian's Alertmanager reads its default notification templates from a compiled-in directory
# instead of embedding them: the two template files are added there when they are missing (they
# replace nothing; root or sudo needed, otherwise the command is printed).
TEMPLATES=/usr/share/prometheus/alertmanager
if [ ! -f "$TEMPLATES/default.tmpl" ]; then
  copy=(install -D -m 0644 -t "$TEMPLATES" "$TOOLS/root$TEMPLATES/default.tmpl" "$TOOLS/root$TEMPLATES/email.tmpl")
  if [ "$(id -u)" = 0 ]; then
    "${copy[@]}"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo "${copy[@]}"
  else
    echo "make tools: Debian's Alertmanager needs its templates in $TEMPLATES; as root, run:" >&2
    echo "  ${copy[*]}" >&2
  fi
fi

echo "upstream tools:"
check
