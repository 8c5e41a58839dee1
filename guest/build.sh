#!/bin/bash
# Build the stack-emulator guest image from Debian packages (no Docker).
#
#   build.sh OUT_DIR STACK_SERVER_BINARY [CACHE_DIR]
#
# Writes OUT_DIR/disk.qcow2 (compressed qcow2 of a 1 GiB ext4 root filesystem,
# no partition table, fixed UUID), OUT_DIR/vmlinuz (the Debian cloud kernel,
# booted with -kernel), OUT_DIR/initrd.img (tiny-initramfs, ~35 KB, loads
# virtio_blk and mounts root=UUID=...; not needed for an NVMe root given as
# root=/dev/nvme0n1) and OUT_DIR/build-info.json. See README.md for the boot
# contract.
#
# Needs root, mmdebstrap, mkfs.ext4 (e2fsprogs >= 1.43), qemu-img and xz.
# CACHE_DIR (default /var/tmp/stack-guest-build/debs) keeps the .debs and the
# apt lists, so a rebuild downloads nothing but unchanged-index checks.
#
# Environment:
#   STACK_GUEST_SNAPSHOT  snapshot.debian.org timestamp (e.g. 20250801T000000Z)
#                         to build from instead of the live mirrors
#   STACK_GUEST_MIRROR    Debian mirror (default http://deb.debian.org/debian)
#   STACK_GUEST_SECURITY  security mirror (default http://deb.debian.org/debian-security)
#   STACK_GUEST_DISK_SIZE ext4 filesystem size (default 1G)
#   STACK_GUEST_SCRATCH   scratch parent directory (default /var/tmp/stack-guest-build)
#   STACK_GUEST_KEEP_SCRATCH=1  keep the scratch rootfs for inspection
#   STACK_GUEST_OFFLINE=1 skip apt update and use the apt lists in CACHE_DIR
#                         (no network at all if the .debs are cached too)
#   STACK_GUEST_VMLINUX=1 also write OUT_DIR/vmlinux: the kernel decompressed to
#                         its ELF, which QEMU boots through the PVH entry point
#                         (-kernel vmlinux). Under TCG this skips about 1 s of
#                         in-guest decompression (6.12 is zstd-compressed);
#                         the file is about 57 MB instead of 11 MB.
#   STACK_GUEST_COMPRESSION     qcow2 compression_type: zstd (default) or zlib
#   STACK_GUEST_ROOT_UUID ext4 UUID of the root filesystem (default: a constant)
#   STACK_GUEST_KERNEL    backports (default): linux-image-cloud-amd64 from
#                         bookworm-backports (6.12; has CONFIG_VMGENID=y, so
#                         -device vmgenid reseeds the guest RNG after a
#                         snapshot resume); stable: the bookworm 6.1 cloud
#                         kernel (no vmgenid driver: CONFIG_VIRT_DRIVERS off)
set -euo pipefail

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
START_NS=$(date +%s%N)

log() {
	local now
	now=$(date +%s%N)
	printf '[%6.1fs] %s\n' "$(((now - START_NS) / 1000000))e-3" "$*" >&2
}
die() {
	printf 'build.sh: error: %s\n' "$*" >&2
	exit 1
}
usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 2 ] && [ $# -le 3 ] || usage
OUT_DIR=$1
STACK_SERVER=$2
CACHE_DIR=${3:-/var/tmp/stack-guest-build/debs}
SCRATCH_PARENT=${STACK_GUEST_SCRATCH:-/var/tmp/stack-guest-build}
DISK_SIZE=${STACK_GUEST_DISK_SIZE:-1G}
SNAPSHOT=${STACK_GUEST_SNAPSHOT:-}
COMPRESSION=${STACK_GUEST_COMPRESSION:-zstd}
KERNEL_FLAVOUR=${STACK_GUEST_KERNEL:-backports}
# Fixed, so that the kernel command line is a constant of the image format.
ROOT_UUID=${STACK_GUEST_ROOT_UUID:-8aabd451-f393-4125-8d3f-b32eda703fbb}
SUITE=bookworm
PG_VERSION=15

# ---------------------------------------------------------------------------
# Preflight.

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap --mode=root, chroot, mounts)"
for tool in mmdebstrap mkfs.ext4 qemu-img chroot mount umount sha256sum xz; do
	command -v "$tool" >/dev/null || die "$tool not found; install it (apt-get install mmdebstrap e2fsprogs qemu-utils xz-utils)"
done
[ -f "$STACK_SERVER" ] && [ -x "$STACK_SERVER" ] || die "stack-server binary '$STACK_SERVER' is not an executable file"
[ "$(head -c 4 "$STACK_SERVER" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
	die "'$STACK_SERVER' is not an ELF binary"
case $COMPRESSION in zstd | zlib) ;; *) die "STACK_GUEST_COMPRESSION must be zstd or zlib, not '$COMPRESSION'" ;; esac
case $KERNEL_FLAVOUR in
backports) KERNEL_PACKAGE=linux-image-cloud-amd64/$SUITE-backports ;;
stable) KERNEL_PACKAGE=linux-image-cloud-amd64 ;;
*) die "STACK_GUEST_KERNEL must be backports or stable, not '$KERNEL_FLAVOUR'" ;;
esac
case "$CACHE_DIR$SCRATCH_PARENT" in *[[:space:]]*) die "CACHE_DIR and STACK_GUEST_SCRATCH must not contain whitespace" ;; esac
for f in init shutdown postgresql/50-stack.conf postgresql/pg_hba.conf postgresql/pg_ident.conf; do
	[ -f "$GUEST_DIR/$f" ] || die "missing $GUEST_DIR/$f"
done

if [ -n "$SNAPSHOT" ]; then
	[[ $SNAPSHOT =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || die "STACK_GUEST_SNAPSHOT must look like 20250801T000000Z"
	MIRROR=http://snapshot.debian.org/archive/debian/$SNAPSHOT
	SECURITY=http://snapshot.debian.org/archive/debian-security/$SNAPSHOT
	LISTS_KEY=snapshot-$SNAPSHOT
	APT_SNAPSHOT_OPTS=(--aptopt='Acquire::Check-Valid-Until "false"')
else
	MIRROR=${STACK_GUEST_MIRROR:-http://deb.debian.org/debian}
	SECURITY=${STACK_GUEST_SECURITY:-http://deb.debian.org/debian-security}
	LISTS_KEY=live-$(printf '%s %s' "$MIRROR" "$SECURITY" | sha256sum | cut -c1-12)
	APT_SNAPSHOT_OPTS=()
fi
MMDEBSTRAP_EXTRA=()
if [ "${STACK_GUEST_OFFLINE:-}" = 1 ]; then
	compgen -G "$CACHE_DIR/lists/$LISTS_KEY/*_Packages*" >/dev/null ||
		die "STACK_GUEST_OFFLINE=1 needs apt lists from an earlier online build in $CACHE_DIR/lists/$LISTS_KEY"
	MMDEBSTRAP_EXTRA+=(--skip=update)
fi

mkdir -p "$OUT_DIR" "$CACHE_DIR/archives" "$CACHE_DIR/lists/$LISTS_KEY" "$SCRATCH_PARENT"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
CACHE_DIR=$(cd "$CACHE_DIR" && pwd)
SCRATCH=$(mktemp -d "$SCRATCH_PARENT/build.XXXXXX")
ROOTFS=$SCRATCH/rootfs
MOUNTS=()
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
PG_DATA=/var/lib/postgresql/$PG_VERSION/main

cleanup() {
	local rc=$? m
	set +e
	# A build-time PostgreSQL left running by a failure.
	if [ -f "$ROOTFS$PG_DATA/postmaster.pid" ]; then
		chroot "$ROOTFS" setpriv --reuid=postgres --regid=postgres --init-groups \
			"$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null 2>&1
	fi
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		mountpoint -q "$m" && { umount "$m" || umount -l "$m"; }
	done
	# Anything mmdebstrap may have left mounted if it was interrupted.
	if [ -d "$ROOTFS" ]; then
		findmnt -rn -o TARGET | grep -F "$ROOTFS/" | sort -r | while read -r m; do umount -l "$m"; done
	fi
	if [ "${STACK_GUEST_KEEP_SCRATCH:-}" = 1 ]; then
		log "kept scratch directory $SCRATCH"
	elif [ -d "$SCRATCH" ]; then
		rm -rf --one-file-system "$SCRATCH"
	fi
	if [ "$rc" != 0 ]; then
		printf 'build.sh: FAILED (exit %s); see the messages above\n' "$rc" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'printf "build.sh: error: command failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

in_root() { chroot "$ROOTFS" "$@"; }
as_user() {
	local user=$1
	shift
	chroot "$ROOTFS" setpriv --reuid="$user" --regid="$user" --init-groups env HOME=/ "$@"
}

log "building guest image into $OUT_DIR (scratch $SCRATCH, cache $CACHE_DIR)"
cp "$STACK_SERVER" "$SCRATCH/stack-server"
STACK_SERVER_VERSION=$("$SCRATCH/stack-server" --version 2>/dev/null | head -n1) ||
	die "'$STACK_SERVER --version' failed; is it a stack-server binary for this architecture?"
STACK_SERVER_SHA256=$(sha256sum "$SCRATCH/stack-server" | cut -d' ' -f1)
if command -v strip >/dev/null; then
	strip --strip-unneeded "$SCRATCH/stack-server"
	STRIPPED=true
else
	STRIPPED=false
fi

# ---------------------------------------------------------------------------
log "mmdebstrap: Debian $SUITE minbase, $KERNEL_FLAVOUR kernel (${SNAPSHOT:-live mirror})"

# No systemd, no udev: tiny-initramfs satisfies the kernel's
# linux-initramfs-tool dependency (initramfs-tools would pull in udev).
PACKAGES=(
	"$KERNEL_PACKAGE"
	tiny-initramfs
	postgresql-$PG_VERSION
	qemu-guest-agent
	iproute2
	kmod
	procps
)
EXCLUDES=(
	'/usr/share/doc/*'
	'/usr/share/man/*'
	'/usr/share/info/*'
	'/usr/share/locale/*'
	'/usr/share/i18n/*'
	'/usr/share/lintian/*'
	'/usr/share/bash-completion/*'
	# Only used by PostgreSQL's JIT, which is off.
	'/usr/lib/x86_64-linux-gnu/libLLVM-*.so*'
	'/usr/lib/x86_64-linux-gnu/libz3.so*'
	"/usr/lib/postgresql/$PG_VERSION/lib/bitcode/*"
	"/usr/lib/postgresql/$PG_VERSION/lib/llvmjit*"
)
DPKG_OPTS=(--dpkgopt=force-unsafe-io)
for p in "${EXCLUDES[@]}"; do DPKG_OPTS+=("--dpkgopt=path-exclude=$p"); done
# Keep the license files.
DPKG_OPTS+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")

mmdebstrap --mode=root --variant=minbase \
	--include="$(
		IFS=,
		echo "${PACKAGES[*]}"
	)" \
	--aptopt='APT::Install-Recommends "false"' \
	"${APT_SNAPSHOT_OPTS[@]}" "${MMDEBSTRAP_EXTRA[@]}" \
	"${DPKG_OPTS[@]}" \
	--setup-hook='mkdir -p "$1"/var/cache/apt/archives "$1"/var/lib/apt/lists' \
	--setup-hook="sync-in $CACHE_DIR/archives /var/cache/apt/archives/" \
	--setup-hook="sync-in $CACHE_DIR/lists/$LISTS_KEY /var/lib/apt/lists/" \
	--skip=download/empty --skip=essential/unlink --skip=cleanup/apt/cache \
	--customize-hook="sync-out /var/cache/apt/archives $CACHE_DIR/archives" \
	--customize-hook="sync-out /var/lib/apt/lists $CACHE_DIR/lists/$LISTS_KEY" \
	--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb "$1"/var/cache/apt/*.bin' \
	"$SUITE" "$ROOTFS" \
	"deb $MIRROR $SUITE main" \
	"deb $MIRROR $SUITE-updates main" \
	"deb $SECURITY $SUITE-security main" \
	"deb $MIRROR $SUITE-backports main" ||
	die "mmdebstrap failed (network? mirror? see its messages above)"

# Release dates of the indexes the packages came from.
RELEASE_DATES=()
for f in "$CACHE_DIR/lists/$LISTS_KEY"/*_InRelease; do
	[ -f "$f" ] || continue
	suite=$(sed -n 's/^Suite: //p' "$f" | head -n1)
	date=$(sed -n 's/^Date: //p' "$f" | head -n1)
	RELEASE_DATES+=("$suite=$date")
done

# ---------------------------------------------------------------------------
log "kernel: copy it out, keep only the modules the guest loads"

KVER=$(find "$ROOTFS/usr/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
[ -n "$KVER" ] && [ -f "$ROOTFS/boot/vmlinuz-$KVER" ] || die "no kernel found in the rootfs"
cp "$ROOTFS/boot/vmlinuz-$KVER" "$SCRATCH/vmlinuz"
OUTPUTS=(disk.qcow2 vmlinuz initrd.img)
if [ "${STACK_GUEST_VMLINUX:-}" = 1 ]; then
	# The bzImage payload is one compressed stream; find its magic and unpack
	# it (decompressors ignore the 4-byte size that trails the stream).
	off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$SCRATCH/vmlinuz" | head -n1 | cut -d: -f1)
	[ -n "$off" ] && command -v zstd >/dev/null ||
		die "STACK_GUEST_VMLINUX=1 needs a zstd-compressed kernel (the backports one) and zstd"
	tail -c +"$((off + 1))" "$SCRATCH/vmlinuz" | zstd -dcq 2>/dev/null >"$SCRATCH/vmlinux" || true
	[ "$(head -c 4 "$SCRATCH/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		die "could not extract the kernel ELF from vmlinuz"
	OUTPUTS+=(vmlinux)
fi
KCONFIG=$ROOTFS/boot/config-$KVER
for opt in CONFIG_BLK_DEV_NVME CONFIG_EXT4_FS CONFIG_DEVTMPFS CONFIG_MAGIC_SYSRQ; do
	grep -q "^$opt=y" "$KCONFIG" || die "kernel $KVER lacks $opt=y, which the boot contract needs"
done
if grep -q '^CONFIG_VMGENID=y' "$KCONFIG"; then
	KERNEL_VMGENID=true
else
	KERNEL_VMGENID=false
	log "warning: kernel $KVER has no vmgenid driver; the guest RNG is not reseeded after a snapshot resume"
fi
# The modules stack-init loads (modprobe -qa ...), with their dependencies.
WANTED_MODULES=(virtio_pci virtio_net virtio_console virtio_rng virtio_blk virtio_balloon
	vmgenid button evdev)
KEEP=$SCRATCH/modules.keep
: >"$KEEP"
for m in "${WANTED_MODULES[@]}"; do
	in_root modprobe -S "$KVER" --show-depends "$m" 2>/dev/null |
		sed -n 's|^insmod /\(usr/\)\{0,1\}lib/modules/[^/]*/\([^ ]*\).*|\2|p' >>"$KEEP" || true
done
grep -q virtio_net "$KEEP" || die "module pruning found no virtio_net.ko; refusing to prune"
sort -u -o "$KEEP" "$KEEP"
MODDIR=$ROOTFS/usr/lib/modules/$KVER
(cd "$MODDIR" && find kernel -name '*.ko*' | sort) | comm -23 - "$KEEP" | (cd "$MODDIR" && xargs -r rm -f)
find "$MODDIR/kernel" -depth -type d -empty -delete
# tiny-initramfs loads modules with init_module(2), which takes no compressed
# modules (6.12 ships .ko.xz); the few kept ones are small uncompressed.
find "$MODDIR/kernel" -name '*.ko.xz' -exec xz -d {} +
find "$MODDIR/kernel" -name '*.ko.zst' -exec zstd -q -d --rm {} +
in_root depmod -a "$KVER"

# The initrd for a virtio-blk root: tiny-initramfs (a static C /init) plus
# the virtio modules that are not built in. It mounts root=UUID=... and
# executes init=.
INITRD_MODULES=()
for m in virtio_pci virtio_blk; do
	grep -q "^CONFIG_$(printf '%s' "$m" | tr a-z A-Z)=m" "$KCONFIG" && INITRD_MODULES+=("$m")
done
in_root mktirfs -o /tmp/stack-initrd.img --auto-modules=no --microcode=no \
	--include-modules="$(
		IFS=,
		echo "${INITRD_MODULES[*]}"
	)" "$KVER" || die "mktirfs (tiny-initramfs) failed"
mv "$ROOTFS/tmp/stack-initrd.img" "$SCRATCH/initrd.img"
chmod 0644 "$SCRATCH/initrd.img"
rm -rf "${ROOTFS:?}"/boot/* "$ROOTFS"/vmlinuz* "$ROOTFS"/initrd.img*
MODULES_KEPT=$(wc -l <"$KEEP")

# ---------------------------------------------------------------------------
log "system files: stack-init, shutdown shims, stack-server, users"

cp -r --no-preserve=ownership "$GUEST_DIR/files/." "$ROOTFS/"
install -m 0755 "$GUEST_DIR/init" "$ROOTFS/usr/sbin/stack-init"
install -m 0755 "$GUEST_DIR/shutdown" "$ROOTFS/usr/sbin/shutdown"
for name in poweroff halt reboot; do ln -sf shutdown "$ROOTFS/usr/sbin/$name"; done
install -m 0755 "$SCRATCH/stack-server" "$ROOTFS/usr/local/bin/stack-server"
in_root useradd --system --user-group --home-dir /nonexistent --no-create-home \
	--shell /usr/sbin/nologin --comment "stack-server" stack
install -d -m 0755 "$ROOTFS/var/log/stack"
# The kernel opens /dev/console before stack-init mounts devtmpfs.
[ -c "$ROOTFS/dev/console" ] || mknod -m 600 "$ROOTFS/dev/console" c 5 1
# Services are started by stack-init only.
sed -i '/force-unsafe-io/d' "$ROOTFS/etc/dpkg/dpkg.cfg.d/99mmdebstrap"

# ---------------------------------------------------------------------------
log "postgresql: UTF-8 cluster, role and database 'stack'"

mount_in_root() { # fstype target [options]
	mount -t "$1" ${3:+-o "$3"} "$1" "$ROOTFS$2"
	MOUNTS+=("$ROOTFS$2")
}
mount_in_root proc /proc
mount_in_root tmpfs /dev/shm mode=1777
mount_in_root tmpfs /run mode=0755
[ -c "$ROOTFS/dev/null" ] && [ -c "$ROOTFS/dev/urandom" ] || die "rootfs /dev lacks device nodes"

# The package's cluster was made with whatever locale the installer had;
# make a UTF-8 one, and start it with our configuration.
if [ -d "$ROOTFS/etc/postgresql/$PG_VERSION/main" ]; then in_root pg_dropcluster "$PG_VERSION" main; fi
in_root pg_createcluster --locale=C.UTF-8 --encoding=UTF8 --start-conf=manual --port=5432 "$PG_VERSION" main \
	-- --auth-local=peer --auth-host=reject >/dev/null
PG_CONF_DIR=$ROOTFS/etc/postgresql/$PG_VERSION/main
PG_UID=$(in_root id -u postgres)
PG_GID=$(in_root id -g postgres)
install -o "$PG_UID" -g "$PG_GID" -m 0644 "$GUEST_DIR/postgresql/50-stack.conf" "$PG_CONF_DIR/conf.d/50-stack.conf"
install -o "$PG_UID" -g "$PG_GID" -m 0640 "$GUEST_DIR/postgresql/pg_hba.conf" "$PG_CONF_DIR/pg_hba.conf"
install -o "$PG_UID" -g "$PG_GID" -m 0640 "$GUEST_DIR/postgresql/pg_ident.conf" "$PG_CONF_DIR/pg_ident.conf"
rm -rf "$ROOTFS/var/log/postgresql"/*

install -d -o "$PG_UID" -g "$PG_GID" -m 2775 "$ROOTFS/run/postgresql"
as_user postgres "$PG_BIN/pg_ctl" start -D "/etc/postgresql/$PG_VERSION/main" -w -t 120 \
	-l /run/postgresql/build.log -s ||
	{
		cat "$ROOTFS/run/postgresql/build.log" >&2 || true
		die "PostgreSQL did not start inside the rootfs"
	}
as_user postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres \
	-c "CREATE ROLE stack LOGIN" \
	-c "CREATE DATABASE stack OWNER stack"

log "stack-server seed (migrations + internal project; keys are rotated at every start)"
as_user stack env STACK_DATABASE_URL='postgres://stack@localhost/stack?host=/run/postgresql' \
	NO_COLOR=1 /usr/local/bin/stack-server seed >&2 || die "stack-server seed failed"
as_user postgres psql -X -q -v ON_ERROR_STOP=1 -d stack -c "VACUUM (FREEZE, ANALYZE)"
PG_SERVER_VERSION=$(as_user postgres psql -X -At -d postgres -c "SHOW server_version")
PG_ENCODING=$(as_user postgres psql -X -At -d stack -c "SHOW server_encoding")
as_user postgres "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 -s ||
	die "PostgreSQL did not stop cleanly"

for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}"; done
MOUNTS=()

# ---------------------------------------------------------------------------
log "versions and cleanup"

pkgver() { in_root dpkg-query -W -f '${Version}' "$1"; }
KERNEL_PKG_VERSION=$(pkgver "linux-image-$KVER")
PG_PKG_VERSION=$(pkgver "postgresql-$PG_VERSION")
QGA_VERSION=$(pkgver qemu-guest-agent)
PACKAGE_LIST=$(in_root dpkg-query -W -f '${Package}\t${Version}\n')
PACKAGE_COUNT=$(printf '%s\n' "$PACKAGE_LIST" | wc -l)

# Drop superseded .debs from the cache: other versions of packages this build
# installed. (Packages it did not install stay, e.g. the other kernel flavour.)
printf '%s\n' "$PACKAGE_LIST" | awk -F'\t' '{ v = $2; gsub(":", "%3a", v); print $1 "_" v "_" }' >"$SCRATCH/used-debs"
cut -d_ -f1 "$SCRATCH/used-debs" >"$SCRATCH/used-names"
find "$CACHE_DIR/archives" -maxdepth 1 -name '*.deb' -printf '%f\n' | while read -r deb; do
	grep -qxF "${deb%%_*}" "$SCRATCH/used-names" || continue
	grep -qxF "${deb%_*.deb}_" "$SCRATCH/used-debs" || rm -f "$CACHE_DIR/archives/$deb"
done

rm -rf "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/var/cache/debconf/*-old \
	"$ROOTFS"/var/lib/dpkg/*-old "$ROOTFS"/var/cache/ldconfig/aux-cache \
	"$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/run/*
: >"$ROOTFS/etc/machine-id"
ROOTFS_BYTES=$(du -sb "$ROOTFS" | cut -f1)

# ---------------------------------------------------------------------------
log "mkfs.ext4 -d ($DISK_SIZE, label stackroot, UUID $ROOT_UUID)"
RAW=$SCRATCH/disk.raw
mkfs.ext4 -q -F -L stackroot -U "$ROOT_UUID" -m 0 -d "$ROOTFS" "$RAW" "$DISK_SIZE" || die "mkfs.ext4 -d failed"
FS_BYTES=$(stat -c %s "$RAW")
RAW_ALLOCATED_BYTES=$(($(stat -c %b "$RAW") * $(stat -c %B "$RAW")))
if [ "${STACK_GUEST_KEEP_SCRATCH:-}" != 1 ]; then
	rm -rf --one-file-system "$ROOTFS"
fi

log "qemu-img convert -c -O qcow2 (compression_type=$COMPRESSION)"
qemu-img convert -c -W -m 4 -O qcow2 -o "compression_type=$COMPRESSION" "$RAW" "$SCRATCH/disk.qcow2" ||
	die "qemu-img convert failed"
rm -f "$RAW"

# ---------------------------------------------------------------------------
log "build-info.json"

json_str() { # a JSON string literal (escapes backslash, quote and control characters)
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\t'/\\t}
	s=${s//$'\n'/\\n}
	printf '"%s"' "$s"
}
DISK_BYTES=$(stat -c %s "$SCRATCH/disk.qcow2")
INITRD_MODULES_JSON=
for m in "${INITRD_MODULES[@]}"; do INITRD_MODULES_JSON+="${INITRD_MODULES_JSON:+, }$(json_str "$m")"; done
VMLINUZ_BYTES=$(stat -c %s "$SCRATCH/vmlinuz")
{
	printf '{\n'
	printf '  "format": 1,\n'
	printf '  "built_at": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
	printf '  "debian": {\n'
	printf '    "suite": %s,\n' "$(json_str "$SUITE")"
	printf '    "snapshot": %s,\n' "$([ -n "$SNAPSHOT" ] && json_str "$SNAPSHOT" || echo null)"
	printf '    "mirrors": [%s, %s],\n' "$(json_str "$MIRROR")" "$(json_str "$SECURITY")"
	printf '    "release_dates": {'
	sep=
	for kv in "${RELEASE_DATES[@]}"; do
		printf '%s\n      %s: %s' "$sep" "$(json_str "${kv%%=*}")" "$(json_str "${kv#*=}")"
		sep=,
	done
	printf '\n    }\n  },\n'
	printf '  "kernel": {"release": %s, "flavour": %s, "package": %s, "package_version": %s, "vmgenid": %s, "modules_kept": %s},\n' \
		"$(json_str "$KVER")" "$(json_str "$KERNEL_FLAVOUR")" "$(json_str "linux-image-$KVER")" \
		"$(json_str "$KERNEL_PKG_VERSION")" "$KERNEL_VMGENID" "$MODULES_KEPT"
	printf '  "postgresql": {"version": %s, "package_version": %s, "encoding": %s},\n' \
		"$(json_str "$PG_SERVER_VERSION")" "$(json_str "$PG_PKG_VERSION")" "$(json_str "$PG_ENCODING")"
	printf '  "qemu_guest_agent": {"package_version": %s},\n' "$(json_str "$QGA_VERSION")"
	printf '  "stack_server": {"version": %s, "input_sha256": %s, "stripped": %s},\n' \
		"$(json_str "$STACK_SERVER_VERSION")" "$(json_str "$STACK_SERVER_SHA256")" "$STRIPPED"
	printf '  "boot": {\n'
	printf '    "root_uuid": %s,\n' "$(json_str "$ROOT_UUID")"
	printf '    "kernel_cmdline_with_initrd": %s,\n' "$(json_str "root=UUID=$ROOT_UUID rootfstype=ext4 rw console=ttyS0 quiet panic=-1 init=/sbin/stack-init")"
	printf '    "kernel_cmdline_nvme_without_initrd": %s,\n' "$(json_str "root=/dev/nvme0n1 rootfstype=ext4 rw console=ttyS0 quiet panic=-1 init=/sbin/stack-init")"
	printf '    "initrd_modules": [%s],\n' "$INITRD_MODULES_JSON"
	printf '    "api_port": 8102,\n'
	printf '    "ready_marker": "stack-init: ready"\n'
	printf '  },\n'
	printf '  "files": {'
	sep=
	for f in "${OUTPUTS[@]}"; do
		printf '%s\n    %s: {"bytes": %s, "sha256": %s}' "$sep" "$(json_str "$f")" "$(stat -c %s "$SCRATCH/$f")" \
			"$(json_str "$(sha256sum "$SCRATCH/$f" | cut -d' ' -f1)")"
		sep=,
	done
	printf '\n  },\n'
	printf '  "sizes": {"rootfs_bytes": %s, "filesystem_bytes": %s, "raw_allocated_bytes": %s, "qcow2_bytes": %s, "qcow2_compression": %s, "vmlinuz_bytes": %s, "initrd_bytes": %s},\n' \
		"$ROOTFS_BYTES" "$FS_BYTES" "$RAW_ALLOCATED_BYTES" "$DISK_BYTES" "$(json_str "$COMPRESSION")" "$VMLINUZ_BYTES" "$(stat -c %s "$SCRATCH/initrd.img")"
	printf '  "package_count": %s,\n' "$PACKAGE_COUNT"
	printf '  "packages": {'
	sep=
	while IFS=$'\t' read -r pkg ver; do
		printf '%s\n    %s: %s' "$sep" "$(json_str "$pkg")" "$(json_str "$ver")"
		sep=,
	done <<<"$PACKAGE_LIST"
	printf '\n  }\n}\n'
} >"$SCRATCH/build-info.json"

# Replace the outputs only now that everything succeeded.
rm -f "$OUT_DIR/vmlinux"
for f in "${OUTPUTS[@]}" build-info.json; do
	mv -f "$SCRATCH/$f" "$OUT_DIR/$f"
done
log "done: $OUT_DIR/disk.qcow2 ($((DISK_BYTES / 1048576)) MiB), vmlinuz ($KVER), initrd.img, build-info.json"
