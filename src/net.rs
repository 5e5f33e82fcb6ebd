//! IP address classes the server decides on: loopback peers (the simulator's
//! default audience, the start-up audit's "not public") and the CIDR entries
//! of `server.trusted_proxies`. Pure functions; a leaf module any layer may use.

use std::net::IpAddr;

/// Whether `ip` is a loopback address (IPv4-mapped IPv6 included).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// A `server.trusted_proxies` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a
/// single address (a /32 or /128). `None` when it is neither.
pub fn parse_cidr(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        for ip in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["0.0.0.0", "10.213.0.1", "::", "::ffff:10.0.0.1"] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn trusted_proxy_entries_are_cidrs_or_addresses() {
        assert_eq!(parse_cidr(" 10.0.0.0/8 "), "10.0.0.0/8".parse().ok());
        assert_eq!(parse_cidr("192.0.2.7"), "192.0.2.7/32".parse().ok());
        assert_eq!(parse_cidr("fd00::/8"), "fd00::/8".parse().ok());
        assert_eq!(parse_cidr("proxy.internal"), None);
    }
}
