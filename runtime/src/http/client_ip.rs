//! Which address is the client's: the socket peer, unless the user declared the proxies in
//! front of the service.
//!
//! Rules (one owner for the `client_ip` field and the audit `source_ip`):
//! - **Default: the socket peer** (axum's `ConnectInfo<SocketAddr>`, present when the app is
//!   served with `into_make_service_with_connect_info::<SocketAddr>()`). Forwarding headers are
//!   ignored: any client can write them. Without `ConnectInfo` there is no client ip at all
//!   (the field is left out), never a header value.
//! - **Trusted proxies by address** ([`ProxyTrust::Cidrs`]): when the peer is in one of the
//!   ranges, the forwarding header's entries are walked from the right (nearest hop first),
//!   skipping addresses in the ranges; the first one that is not a trusted proxy is the client.
//!   A peer outside the ranges is the client and its headers are ignored. Without
//!   `ConnectInfo` the peer cannot be checked, so no client ip is given.
//! - **Trusted proxies by count** ([`ProxyTrust::Hops`]`(n)`): `n` proxies stand in front of the
//!   service, the nearest being the peer, so the client is the `n`-th address from the right of
//!   `header entries + peer`. When the chain is shorter, the leftmost address is taken. Without
//!   `ConnectInfo` the peer is taken to be the nearest proxy (it is, by declaration).
//! - The header read is the one the proxies write ([`ForwardedHeader`]): `X-Forwarded-For`
//!   (default) or RFC 7239 `Forwarded` (`for=` parameters; quoted IPv6 with brackets, ports
//!   dropped). Reading a header the proxies do not write would let a client pick its address.
//! - Malformed values (an entry that is not an IP address, `unknown`, obfuscated names, more
//!   than [`MAX_HOPS`] entries or [`MAX_HEADER_BYTES`] bytes) make the header unusable: the peer
//!   is taken instead, as if no header had been sent.

use http::HeaderMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Most forwarding entries read from the headers of one request.
pub const MAX_HOPS: usize = 32;
/// Most header bytes read for the forwarding chain.
pub const MAX_HEADER_BYTES: usize = 2048;

/// An address range (`10.0.0.0/8`, `fd00::/8`; a bare address is a range of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpCidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a range was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidCidr(String);

impl fmt::Display for InvalidCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an address range; write `10.0.0.0/8`, `fd00::/8` or a bare address",
            crate::http::bounded(&self.0, 64)
        )
    }
}

impl std::error::Error for InvalidCidr {}

impl IpCidr {
    /// `addr/prefix`; `None` when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpCidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpCidr { addr, prefix })
    }

    /// True when `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl From<IpAddr> for IpCidr {
    fn from(addr: IpAddr) -> IpCidr {
        IpCidr {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }
}

impl FromStr for IpCidr {
    type Err = InvalidCidr;

    fn from_str(s: &str) -> Result<IpCidr, InvalidCidr> {
        let err = || InvalidCidr(s.to_owned());
        let t = s.trim();
        match t.split_once('/') {
            None => t.parse::<IpAddr>().map(IpCidr::from).map_err(|_| err()),
            Some((a, p)) => {
                let addr = a.parse::<IpAddr>().map_err(|_| err())?;
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(err());
                }
                let prefix = p.parse::<u8>().map_err(|_| err())?;
                IpCidr::new(addr, prefix).ok_or_else(err)
            }
        }
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which proxies' forwarding headers are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyTrust {
    /// None: the client is the socket peer (the default).
    #[default]
    None,
    /// Proxies whose addresses are in these ranges.
    Cidrs(Vec<IpCidr>),
    /// This many proxies stand in front of the service (the nearest is the peer).
    Hops(usize),
}

/// The forwarding header the trusted proxies write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1;proto=https`.
    Forwarded,
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The chain of addresses the header lists, left (client side) to right; `None` when absent or
/// malformed.
fn chain(headers: &HeaderMap, which: ForwardedHeader) -> Option<Vec<IpAddr>> {
    let name = match which {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let mut out = Vec::new();
    let mut bytes = 0;
    for v in headers.get_all(name) {
        bytes += v.len();
        if bytes > MAX_HEADER_BYTES {
            return None;
        }
        let v = v.to_str().ok()?;
        for element in v.split(',') {
            if out.len() == MAX_HOPS {
                return None;
            }
            let ip = match which {
                ForwardedHeader::XForwardedFor => parse_node(element.trim(), false)?,
                ForwardedHeader::Forwarded => forwarded_for(element)?,
            };
            out.push(ip);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The `for=` node of one RFC 7239 forwarded-element (`for=1.2.3.4;proto=https`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let (k, v) = pair.trim().split_once('=')?;
        if k.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            let v = v.trim();
            let (v, quoted) = match v.strip_prefix('"') {
                Some(q) => (q.strip_suffix('"')?, true),
                None => (v, false),
            };
            found = Some(parse_node(v, quoted)?);
        }
    }
    found
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`. In RFC 7239 a bracketed IPv6 node must be quoted (`quoted`).
fn parse_node(s: &str, quoted: bool) -> Option<IpAddr> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return ip.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        // RFC 7239 writes IPv6 only in brackets, and only quoted.
        return (ip.is_ipv4() || !quoted || s.contains('.')).then_some(ip);
    }
    let (ip, port) = s.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit())
}

/// The client address of a request whose socket peer is `peer`.
pub(crate) fn resolve(
    trust: &ProxyTrust,
    which: ForwardedHeader,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer.map(canonical);
    match trust {
        ProxyTrust::None => peer,
        ProxyTrust::Cidrs(nets) => {
            let peer = peer?;
            let trusted = |ip: IpAddr| nets.iter().any(|n| n.contains(ip));
            if !trusted(peer) {
                return Some(peer);
            }
            let Some(chain) = chain(headers, which) else {
                return Some(peer);
            };
            let mut client = peer;
            for ip in chain.iter().rev().map(|ip| canonical(*ip)) {
                client = ip;
                if !trusted(ip) {
                    break;
                }
            }
            Some(client)
        }
        ProxyTrust::Hops(0) => peer,
        ProxyTrust::Hops(n) => {
            let Some(mut chain) = chain(headers, which) else {
                return peer;
            };
            chain.extend(peer);
            // With the peer in the chain, the client is `n` places left of the rightmost;
            // without it (no `ConnectInfo`), the peer is hop 1 and the header's last entry is
            // one place closer.
            let back = if peer.is_some() { *n } else { n - 1 };
            let i = chain.len().saturating_sub(1).saturating_sub(back);
            chain.get(i).map(|ip| canonical(*ip))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &'static str, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.append(name, v.parse().unwrap());
        m
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs() {
        let n: IpCidr = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.1.2.3")));
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        assert!(!n.contains(ip("11.0.0.1")));
        let all: IpCidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        let v6: IpCidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "x/8",
            "10.0.0.0/+8",
            "::/129",
            "",
        ] {
            assert!(bad.parse::<IpCidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_elements() {
        let m = h(
            "forwarded",
            r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#,
        );
        assert_eq!(
            chain(&m, ForwardedHeader::Forwarded),
            Some(vec![ip("192.0.2.60"), ip("2001:db8:cafe::17")])
        );
        for bad in [
            "for=unknown",
            "for=_hidden",
            "for=[2001:db8::1]x",
            "for=\"1.2.3.4",
            "proto=https",
            "for=1.2.3.4;for=5.6.7.8",
        ] {
            assert_eq!(
                chain(&h("forwarded", bad), ForwardedHeader::Forwarded),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn resolution() {
        let xff = h("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2");
        let peer = Some(ip("10.0.0.1"));
        let x = ForwardedHeader::XForwardedFor;
        assert_eq!(resolve(&ProxyTrust::None, x, peer, &xff), peer);
        assert_eq!(resolve(&ProxyTrust::None, x, None, &xff), None);
        let nets = ProxyTrust::Cidrs(vec!["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(resolve(&nets, x, peer, &xff), Some(ip("203.0.113.7")));
        assert_eq!(
            resolve(&nets, x, Some(ip("8.8.8.8")), &xff),
            Some(ip("8.8.8.8"))
        );
        assert_eq!(resolve(&nets, x, None, &xff), None);
        let all_proxies = h("x-forwarded-for", "10.9.9.9, 10.0.0.2");
        assert_eq!(resolve(&nets, x, peer, &all_proxies), Some(ip("10.9.9.9")));
        let bad = h("x-forwarded-for", "6.6.6.6, nonsense");
        assert_eq!(resolve(&nets, x, peer, &bad), peer);
        assert_eq!(
            resolve(&ProxyTrust::Hops(1), x, peer, &xff),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            resolve(&ProxyTrust::Hops(2), x, peer, &xff),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            resolve(&ProxyTrust::Hops(9), x, peer, &xff),
            Some(ip("6.6.6.6"))
        );
        assert_eq!(
            resolve(&ProxyTrust::Hops(1), x, None, &xff),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            resolve(&ProxyTrust::Hops(2), x, None, &xff),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(resolve(&ProxyTrust::Hops(0), x, peer, &xff), peer);
        // The header the proxies do not write is not read.
        let fwd = h("forwarded", "for=6.6.6.6");
        assert_eq!(resolve(&ProxyTrust::Hops(1), x, peer, &fwd), peer);
        assert_eq!(
            resolve(&ProxyTrust::Hops(1), ForwardedHeader::Forwarded, peer, &fwd),
            Some(ip("6.6.6.6"))
        );
    }
}
