//! The endpoint URL policy (an SSRF guard): which addresses bucketbus may push messages to.
//! Link-local, cloud-metadata, unspecified, multicast and broadcast addresses are always
//! refused unless an `allow` CIDR names them; loopback and private networks are allowed or
//! denied by setting; `deny` CIDRs refuse whatever they contain and win over `allow`.
//! IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible and NAT64 (`64:ff9b::/96`) IPv6 addresses
//! are judged as the IPv4 address they carry. Checked when a rule is saved and again on every
//! connection (see `client`), so a name that later resolves elsewhere is still caught.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use url::{Host, Url};

/// Host names of cloud metadata services, refused whatever they resolve to.
const METADATA_NAMES: [&str; 3] = [
    "metadata.google.internal",
    "metadata.goog",
    "instance-data.ec2.internal",
];

/// How long a save-time lookup may take before the name counts as not resolving (yet).
const SAVE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a class of addresses may be delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Allow,
    Deny,
}

/// The policy, as configured in `[delivery.url_policy]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPolicy {
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (shared address space) and fc00::/7.
    pub private_networks: Access,
    /// 127/8 and ::1.
    pub loopback: Access,
    /// Always allowed, even link-local or metadata addresses (unless also in `deny`).
    pub allow: Vec<IpNet>,
    /// Always refused.
    pub deny: Vec<IpNet>,
}

impl Default for UrlPolicy {
    /// The documented defaults: loopback and private networks allowed, no CIDR lists.
    fn default() -> Self {
        Self {
            private_networks: Access::Allow,
            loopback: Access::Allow,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

/// An endpoint address the policy refuses; a failed delivery attempt or a refused rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refused {
    /// The address (or metadata host name) refused.
    pub address: String,
    /// The host name it was resolved from, if any.
    pub host: Option<String>,
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "endpoint address {}", self.address)?;
        if let Some(host) = &self.host {
            write!(f, " ({host})")?;
        }
        write!(f, " refused by url_policy ({})", self.reason)
    }
}

/// What an address is, for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    Private,
    LinkLocal,
    Metadata,
    Unspecified,
    Multicast,
    Broadcast,
    /// Special-purpose ranges no endpoint should be in: IETF protocol assignments
    /// (192.0.0.0/24), benchmarking (198.18.0.0/15), reserved (240.0.0.0/4), and the NAT64
    /// local-use prefix 64:ff9b:1::/48 (where the IPv4 address sits depends on the operator's
    /// prefix length, so it cannot be judged by the address it carries).
    Reserved,
}

impl UrlPolicy {
    /// Whether messages may be pushed to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        let carried = ipv4_carried(ip).map_or(ip, IpAddr::V4);
        let refused = |reason: String| Refused {
            address: ip.to_string(),
            host: None,
            reason,
        };
        let contains = |net: &IpNet| net.contains(&ip) || net.contains(&carried);
        if let Some(net) = self.deny.iter().find(|net| contains(net)) {
            return Err(refused(format!("in delivery.url_policy.deny {net}")));
        }
        if self.allow.iter().any(contains) {
            return Ok(());
        }
        let setting = |access: Access, class: &str, field: &str| match access {
            Access::Allow => Ok(()),
            Access::Deny => Err(refused(format!(
                "{class}; delivery.url_policy.{field} = \"deny\""
            ))),
        };
        match classify(carried) {
            Class::Public => Ok(()),
            Class::Loopback => setting(self.loopback, "loopback", "loopback"),
            Class::Private => setting(self.private_networks, "private network", "private_networks"),
            Class::LinkLocal => Err(refused("link-local".into())),
            Class::Metadata => Err(refused("cloud metadata".into())),
            Class::Unspecified => Err(refused("unspecified address".into())),
            Class::Multicast => Err(refused("multicast".into())),
            Class::Broadcast => Err(refused("broadcast".into())),
            Class::Reserved => Err(refused("reserved range".into())),
        }
    }

    /// Refuses the host names of cloud metadata services (whatever they resolve to).
    pub fn check_name(&self, host: &str) -> Result<(), Refused> {
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if METADATA_NAMES.contains(&name.as_str()) {
            return Err(Refused {
                address: host.to_string(),
                host: None,
                reason: "cloud metadata".into(),
            });
        }
        Ok(())
    }

    /// Checks an endpoint's host without connecting: an IP literal directly (it is never
    /// resolved), a metadata name by name. Returns the host name left to resolve, if any.
    pub fn check_url_host<'u>(&self, url: &'u Url) -> Result<Option<&'u str>, Refused> {
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)).map(|()| None),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)).map(|()| None),
            Some(Host::Domain(name)) => self.check_name(name).map(|()| Some(name)),
            None => Ok(None),
        }
    }

    /// The check made when a rule is saved: the host is refused if it is refused, or if any
    /// address it resolves to now is. A name that does not resolve (yet) is accepted: every
    /// connection checks the addresses again, so it cannot be used to reach a refused one.
    pub async fn check_endpoint(&self, url: &Url) -> Result<(), Refused> {
        let Some(name) = self.check_url_host(url)? else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let lookup = tokio::net::lookup_host((name, port));
        let Ok(Ok(addresses)) = tokio::time::timeout(SAVE_LOOKUP_TIMEOUT, lookup).await else {
            return Ok(());
        };
        for address in addresses {
            self.check_ip(address.ip()).map_err(|refused| Refused {
                host: Some(name.to_string()),
                ..refused
            })?;
        }
        Ok(())
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d` (deprecated, but still routed by some stacks), the NAT64
/// well-known prefix `64:ff9b::/96` and 6to4 `2002:AABB:CCDD::/48`.
fn ipv4_carried(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else {
        return None;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let o = v6.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let s = v6.segments();
    let compatible = s[..6] == [0; 6] && u32::from(low) > 1;
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
    }
    (compatible || nat64).then_some(low)
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        // AWS, Azure, GCP, OpenStack…; Alibaba Cloud.
        Class::Metadata
    } else if a == 0 {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_link_local() {
        Class::LinkLocal
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Class::Private
    } else if ip.is_multicast() {
        Class::Multicast
    } else if ip.is_broadcast() {
        Class::Broadcast
    } else if (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240
    {
        Class::Reserved
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let first = ip.segments()[0];
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        // AWS's IPv6 instance metadata endpoint.
        Class::Metadata
    } else if ip.is_unspecified() {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if first & 0xffc0 == 0xfe80 {
        Class::LinkLocal
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        // Unique local addresses; deprecated site-local ones.
        Class::Private
    } else if ip.segments()[..3] == [0x64, 0xff9b, 1] {
        Class::Reserved
    } else if ip.is_multicast() {
        Class::Multicast
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests;
