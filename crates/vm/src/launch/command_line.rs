//! Turning a [`LaunchSpec`] into QEMU arguments: the fixed order of
//! options and devices, the device strings (which the fingerprint reuses),
//! and QEMU's option syntax (`key=value` lists, commas in paths doubled).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use super::{
    GUEST_AGENT_PORT, GUEST_MAC, Incoming, LaunchSpec, LaunchSpecError, MACHINE, MemoryBackend,
    ROOT_DISK_SERIAL, RootDiskBus,
};

impl LaunchSpec {
    /// The full command line: the QEMU binary, then [`LaunchSpec::args`].
    ///
    /// # Errors
    ///
    /// As [`LaunchSpec::args`].
    pub fn argv(&self) -> Result<Vec<OsString>, LaunchSpecError> {
        let mut argv = vec![self.qemu_binary.clone().into_os_string()];
        argv.extend(self.args()?);
        Ok(argv)
    }

    /// The QEMU arguments (without the binary), in the fixed order described
    /// in the module documentation.
    ///
    /// # Errors
    ///
    /// [`LaunchSpecError`] when [`LaunchSpec::validate`] finds the spec
    /// invalid.
    pub fn args(&self) -> Result<Vec<OsString>, LaunchSpecError> {
        self.validate()?;
        let mut args = Args::default();
        self.push_machine(&mut args);
        self.push_boot(&mut args);
        self.push_control(&mut args);
        self.push_devices(&mut args);
        if let Some(incoming) = &self.incoming {
            let source = match incoming {
                Incoming::Defer => "defer",
                Incoming::Uri(uri) => uri.as_str(),
            };
            args.push("-incoming").push(source);
        }
        Ok(args.0)
    }

    /// Machine, accelerator, CPU, RAM, and the display/monitor defaults
    /// switched off.
    fn push_machine(&self, args: &mut Args) {
        args.push("-no-user-config").push("-nodefaults");
        let machine = match &self.memory_backend {
            MemoryBackend::Anonymous => MACHINE.to_owned(),
            MemoryBackend::File { .. } => format!("{MACHINE},memory-backend=ram0"),
        };
        args.push("-machine").push(machine);
        args.push("-accel").push(self.accelerator.qemu_name());
        args.push("-cpu").push(self.effective_cpu_model().as_str());
        args.push("-m").push(format!("{}M", self.memory_mib));
        args.push("-smp").push(self.vcpus.to_string());
        if let MemoryBackend::File { path, shared } = &self.memory_backend {
            let object = Options::new("memory-backend-file")
                .value("id", "ram0")
                .value("size", &format!("{}M", self.memory_mib))
                .path("mem-path", path)
                .value("share", on_off(*shared));
            args.push("-object").push(object.finish());
        }
        args.push("-display").push("none");
        args.push("-vga").push("none");
        args.push("-monitor").push("none");
        // A guest reboot ends QEMU, so the host notices instead of the guest
        // silently starting over.
        args.push("-no-reboot");
        if self.start_paused {
            args.push("-S");
        }
    }

    fn push_boot(&self, args: &mut Args) {
        args.push("-kernel").push(&self.kernel);
        if let Some(initrd) = &self.initrd {
            args.push("-initrd").push(initrd);
        }
        args.push("-append").push(&self.kernel_cmdline);
    }

    /// QMP and the serial console.
    fn push_control(&self, args: &mut Args) {
        let qmp = socket_chardev("qmp0", &self.qmp_socket);
        args.push("-chardev").push(qmp);
        args.push("-mon").push("chardev=qmp0,mode=control");
        // Appended, not truncated: a resumed guest's services wrote their
        // earlier lines under the QEMU process that saved it.
        let console = Options::new("file")
            .value("id", "console0")
            .path("path", &self.serial_log)
            .value("append", "on");
        args.push("-chardev").push(console.finish());
        args.push("-serial").push("chardev:console0");
    }

    /// Each device's host backend followed by the device itself, in slot
    /// order.
    fn push_devices(&self, args: &mut Args) {
        let root = Options::new("if=none")
            .value("id", "root0")
            .value("format", "qcow2")
            .path("file", &self.root_disk)
            .value("cache", "writeback")
            .value("discard", "unmap");
        args.push("-drive").push(root.finish());
        args.push("-device")
            .push(root_disk_device(self.root_disk_bus));

        let mut netdev = Options::new("user").value("id", "net0");
        for forward in &self.host_forwards {
            netdev = netdev.value(
                "hostfwd",
                &format!(
                    "tcp:127.0.0.1:{}-:{}",
                    forward.host_port, forward.guest_port
                ),
            );
        }
        args.push("-netdev").push(netdev.finish());
        args.push("-device").push(network_device());

        args.push("-chardev")
            .push(socket_chardev("qga0", &self.qga_socket));
        for device in guest_agent_devices() {
            args.push("-device").push(device);
        }
        args.push("-device").push(vmgenid_device());
    }

    /// The `-device` values in order, plus the ISA serial port: the
    /// guest-visible hardware, without any host path.
    pub(super) fn guest_devices(&self) -> Vec<String> {
        let mut devices = vec![root_disk_device(self.root_disk_bus)];
        devices.push(network_device());
        devices.extend(guest_agent_devices());
        devices.push(vmgenid_device());
        devices.push("isa-serial,chardev=console0".to_owned());
        devices
    }
}

fn root_disk_device(bus: RootDiskBus) -> String {
    let driver = match bus {
        RootDiskBus::VirtioBlk => "virtio-blk-pci",
        RootDiskBus::Nvme => "nvme",
    };
    format!("{driver},drive=root0,serial={ROOT_DISK_SERIAL},bus=pcie.0,addr=0x2")
}

/// `romfile=` (empty) leaves out the iPXE option ROM: nothing boots from
/// the network, and it would be one more file QEMU needs.
fn network_device() -> String {
    format!("virtio-net-pci,netdev=net0,mac={GUEST_MAC},romfile=,bus=pcie.0,addr=0x4")
}

fn guest_agent_devices() -> [String; 2] {
    [
        "virtio-serial-pci,id=vser0,bus=pcie.0,addr=0x5".to_owned(),
        format!("virtserialport,bus=vser0.0,nr=1,chardev=qga0,name={GUEST_AGENT_PORT}"),
    ]
}

/// `guid=auto` draws a new generation id on every QEMU start, including a
/// resume, which tells a guest kernel with a vmgenid driver to reseed its
/// RNG.
fn vmgenid_device() -> String {
    "vmgenid,id=vmgenid0,guid=auto".to_owned()
}

fn socket_chardev(id: &str, path: &Path) -> OsString {
    Options::new("socket")
        .value("id", id)
        .path("path", path)
        .value("server", "on")
        .value("wait", "off")
        .finish()
}

fn on_off(flag: bool) -> &'static str {
    if flag { "on" } else { "off" }
}

/// The argument list being built.
#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.0.push(arg.into());
        self
    }
}

/// A QEMU option value, `head,key=value,...`, with paths escaped.
struct Options(OsString);

impl Options {
    fn new(head: &str) -> Self {
        Self(OsString::from(head))
    }

    /// Appends `key=value`; `value` is a constant or a number here, never
    /// a comma-bearing user string.
    fn value(mut self, key: &str, value: &str) -> Self {
        self.0.push(format!(",{key}={value}"));
        self
    }

    /// Appends `key=path`, doubling commas as QEMU's option parser requires.
    fn path(mut self, key: &str, path: &Path) -> Self {
        self.0.push(format!(",{key}="));
        self.0.push(escape_commas(path.as_os_str()));
        self
    }

    fn finish(self) -> OsString {
        self.0
    }
}

/// QEMU reads `,` as an option separator; `,,` is a literal comma.
fn escape_commas(value: &OsStr) -> OsString {
    let mut escaped = Vec::with_capacity(value.len());
    for &byte in value.as_bytes() {
        escaped.push(byte);
        if byte == b',' {
            escaped.push(b',');
        }
    }
    OsString::from_vec(escaped)
}
