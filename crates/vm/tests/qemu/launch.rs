//! The command line from `LaunchSpec` against real QEMU: it starts with
//! every device in its slot, forwards host ports on 127.0.0.1, and waits
//! for a migration when asked to.

use std::num::NonZeroU16;

use serde_json::Value;
use stack_vm::launch::{
    Accelerator, HostForward, Incoming, LaunchSpec, MemoryBackend, RootDiskBus,
};
use stack_vm::qmp::RunState;

use crate::support::{Qemu, TempDir, qemu_binary, run_qemu_img};

/// The guest's RAM for these machines: nothing boots, so the minimum.
const TEST_MEMORY_MIB: u32 = 64;

/// A launch spec for a machine that never runs a kernel: a qcow2 root disk,
/// a zero-filled "ISO" (attaching needs no valid filesystem), and a zeroed
/// stand-in kernel, which QEMU loads at start-up but, with `-S` or
/// `-incoming`, never executes. No initrd: QEMU refuses one next to a
/// kernel without a boot protocol header.
pub fn test_spec(dir: &TempDir, name: &str) -> LaunchSpec {
    let root_disk = dir.join(&format!("{name}-root.qcow2"));
    run_qemu_img(&[
        "create".as_ref(),
        "-f".as_ref(),
        "qcow2".as_ref(),
        root_disk.as_os_str(),
        "64M".as_ref(),
    ]);
    let kernel = dir.join("vmlinuz-stand-in");
    std::fs::write(&kernel, vec![0_u8; 8192]).unwrap();
    LaunchSpec {
        qemu_binary: qemu_binary(),
        accelerator: Accelerator::Tcg,
        cpu_model: None,
        memory_mib: TEST_MEMORY_MIB,
        vcpus: 2,
        memory_backend: MemoryBackend::Anonymous,
        kernel,
        initrd: None,
        kernel_cmdline: "root=/dev/vda rw console=ttyS0 quiet".to_owned(),
        root_disk,
        root_disk_bus: RootDiskBus::VirtioBlk,
        host_forwards: Vec::new(),
        qmp_socket: dir.join(&format!("{name}-qmp.sock")),
        qga_socket: dir.join(&format!("{name}-qga.sock")),
        serial_log: dir.join(&format!("{name}-serial.log")),
        start_paused: true,
        incoming: None,
    }
}

/// PCI ids (vendor, device) of what sits in slots 2 to 5.
fn pci_slots(pci: &Value) -> Vec<(u64, u64, u64)> {
    let mut found: Vec<(u64, u64, u64)> = pci[0]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|device| {
            let number = |value: &Value| value.as_u64().unwrap();
            (
                number(&device["slot"]),
                number(&device["id"]["vendor"]),
                number(&device["id"]["device"]),
            )
        })
        .filter(|(slot, _, _)| (2..=5).contains(slot))
        .collect();
    found.sort_unstable();
    found
}

const VIRTIO_BLK: (u64, u64) = (0x1af4, 0x1001);
const QEMU_NVME: (u64, u64) = (0x1b36, 0x0010);
const VIRTIO_NET: (u64, u64) = (0x1af4, 0x1000);
const VIRTIO_SERIAL: (u64, u64) = (0x1af4, 0x1003);

/// Starts QEMU with the spec's command line.
pub fn launch(spec: &LaunchSpec, dir: &TempDir) -> Qemu {
    let argv = spec.argv().unwrap();
    Qemu::spawn(argv, dir, spec.qmp_socket.clone())
}

/// A port that was free a moment ago (bound to 0 and released).
fn free_port() -> NonZeroU16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    NonZeroU16::new(listener.local_addr().unwrap().port()).unwrap()
}

#[tokio::test]
async fn real_qemu_accepts_the_launch_command_line_with_every_device() {
    let dir = TempDir::new();
    let mut spec = test_spec(&dir, "all");
    let host_port = free_port();
    spec.host_forwards.push(HostForward {
        host_port,
        guest_port: NonZeroU16::new(8102).unwrap(),
    });
    let qemu = launch(&spec, &dir);
    let mut qmp = qemu.qmp().await;

    let status = qmp.query_status().await.unwrap();
    assert_eq!(status.status, RunState::Prelaunch, "{}", qemu.stderr());

    // Every PCI device sits in its fixed slot.
    let pci = qmp.execute("query-pci", None).await.unwrap();
    let slot = |number: u64, (vendor, device): (u64, u64)| (number, vendor, device);
    assert_eq!(
        pci_slots(&pci),
        [
            slot(2, VIRTIO_BLK),    // the root disk
            slot(4, VIRTIO_NET),    // user-mode network
            slot(5, VIRTIO_SERIAL), // the guest agent port
        ]
    );

    // The root disk is the only disk: runtime settings come through the agent.
    let blocks = qmp.execute("query-block", None).await.unwrap();
    let disks: Vec<&str> = blocks
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|block| block["device"].as_str())
        .filter(|device| !device.is_empty())
        .collect();
    assert_eq!(disks, ["root0"], "{blocks}");

    // vmgenid is there and has a GUID.
    let guid = qmp.execute("query-vm-generation-id", None).await.unwrap();
    assert_eq!(guid["guid"].as_str().unwrap().len(), 36, "{guid}");

    // The forward listens on the host's loopback address.
    tokio::net::TcpStream::connect(("127.0.0.1", host_port.get()))
        .await
        .unwrap_or_else(|error| panic!("forwarded port {host_port} refused: {error}"));

    assert!(spec.qga_socket.exists(), "no guest agent socket");
    assert!(spec.serial_log.exists(), "no serial log");
}

#[tokio::test]
async fn a_spec_with_a_file_ram_backend_starts_and_uses_the_file() {
    let dir = TempDir::new();
    let mut spec = test_spec(&dir, "file");
    let ram = dir.join("guest-ram");
    spec.memory_backend = MemoryBackend::File {
        path: ram.clone(),
        shared: true,
    };
    let qemu = launch(&spec, &dir);
    let mut qmp = qemu.qmp().await;
    assert_eq!(
        qmp.query_status().await.unwrap().status,
        RunState::Prelaunch
    );
    let size = std::fs::metadata(&ram).unwrap().len();
    assert_eq!(size, u64::from(TEST_MEMORY_MIB) * 1024 * 1024);
}

#[tokio::test]
async fn a_spec_with_deferred_incoming_waits_for_a_migration() {
    let dir = TempDir::new();
    let mut spec = test_spec(&dir, "incoming");
    spec.start_paused = false;
    spec.incoming = Some(Incoming::Defer);
    let qemu = launch(&spec, &dir);
    let mut qmp = qemu.qmp().await;
    assert_eq!(
        qmp.query_status().await.unwrap().status,
        RunState::InMigrate
    );
}

#[tokio::test]
async fn an_nvme_root_sits_in_the_same_slot_but_blocks_snapshots() {
    let dir = TempDir::new();
    let mut spec = test_spec(&dir, "nvme");
    spec.root_disk_bus = RootDiskBus::Nvme;
    let qemu = launch(&spec, &dir);
    let mut qmp = qemu.qmp().await;
    let pci = qmp.execute("query-pci", None).await.unwrap();
    assert_eq!(pci_slots(&pci)[0], (2, QEMU_NVME.0, QEMU_NVME.1));

    // Why snapshots need a virtio-blk root: QEMU will not migrate NVMe.
    let state = stack_vm::qmp::MigrationUri::file(&dir.join("nvme.bin")).unwrap();
    let error = qmp.migrate(&state).await.unwrap_err();
    let stack_vm::qmp::QmpCommandError::Rejected { desc, .. } = &error else {
        panic!("wrong error: {error:?}");
    };
    assert!(
        desc.contains("non-migratable device") && desc.contains("nvme"),
        "{desc}"
    );
}
