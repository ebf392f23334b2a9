//! The `[delivery.url_policy]` settings: which endpoint addresses deliveries may reach (the
//! policy itself is `delivery::url_policy`).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::Error;
use crate::delivery::url_policy::{Access, UrlPolicy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UrlPolicyFile {
    private_networks: Access,
    loopback: Access,
    allow: Vec<String>,
    deny: Vec<String>,
}

impl UrlPolicyFile {
    pub(super) fn validate(self) -> Result<UrlPolicy, Error> {
        Ok(UrlPolicy {
            private_networks: self.private_networks,
            loopback: self.loopback,
            allow: cidrs("delivery.url_policy.allow", &self.allow)?,
            deny: cidrs("delivery.url_policy.deny", &self.deny)?,
        })
    }
}

/// CIDRs such as `10.0.0.0/8` or `fd00::/8`; a bare address means just that address.
fn cidrs(field: &'static str, list: &[String]) -> Result<Vec<IpNet>, Error> {
    list.iter()
        .map(|text| {
            let invalid = |constraint: String| Error::Invalid { field, constraint };
            let net = match text.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => text.parse::<IpNet>().map_err(|_| {
                    invalid(format!(
                        "{text:?} is not a CIDR such as \"10.0.0.0/8\" or an IP address"
                    ))
                })?,
            };
            if net.trunc() != net {
                return Err(invalid(format!(
                    "{text:?} has host bits set; did you mean \"{}\"?",
                    net.trunc()
                )));
            }
            Ok(net)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::{Error, Settings};
    use crate::delivery::url_policy::{Access, UrlPolicy};

    #[test]
    fn the_default_refuses_only_the_always_refused_classes() {
        assert_eq!(
            Settings::defaults().delivery.url_policy,
            UrlPolicy::default()
        );
    }

    #[test]
    fn cidrs_and_settings_are_parsed_and_checked() {
        let s = Settings::from_toml(
            "[delivery.url_policy]\nprivate_networks = \"deny\"\nloopback = \"deny\"\n\
             allow = [\"10.1.0.0/16\", \"169.254.169.254\"]\ndeny = [\"fd00::/8\"]",
            "t",
        )
        .unwrap();
        let policy = s.delivery.url_policy;
        assert_eq!(policy.private_networks, Access::Deny);
        assert_eq!(policy.loopback, Access::Deny);
        let allow: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
        assert_eq!(allow, ["10.1.0.0/16", "169.254.169.254/32"]);
        assert_eq!(policy.deny[0].to_string(), "fd00::/8");

        for (toml, message) in [
            (
                "allow = [\"10.0.0.0/33\"]",
                "invalid setting delivery.url_policy.allow: \"10.0.0.0/33\" is not a CIDR",
            ),
            (
                "deny = [\"10.1.2.3/8\"]",
                "invalid setting delivery.url_policy.deny: \"10.1.2.3/8\" has host bits set; \
                 did you mean \"10.0.0.0/8\"?",
            ),
        ] {
            let err =
                Settings::from_toml(&format!("[delivery.url_policy]\n{toml}"), "t").unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }));
            assert!(err.to_string().starts_with(message), "{err}");
        }
        let err =
            Settings::from_toml("[delivery.url_policy]\nloopback = \"maybe\"", "t").unwrap_err();
        assert!(err.to_string().contains("maybe"), "{err}");
    }
}
