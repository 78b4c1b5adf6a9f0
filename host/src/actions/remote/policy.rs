//! [`UrlPolicy`]: which tenant-given executor URLs and which addresses the
//! host may call, the one place that answers "is this allowed".
//!
//! A tenant's `executor.baseUrl` is a request from the tenant to make our
//! server send HTTP somewhere (SSRF). The rules, in the order they are
//! checked:
//! - `https` only; plain `http` only when the operator sets
//!   `remote.allow_http` (tests and closed networks);
//! - no userinfo, query or fragment: a `#` or `?` turned
//!   `http://host/anything#` into "any path on any host";
//! - the host is neither `localhost` nor a `*.localhost` name (read as
//!   the loopback range);
//! - an IP-literal host is not in a refused range ([`refused_range`]:
//!   loopback, private, carrier-grade NAT, link-local, unique-local,
//!   unspecified, multicast, reserved, the cloud metadata addresses, and
//!   IPv4 addresses embedded in IPv6 ones), unless it is inside one of the
//!   operator's `remote.allow_networks`.
//!
//! The API checks a URL when it is set (a 422 naming the rule, nothing
//! stored); the executor checks it again before every call (the operator's
//! rules may have changed), and the client's resolver checks every address
//! a host name resolves to at connect time ([`UrlPolicy::check_ip`]),
//! because DNS can answer differently later. Names are not resolved at set
//! time: that answer could not be trusted anyway.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

/// Why a URL or an address is refused; each message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("is not a URL ({0})")]
    Unparsable(String),
    #[error("must use https (the scheme is {0:?})")]
    Scheme(String),
    #[error("must not hold a user name or password")]
    Userinfo,
    #[error("must not hold a query (`?`)")]
    Query,
    #[error("must not hold a fragment (`#`)")]
    Fragment,
    #[error("must name a host")]
    NoHost,
    #[error("must not name {0:?}: it is the loopback range")]
    LocalName(String),
    #[error(
        "must not point at {address}: it is in the {range} range, which the operator has not \
         allowed"
    )]
    RefusedAddress {
        address: IpAddr,
        range: &'static str,
    },
}

/// The operator's rules for tenant-given URLs; see the module docs.
///
/// The default is the strict one: https only, no refused range allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Plain `http://` is accepted too (for tests and closed networks).
    pub allow_http: bool,
    /// Networks that are allowed even though they are in a refused range
    /// (e.g. `127.0.0.0/8` for a test's loopback remote).
    pub allow_networks: Vec<IpNet>,
}

impl UrlPolicy {
    /// Checks a tenant-given base URL; the parsed URL when it is allowed.
    pub fn check(&self, raw: &str) -> Result<Url, UrlError> {
        let url = Url::parse(raw.trim()).map_err(|e| UrlError::Unparsable(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(UrlError::Scheme(other.to_string())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Userinfo);
        }
        if url.query().is_some() {
            return Err(UrlError::Query);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        match url.host() {
            None => return Err(UrlError::NoHost),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    // Judged as the loopback addresses it means.
                    self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                        .and_then(|()| self.check_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)))
                        .map_err(|_| UrlError::LocalName(name))?;
                }
            }
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
        }
        Ok(url)
    }

    /// Whether the host may connect to `address`: allowed when it is in
    /// none of the refused ranges, or inside an allowed network.
    pub fn check_ip(&self, address: IpAddr) -> Result<(), UrlError> {
        let address = address.to_canonical();
        if self.allow_networks.iter().any(|net| net.contains(&address)) {
            return Ok(());
        }
        if let Some(range) = refused_range(address) {
            return Err(UrlError::RefusedAddress { address, range });
        }
        // An IPv4 address carried inside an IPv6 one reaches that IPv4 host.
        if let IpAddr::V6(v6) = address
            && let Some(inner) = embedded_ipv4(v6)
        {
            return self
                .check_ip(IpAddr::V4(inner))
                .map_err(|_| UrlError::RefusedAddress {
                    address,
                    range: "IPv4-in-IPv6 of a refused IPv4 range",
                });
        }
        Ok(())
    }
}

/// Refused IPv4 ranges, most specific first: (network, prefix, name).
const REFUSED_V4: &[(Ipv4Addr, u8, &str)] = &[
    (
        Ipv4Addr::new(169, 254, 169, 254),
        32,
        "cloud metadata 169.254.169.254/32",
    ),
    (Ipv4Addr::new(0, 0, 0, 0), 8, "unspecified 0.0.0.0/8"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private 10.0.0.0/8"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "carrier-grade NAT 100.64.0.0/10",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback 127.0.0.0/8"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local 169.254.0.0/16",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private 172.16.0.0/12"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments 192.0.0.0/24",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private 192.168.0.0/16"),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        "benchmarking 198.18.0.0/15",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast 224.0.0.0/4"),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved and broadcast 240.0.0.0/4",
    ),
];

/// Refused IPv6 ranges, most specific first: (network, prefix, name).
const REFUSED_V6: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified ::/128"),
    (Ipv6Addr::LOCALHOST, 128, "loopback ::1/128"),
    (
        Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
        128,
        "cloud metadata fd00:ec2::254/128",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique-local fc00::/7",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local fe80::/10",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local fec0::/10",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "multicast ff00::/8",
    ),
];

/// The name of the refused range `address` is in, if any (allow-lists
/// aside). IPv4-mapped IPv6 addresses are read as IPv4.
pub fn refused_range(address: IpAddr) -> Option<&'static str> {
    match address.to_canonical() {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            REFUSED_V4
                .iter()
                .find(|(net, prefix, _)| same_prefix32(bits, u32::from(*net), *prefix))
                .map(|(_, _, name)| *name)
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            REFUSED_V6
                .iter()
                .find(|(net, prefix, _)| same_prefix128(bits, u128::from(*net), *prefix))
                .map(|(_, _, name)| *name)
        }
    }
}

fn same_prefix32(a: u32, b: u32, prefix: u8) -> bool {
    let shift = 32 - u32::from(prefix);
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

fn same_prefix128(a: u128, b: u128, prefix: u8) -> bool {
    let shift = 128 - u32::from(prefix);
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

/// The IPv4 address an IPv6 one carries by a translation or tunnelling
/// convention: IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`. (IPv4-mapped `::ffff:a.b.c.d` is read as IPv4 already.)
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(v6);
    let low = Ipv4Addr::from(bits as u32);
    if bits >> 32 == 0 {
        return Some(low);
    }
    if same_prefix128(
        bits,
        u128::from(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)),
        96,
    ) {
        return Some(low);
    }
    if v6.segments()[0] == 0x2002 {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> UrlPolicy {
        UrlPolicy::default()
    }

    fn refused(policy: &UrlPolicy, url: &str) -> UrlError {
        policy
            .check(url)
            .expect_err(&format!("{url} must be refused"))
    }

    #[test]
    fn https_urls_of_public_hosts_are_allowed() {
        for url in [
            "https://cc.example.com",
            "https://cc.example.com:8443/api/",
            "https://93.184.215.14/",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/v",
        ] {
            strict().check(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn plain_http_is_refused_unless_the_operator_allows_it() {
        assert!(matches!(
            refused(&strict(), "http://cc.example.com"),
            UrlError::Scheme(_)
        ));
        assert!(matches!(
            refused(&strict(), "ftp://cc.example.com"),
            UrlError::Scheme(_)
        ));
        let relaxed = UrlPolicy {
            allow_http: true,
            ..UrlPolicy::default()
        };
        relaxed.check("http://cc.example.com").unwrap();
    }

    #[test]
    fn userinfo_query_and_fragment_are_refused() {
        let policy = strict();
        assert_eq!(
            refused(&policy, "https://u:p@cc.example.com"),
            UrlError::Userinfo
        );
        assert_eq!(
            refused(&policy, "https://u@cc.example.com"),
            UrlError::Userinfo
        );
        assert_eq!(
            refused(&policy, "https://cc.example.com/?"),
            UrlError::Query
        );
        assert_eq!(
            refused(&policy, "https://cc.example.com/a?x=1"),
            UrlError::Query
        );
        assert_eq!(
            refused(&policy, "https://cc.example.com/metrics#"),
            UrlError::Fragment
        );
    }

    #[test]
    fn local_names_and_refused_ranges_are_refused_in_every_spelling() {
        let policy = strict();
        for url in [
            "https://localhost",
            "https://LOCALHOST./",
            "https://api.localhost:9",
            "https://%6c%6fcalhost",           // percent-encoded
            "https://\u{ff4c}\u{ff4f}calhost", // full-width letters, mapped by IDNA
        ] {
            assert!(
                matches!(refused(&policy, url), UrlError::LocalName(_)),
                "{url}"
            );
        }
        for (url, range) in [
            ("https://127.0.0.1:8080", "loopback"),
            ("https://2130706433/", "loopback"), // 127.0.0.1 as one number
            ("https://0x7f.1/", "loopback"),
            ("https://[::1]", "loopback"),
            ("https://[::ffff:127.0.0.1]", "loopback"),
            ("https://[::ffff:a9fe:a9fe]", "metadata"),
            ("https://169.254.169.254/latest", "metadata"),
            ("https://[fd00:ec2::254]", "metadata"),
            ("https://10.1.2.3", "private"),
            ("https://172.31.255.255", "private"),
            ("https://192.168.0.1", "private"),
            ("https://100.64.0.1", "carrier-grade NAT"),
            ("https://169.254.1.1", "link-local"),
            ("https://[fe80::1]", "link-local"),
            ("https://[fc00::1]", "unique-local"),
            ("https://0.0.0.0", "unspecified"),
            ("https://[::]", "unspecified"),
            ("https://255.255.255.255", "broadcast"),
            ("https://224.0.0.1", "multicast"),
            ("https://[ff02::1]", "multicast"),
            ("https://[64:ff9b::7f00:1]", "IPv4-in-IPv6"),
            ("https://[2002:a00:1::]", "IPv4-in-IPv6"),
        ] {
            match refused(&policy, url) {
                UrlError::RefusedAddress { range: name, .. } => {
                    assert!(name.contains(range), "{url}: {name}")
                }
                other => panic!("{url}: {other}"),
            }
        }
    }

    #[test]
    fn an_allowed_network_opens_only_itself() {
        let policy = UrlPolicy {
            allow_http: true,
            allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        };
        policy.check("http://127.0.0.1:8080").unwrap();
        policy.check("https://[::ffff:127.0.0.2]").unwrap();
        assert!(policy.check("https://10.0.0.1").is_err());
        assert!(
            policy.check("https://[::1]").is_err(),
            "::1 is not in 127/8"
        );
        // `localhost` also means ::1, which is not allowed.
        assert!(matches!(
            refused(&policy, "https://localhost"),
            UrlError::LocalName(_)
        ));
    }

    #[test]
    fn the_message_names_the_rule() {
        let message = refused(&strict(), "https://169.254.169.254").to_string();
        assert!(message.contains("169.254.169.254/32"), "{message}");
        assert!(message.contains("not allowed"), "{message}");
    }
}
