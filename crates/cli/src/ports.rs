//! Host ports: defaults, overrides, and the check that they are free before launch.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

use serde::{Deserialize, Serialize};

/// One forwarded service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Human name.
    pub name: &'static str,
    /// Port inside the guest.
    pub guest_port: u16,
    /// Flag that moves it.
    pub flag: &'static str,
    /// Environment variable that moves it.
    pub env: &'static str,
}

/// The dashboard.
pub const DASHBOARD: Service = Service {
    name: "dashboard",
    guest_port: 8101,
    flag: "--dashboard-port",
    env: "STACK_EMULATOR_DASHBOARD_PORT",
};
/// The API.
pub const API: Service = Service {
    name: "API",
    guest_port: 8102,
    flag: "--api-port",
    env: "STACK_EMULATOR_API_PORT",
};
/// The mail sink.
pub const MAIL: Service = Service {
    name: "mail sink",
    guest_port: 8105,
    flag: "--mail-port",
    env: "STACK_EMULATOR_MAIL_PORT",
};
/// The mock OAuth provider (same port inside and out, so issuer URLs match).
pub const OAUTH: Service = Service {
    name: "mock OAuth",
    guest_port: 26704,
    flag: "--oauth-port",
    env: "STACK_EMULATOR_OAUTH_PORT",
};

/// The host ports of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// Dashboard.
    pub dashboard: u16,
    /// API.
    pub api: u16,
    /// Mail sink.
    pub mail: u16,
    /// Mock OAuth.
    pub oauth: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            dashboard: 26700,
            api: 26701,
            mail: 26703,
            oauth: 26704,
        }
    }
}

/// A port that another program holds.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("port {port} for the {} is already in use on 127.0.0.1", service.name)]
pub struct PortTaken {
    /// The port.
    pub port: u16,
    /// What wanted it.
    pub service: Service,
}

impl Ports {
    /// Each service with its host port, in a fixed order.
    pub fn each(&self) -> [(Service, u16); 4] {
        [
            (DASHBOARD, self.dashboard),
            (API, self.api),
            (MAIL, self.mail),
            (OAUTH, self.oauth),
        ]
    }

    /// The API base URL as the host sees it.
    pub fn api_url(&self) -> String {
        format!("http://localhost:{}", self.api)
    }

    /// The dashboard as the host sees it.
    pub fn dashboard_url(&self) -> String {
        format!("http://localhost:{}", self.dashboard)
    }

    /// The mock OAuth provider (issuer and sign-in page) as the host sees it.
    pub fn oauth_url(&self) -> String {
        format!("http://localhost:{}", self.oauth)
    }

    /// The mail sink's web page (and JSON API under `/api/v1`) as the host sees it.
    pub fn mail_url(&self) -> String {
        format!("http://localhost:{}", self.mail)
    }

    /// The (host port, guest port) pairs QEMU forwards: the dashboard, the
    /// API, the mail sink's web listener and the mock OAuth provider.
    pub fn forwards(&self) -> [(u16, u16); 4] {
        [
            (self.dashboard, DASHBOARD.guest_port),
            (self.api, API.guest_port),
            (self.mail, MAIL.guest_port),
            (self.oauth, OAUTH.guest_port),
        ]
    }

    /// Checks that every port can be bound on 127.0.0.1 now.
    ///
    /// # Errors
    /// The first port that is taken.
    pub fn check_free(&self) -> Result<(), PortTaken> {
        for (service, port) in self.each() {
            if TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_err() {
                return Err(PortTaken { port, service });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_forwarded() {
        let ports = Ports {
            dashboard: 1000,
            api: 1001,
            mail: 1003,
            oauth: 1004,
        };
        assert_eq!(
            ports.forwards(),
            [(1000, 8101), (1001, 8102), (1003, 8105), (1004, 26704)]
        );
        assert_eq!(ports.mail_url(), "http://localhost:1003");
        assert_eq!(ports.oauth_url(), "http://localhost:1004");
    }

    #[test]
    fn a_taken_port_is_named_with_its_service() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = holder.local_addr().unwrap().port();
        let free = |p: u16| p;
        let ports = Ports {
            dashboard: free(0),
            api: taken,
            mail: free(0),
            oauth: free(0),
        };
        let err = ports.check_free().unwrap_err();
        assert_eq!(err.port, taken);
        assert_eq!(err.service, API);
    }
}
