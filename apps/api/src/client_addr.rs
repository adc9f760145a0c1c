//! The client's address behind reverse proxies. Only hops added by a *trusted* proxy are
//! believed: walking the forwarding chain from the right (the hop closest to us), the first
//! address that is not a trusted proxy is the client. A header from an untrusted peer is
//! ignored, so a client cannot choose its own rate-limit key by sending `X-Forwarded-For`.

use actix_web::HttpRequest;
pub use chom_runtime::config::{Cidr, ForwardedHeader};
use chom_runtime::config::{ConfigError, Settings};
use std::net::IpAddr;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// The proxies `server.trusted_proxies` and `server.forwarded_header` name.
    ///
    /// # Errors
    /// A block or the header name is malformed (names the key; the settings were validated at
    /// load, so only hand-built settings fail here).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (blocks, header) = settings.trusted_proxies()?;
        Ok(Self::new(blocks, header))
    }

    /// Trusts `blocks`, reading `header`.
    #[must_use]
    pub fn new(blocks: Vec<Cidr>, header: ForwardedHeader) -> Self {
        Self { blocks, header }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client address of a request from `peer` carrying `header_values` (every value of
    /// the configured forwarding header, in order).
    #[must_use]
    pub fn client(&self, peer: IpAddr, header_values: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusted(peer) {
            return peer;
        }
        let hops: Vec<&str> = header_values
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = self.parse_hop(hop) else {
                // Garbage in the chain: stop at the last address a trusted proxy vouched for.
                return client;
            };
            client = ip;
            if !self.trusted(ip) {
                return ip;
            }
        }
        client
    }

    fn parse_hop(&self, hop: &str) -> Option<IpAddr> {
        let raw = match self.header {
            ForwardedHeader::XForwardedFor => hop,
            ForwardedHeader::Forwarded => hop
                .split(';')
                .map(str::trim)
                .find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
                })?
                .trim_matches('"'),
        };
        parse_addr(raw).map(|ip| ip.to_canonical())
    }

    /// The client address of `req`.
    #[must_use]
    pub fn of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        let values: Vec<&str> = req
            .headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        Some(self.client(peer, &values))
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]`, `[::1]:5678`.
fn parse_addr(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Ok(sa) = raw.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    raw.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(blocks: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(blocks.iter().map(|b| b.parse().unwrap()).collect(), header)
    }

    #[test]
    fn cidr_blocks_parse_and_match() {
        let b: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(b.contains(ip("10.1.200.3")));
        assert!(!b.contains(ip("10.2.0.1")));
        assert!(b.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("::1".parse::<Cidr>().unwrap().contains(ip("::1")));
        assert!(!"fd00::/8".parse::<Cidr>().unwrap().contains(ip("fe80::1")));
        for bad in ["10.0.0.0/33", "::/129", "nope", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn h1_headers_from_untrusted_peers_are_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("203.0.113.9"), &["1.1.1.1"]),
            ip("203.0.113.9")
        );
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(p.client(ip("203.0.113.9"), &["1.1.1.1"]), ip("203.0.113.9"));
    }

    #[test]
    fn h1_two_proxies_the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.1", "10.0.0.2"], ForwardedHeader::XForwardedFor);
        // client → 10.0.0.1 (edge) → 10.0.0.2 (inner) → us; the client spoofed a first hop.
        assert_eq!(
            p.client(ip("10.0.0.2"), &["6.6.6.6, 198.51.100.7, 10.0.0.1"]),
            ip("198.51.100.7")
        );
        // Several header lines are one list.
        assert_eq!(
            p.client(ip("10.0.0.2"), &["6.6.6.6", "198.51.100.7, 10.0.0.1"]),
            ip("198.51.100.7")
        );
        // Only proxies in the chain: the left-most of them.
        assert_eq!(p.client(ip("10.0.0.2"), &["10.0.0.1"]), ip("10.0.0.1"));
        // No header at all: the proxy itself.
        assert_eq!(p.client(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
        // Garbage right after a trusted hop stops the walk there.
        assert_eq!(p.client(ip("10.0.0.2"), &["1.2.3.4, junk"]), ip("10.0.0.2"));
    }

    #[test]
    fn h1_the_forwarded_header_is_read_when_configured() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        assert_eq!(
            p.client(
                ip("10.0.0.2"),
                &[r#"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https, for=10.0.0.1"#]
            ),
            ip("2001:db8::1")
        );
        assert_eq!(
            p.client(
                ip("10.0.0.2"),
                &["for=192.0.2.60;proto=http;by=203.0.113.43"]
            ),
            ip("192.0.2.60")
        );
    }
}
