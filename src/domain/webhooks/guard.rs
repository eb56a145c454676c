//! Where a webhook may go: not into the network tessera runs in. A target
//! that is, or resolves to, a loopback, private, shared, link-local (cloud
//! metadata), multicast or unspecified address is refused, when the
//! endpoint is registered and again at every delivery after DNS
//! resolution, unless the deployment allows private targets.

use std::net::{IpAddr, Ipv4Addr};

use url::{Host, Url};

/// What a deployment allows webhooks to reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    /// `http://` targets as well as `https://`.
    pub http: bool,
    /// Loopback, private and link-local addresses (for tests and closed
    /// networks).
    pub private: bool,
}

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

fn refused(code: &'static str, detail: impl Into<String>) -> Refused {
    Refused {
        code,
        detail: detail.into(),
    }
}

/// The URL, if it is one a webhook may be sent to before resolving its
/// host: absolute, `https` (or `http` where allowed), no credentials, a
/// host that is not a refused address literal.
pub fn check_url(raw: &str, reach: Reach) -> Result<Url, Refused> {
    let url = Url::parse(raw.trim()).map_err(|err| refused("invalid_url", err.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if reach.http => {}
        "http" => {
            return Err(refused(
                "https_required",
                "webhooks are sent over https only",
            ));
        }
        other => {
            return Err(refused(
                "invalid_url",
                format!("scheme {other} is not http(s)"),
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused(
            "invalid_url",
            "the URL must not carry credentials; receivers verify the signature",
        ));
    }
    if url.fragment().is_some() {
        return Err(refused("invalid_url", "the URL must not have a fragment"));
    }
    match url.host() {
        None => Err(refused("invalid_url", "the URL has no host")),
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), reach).map(|()| url),
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), reach).map(|()| url),
        Some(Host::Domain(_)) => Ok(url),
    }
}

/// Whether a webhook may connect to `ip`.
pub fn check_ip(ip: IpAddr, reach: Reach) -> Result<(), Refused> {
    if reach.private {
        return Ok(());
    }
    match internal(ip) {
        None => Ok(()),
        Some(what) => Err(refused(
            "private_target",
            format!("{ip} is a {what} address; webhooks go to public addresses only"),
        )),
    }
}

/// What kind of address inside a network `ip` is (none: a public one).
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => internal_v4(ip),
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let segments = ip.segments();
            if ip.is_loopback() {
                Some("loopback")
            } else if ip.is_unspecified() {
                Some("unspecified")
            } else if ip.is_multicast() {
                Some("multicast")
            } else if segments[0] & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if segments[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64: the IPv4 address it stands for decides.
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                internal_v4(Ipv4Addr::new(a, b, c, d))
            } else if segments[..6] == [0; 6] {
                // IPv4-compatible (deprecated): as its IPv4 address.
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                internal_v4(Ipv4Addr::new(a, b, c, d))
            } else {
                None
            }
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if a == 0 || ip.is_broadcast() {
        Some("unspecified")
    } else if ip.is_multicast() || a >= 240 {
        Some("reserved")
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("reserved (IETF)")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else {
        None
    }
}

/// Host names that are inside the network by name.
pub fn internal_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".internal")
        || host.ends_with(".local")
        || host == "metadata"
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const STRICT: Reach = Reach {
        http: false,
        private: false,
    };

    #[test]
    fn refuses_addresses_inside_the_network() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::7f00:1",
            "ff02::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(internal(ip).is_some(), "{ip} should be refused");
            assert!(check_ip(ip, STRICT).is_err());
            assert!(
                check_ip(
                    ip,
                    Reach {
                        http: false,
                        private: true
                    }
                )
                .is_ok()
            );
        }
    }

    #[test]
    fn allows_public_addresses() {
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:93.184.216.34",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(internal(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn urls_are_https_without_credentials_or_internal_literals() {
        assert!(check_url("https://hooks.example.org/tessera", STRICT).is_ok());
        assert_eq!(
            check_url("http://hooks.example.org/", STRICT)
                .unwrap_err()
                .code,
            "https_required"
        );
        assert!(
            check_url(
                "http://hooks.example.org/",
                Reach {
                    http: true,
                    private: false
                }
            )
            .is_ok()
        );
        for bad in [
            "ftp://example.org/",
            "https://user:pw@example.org/",
            "https://example.org/#x",
            "not a url",
        ] {
            assert_eq!(
                check_url(bad, STRICT).unwrap_err().code,
                "invalid_url",
                "{bad}"
            );
        }
        for internal in [
            "https://127.0.0.1/",
            "https://[::1]:8443/",
            "https://169.254.169.254/latest/meta-data/",
            "https://0x7f000001/",
            "https://2130706433/",
            "https://[::ffff:10.0.0.1]/",
        ] {
            assert_eq!(
                check_url(internal, STRICT).unwrap_err().code,
                "private_target",
                "{internal}"
            );
        }
    }

    #[test]
    fn names_inside_the_network() {
        assert!(internal_name("localhost"));
        assert!(internal_name("api.localhost."));
        assert!(internal_name("metadata.google.internal"));
        assert!(!internal_name("hooks.example.org"));
    }
}
