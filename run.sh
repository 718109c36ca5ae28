#!/usr/bin/env bash
# rowd set-up and launcher.
#   ./run.sh          install what is missing, build, serve ./examples on ./rowd.sock
#   ./run.sh demo     the same, and stream a sample file through rowcat
#   ./run.sh setup    only install the Debian packages
#   ./run.sh build    setup + build (no daemon)
set -euo pipefail
cd "$(dirname "$0")"

# Needed to build and test.
PACKAGES=(
	autoconf automake libtool pkg-config make gcc
	libevent-dev libmsgpack-dev libsqlite3-dev zlib1g-dev libisal-dev libyajl-dev
	check libsubunit-dev
	socat valgrind python3 python3-msgpack python3-pytest systemd
)
# Format and codec libraries: configure leaves out what is missing (those
# formats then answer ENOTSUP), so a failed install here is a warning.
OPTIONAL=(
	libbz2-dev liblzma-dev libzstd-dev liblz4-dev libbrotli-dev libxml2-dev
	libzip-dev libfreexl-dev libsnappy-dev
)

missing_of() {
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
	done
}

apt_install() {
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	[ -n "${APT_UPDATED:-}" ] || { $sudo apt-get update -qq || true; APT_UPDATED=1; }
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

setup() {
	local missing optional
	missing=$(missing_of "${PACKAGES[@]}")
	if [ -n "$missing" ]; then
		echo "run.sh: installing" $missing
		apt_install $missing
	fi
	optional=$(missing_of "${OPTIONAL[@]}")
	if [ -n "$optional" ]; then
		echo "run.sh: installing optional" $optional
		# One by one: a package the mirror lacks must not stop the rest.
		for p in $optional; do
			apt_install "$p" || echo "run.sh: warning: could not install $p - what needs it is left out"
		done
	fi
}

build() {
	setup
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi >/dev/null
	fi
	if [ ! -f Makefile ] || [ configure -nt config.status ]; then
		./configure ${ROWD_CONFIGURE_FLAGS:-} >/dev/null
	fi
	make -j"$(nproc)" >/dev/null
}

serve() {
	echo "run.sh: rowd serving ./examples on ./rowd.sock (Ctrl-C to stop)"
	echo "run.sh: try: socat - UNIX-CONNECT:./rowd.sock   then: open people.csv / read_bulk 1 3"
	exec ./daemon/rowd --socket ./rowd.sock --root ./examples "$@"
}

demo() {
	./daemon/rowd --socket ./rowd.sock --root ./examples &
	local pid=$!
	# Expanded now: $pid is local and gone by the time EXIT fires.
	trap "kill $pid 2>/dev/null; wait $pid 2>/dev/null" EXIT
	for _ in $(seq 50); do [ -S ./rowd.sock ] && break; sleep 0.1; done
	echo "== rowcat examples/people.csv"
	ROWD_SOCKET=./rowd.sock ./client/rowcat examples/people.csv
	echo "== rowcat --head 2 examples/events.jsonl.gz"
	ROWD_SOCKET=./rowd.sock ./client/rowcat --head 2 examples/events.jsonl.gz
	echo "== rowcat --count examples/people.csv"
	ROWD_SOCKET=./rowd.sock ./client/rowcat --count examples/people.csv
}

case "${1:-serve}" in
	setup) setup ;;
	build) build ;;
	demo) build; demo ;;
	serve) build; shift || true; serve "$@" ;;
	*) echo "usage: ./run.sh [serve|demo|build|setup]" >&2; exit 2 ;;
esac
