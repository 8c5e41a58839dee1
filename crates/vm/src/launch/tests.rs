//! The command line a spec produces, its validation, and the fingerprint.
//! That real QEMU accepts the command line is checked by the integration
//! tests.

use std::ffi::OsString;
use std::num::NonZeroU16;
use std::path::PathBuf;

use super::*;

fn port(number: u16) -> NonZeroU16 {
    NonZeroU16::new(number).unwrap()
}

fn spec() -> LaunchSpec {
    LaunchSpec {
        qemu_binary: PathBuf::from("/usr/bin/qemu-system-x86_64"),
        accelerator: Accelerator::Tcg,
        cpu_model: None,
        memory_mib: 1024,
        vcpus: 2,
        memory_backend: MemoryBackend::Anonymous,
        kernel: PathBuf::from("/home/a/.stack/emulator/images/1/vmlinuz"),
        initrd: Some(PathBuf::from("/home/a/.stack/emulator/images/1/initrd.img")),
        kernel_cmdline: "root=/dev/vda rw console=ttyS0 quiet".to_owned(),
        root_disk: PathBuf::from("/home/a/.stack/emulator/run/session.qcow2"),
        root_disk_bus: RootDiskBus::VirtioBlk,
        host_forwards: vec![
            HostForward {
                host_port: port(26700),
                guest_port: port(8101),
            },
            HostForward {
                host_port: port(26701),
                guest_port: port(8102),
            },
        ],
        qmp_socket: PathBuf::from("/home/a/.stack/emulator/run/qmp.sock"),
        qga_socket: PathBuf::from("/home/a/.stack/emulator/run/qga.sock"),
        serial_log: PathBuf::from("/home/a/.stack/emulator/run/serial.log"),
        start_paused: false,
        incoming: None,
    }
}

fn strings(args: Vec<OsString>) -> Vec<String> {
    args.into_iter()
        .map(|arg| arg.into_string().unwrap())
        .collect()
}

#[test]
fn argv_has_the_fixed_device_order() {
    let argv = strings(spec().argv().unwrap());
    let expected = [
        "/usr/bin/qemu-system-x86_64",
        "-no-user-config",
        "-nodefaults",
        "-machine",
        "q35",
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-m",
        "1024M",
        "-smp",
        "2",
        "-display",
        "none",
        "-vga",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-kernel",
        "/home/a/.stack/emulator/images/1/vmlinuz",
        "-initrd",
        "/home/a/.stack/emulator/images/1/initrd.img",
        "-append",
        "root=/dev/vda rw console=ttyS0 quiet",
        "-chardev",
        "socket,id=qmp0,path=/home/a/.stack/emulator/run/qmp.sock,server=on,wait=off",
        "-mon",
        "chardev=qmp0,mode=control",
        "-chardev",
        "file,id=console0,path=/home/a/.stack/emulator/run/serial.log,append=on",
        "-serial",
        "chardev:console0",
        "-drive",
        "if=none,id=root0,format=qcow2,file=/home/a/.stack/emulator/run/session.qcow2,cache=writeback,discard=unmap",
        "-device",
        "virtio-blk-pci,drive=root0,serial=stack-root,bus=pcie.0,addr=0x2",
        "-netdev",
        "user,id=net0,hostfwd=tcp:127.0.0.1:26700-:8101,hostfwd=tcp:127.0.0.1:26701-:8102",
        "-device",
        "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile=,bus=pcie.0,addr=0x4",
        "-chardev",
        "socket,id=qga0,path=/home/a/.stack/emulator/run/qga.sock,server=on,wait=off",
        "-device",
        "virtio-serial-pci,id=vser0,bus=pcie.0,addr=0x5",
        "-device",
        "virtserialport,bus=vser0.0,nr=1,chardev=qga0,name=org.qemu.guest_agent.0",
        "-device",
        "vmgenid,id=vmgenid0,guid=auto",
    ];
    assert_eq!(argv, expected);
}

#[test]
fn nvme_root_file_ram_paused_start_and_deferred_incoming_are_added_in_place() {
    let mut spec = spec();
    spec.accelerator = Accelerator::Kvm;
    spec.memory_backend = MemoryBackend::File {
        path: PathBuf::from("/dev/shm/stack-ram"),
        shared: false,
    };
    spec.initrd = Some(PathBuf::from("/images/initrd.img"));
    spec.root_disk_bus = RootDiskBus::Nvme;
    spec.incoming = Some(Incoming::Defer);
    spec.start_paused = true;
    let args = strings(spec.args().unwrap());
    assert_eq!(
        args[..14],
        [
            "-no-user-config",
            "-nodefaults",
            "-machine",
            "q35,memory-backend=ram0",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "1024M",
            "-smp",
            "2",
            "-object",
            "memory-backend-file,id=ram0,size=1024M,mem-path=/dev/shm/stack-ram,share=off",
        ]
    );
    let kernel = args.iter().position(|arg| arg == "-kernel").unwrap();
    assert_eq!(args[kernel - 2..kernel], ["-no-reboot", "-S"]);
    assert_eq!(
        args[kernel + 2..kernel + 4],
        ["-initrd", "/images/initrd.img"]
    );
    assert!(args.contains(&"nvme,drive=root0,serial=stack-root,bus=pcie.0,addr=0x2".to_owned()));
    assert_eq!(args[args.len() - 2..], ["-incoming", "defer"]);
}

#[test]
fn commas_in_paths_are_doubled() {
    let mut spec = spec();
    spec.root_disk = PathBuf::from("/tmp/a,b/disk.qcow2");
    let args = strings(spec.args().unwrap());
    assert!(
        args.contains(
            &"if=none,id=root0,format=qcow2,file=/tmp/a,,b/disk.qcow2,cache=writeback,discard=unmap"
                .to_owned()
        ),
        "{args:?}"
    );
}

#[test]
fn non_utf8_paths_pass_through_unchanged() {
    use std::os::unix::ffi::OsStringExt;
    let mut spec = spec();
    spec.kernel = PathBuf::from(OsString::from_vec(b"/images/k\xff".to_vec()));
    let args = spec.args().unwrap();
    let kernel = args.iter().position(|arg| arg == "-kernel").unwrap();
    assert_eq!(
        args[kernel + 1],
        OsString::from_vec(b"/images/k\xff".to_vec())
    );
}

#[test]
fn invalid_specs_are_refused_with_the_reason() {
    let mut small = spec();
    small.memory_mib = 32;
    assert_eq!(
        small.args().unwrap_err(),
        LaunchSpecError::MemoryTooSmall {
            memory_mib: 32,
            min_mib: MIN_MEMORY_MIB
        }
    );

    let mut no_cpus = spec();
    no_cpus.vcpus = 0;
    assert_eq!(no_cpus.args().unwrap_err(), LaunchSpecError::NoVcpus);

    let mut twice = spec();
    twice.host_forwards.push(HostForward {
        host_port: port(26701),
        guest_port: port(9999),
    });
    assert_eq!(
        twice.args().unwrap_err().to_string(),
        "host port 26701 is forwarded more than once"
    );

    let mut long_socket = spec();
    long_socket.qga_socket = PathBuf::from(format!("/{}/qga.sock", "d".repeat(120)));
    let error = long_socket.args().unwrap_err();
    assert!(
        matches!(
            error,
            LaunchSpecError::SocketPathTooLong {
                role: "guest agent",
                len_bytes: 130,
                ..
            }
        ),
        "{error:?}"
    );

    let mut newline = spec();
    newline.kernel_cmdline = "quiet\ninit=/bin/sh".to_owned();
    assert_eq!(
        newline.args().unwrap_err(),
        LaunchSpecError::KernelCmdlineControlCharacter { character: '\n' }
    );

    let mut long_cmdline = spec();
    long_cmdline.kernel_cmdline = "a".repeat(MAX_KERNEL_CMDLINE_BYTES + 1);
    assert!(matches!(
        long_cmdline.args().unwrap_err(),
        LaunchSpecError::KernelCmdlineTooLong { .. }
    ));
}

#[test]
fn cpu_models_are_checked_characters() {
    assert_eq!(
        CpuModel::parse("max,-svm,-vmx").unwrap().as_str(),
        "max,-svm,-vmx"
    );
    assert_eq!(CpuModel::parse(""), Err(CpuModelError::Empty));
    assert_eq!(
        CpuModel::parse("max -S").unwrap_err().to_string(),
        "the CPU model \"max -S\" contains ' '; use letters, digits and . _ - + = ,"
    );
}

#[test]
fn the_fingerprint_is_stable_hex_and_ignores_host_paths_and_ports() {
    const VERSION: &str = "10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)";
    let fingerprint = spec().fingerprint(VERSION);
    assert_eq!(fingerprint.as_str().len(), 64);
    assert!(
        fingerprint
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(fingerprint, spec().fingerprint(VERSION));

    let mut moved = spec();
    moved.root_disk = PathBuf::from("/elsewhere/overlay.qcow2");
    moved.qmp_socket = PathBuf::from("/elsewhere/qmp.sock");
    moved.qga_socket = PathBuf::from("/elsewhere/qga.sock");
    moved.serial_log = PathBuf::from("/elsewhere/serial.log");
    moved.host_forwards[0].host_port = port(36700);
    moved.kernel_cmdline.push_str(" loglevel=3");
    moved.incoming = Some(Incoming::Defer);
    moved.start_paused = true;
    moved.memory_backend = MemoryBackend::Anonymous;
    assert_eq!(moved.fingerprint(VERSION), fingerprint);

    let mut explicit_cpu = spec();
    explicit_cpu.cpu_model = Some(CpuModel::max());
    assert_eq!(
        explicit_cpu.fingerprint(VERSION),
        fingerprint,
        "max is TCG's default"
    );
}

#[test]
fn the_fingerprint_changes_with_everything_a_snapshot_depends_on() {
    const VERSION: &str = "10.0.2";
    let base = spec().fingerprint(VERSION);
    let variants: Vec<(&str, LaunchSpec, &str)> = vec![
        ("qemu version", spec(), "10.1.0"),
        (
            "memory",
            LaunchSpec {
                memory_mib: 2048,
                ..spec()
            },
            VERSION,
        ),
        ("vcpus", LaunchSpec { vcpus: 1, ..spec() }, VERSION),
        (
            "accelerator",
            LaunchSpec {
                accelerator: Accelerator::Kvm,
                ..spec()
            },
            VERSION,
        ),
        (
            "cpu model",
            LaunchSpec {
                cpu_model: Some(CpuModel::parse("max,-svm").unwrap()),
                ..spec()
            },
            VERSION,
        ),
        (
            "root disk bus",
            LaunchSpec {
                root_disk_bus: RootDiskBus::Nvme,
                ..spec()
            },
            VERSION,
        ),
        (
            "RAM backend kind",
            LaunchSpec {
                memory_backend: MemoryBackend::File {
                    path: PathBuf::from("/dev/shm/ram"),
                    shared: true,
                },
                ..spec()
            },
            VERSION,
        ),
    ];
    for (what, variant, version) in variants {
        assert_ne!(
            variant.fingerprint(version),
            base,
            "{what} must change the fingerprint"
        );
    }
    let shared = LaunchSpec {
        memory_backend: MemoryBackend::File {
            path: PathBuf::from("/dev/shm/ram"),
            shared: true,
        },
        ..spec()
    };
    let private = LaunchSpec {
        memory_backend: MemoryBackend::File {
            path: PathBuf::from("/dev/shm/ram.pristine"),
            shared: false,
        },
        ..spec()
    };
    assert_eq!(
        shared.fingerprint(VERSION),
        private.fingerprint(VERSION),
        "a share=on capture resumes with share=off"
    );
}

#[test]
fn the_fingerprint_of_a_known_spec_does_not_drift() {
    // Pinned so that an accidental change of the encoding (which would orphan
    // every stored snapshot) fails here; change it together with FORMAT.
    assert_eq!(
        spec().fingerprint("10.0.2").as_str(),
        "121bf8eedd7c240d9a88c3e456f53a114862c517a385e21170b8024db2235f64"
    );
}
