//! The one HTTP client every push goes through, with the URL policy applied where the address
//! is finally known: an IP-literal host before the request (such hosts are never resolved),
//! and every resolved address of a host name on each new connection (so a name that resolves
//! to a refused address after the rule was saved, e.g. by DNS rebinding, is still refused).
//! Redirects are not followed (a 3xx is a failed attempt), and no proxy is used.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::url_policy::{Refused, UrlPolicy};

/// The delivery HTTP client (cheap to clone).
#[derive(Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    policy: Arc<UrlPolicy>,
}

impl DeliveryClient {
    pub fn new(policy: UrlPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver {
                policy: policy.clone(),
            })
            .user_agent(concat!("bucketbus/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, policy })
    }

    /// A POST to `url`, unless the policy refuses its host. (A URL that does not parse is
    /// left to reqwest, which fails the attempt with its own error.)
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, Refused> {
        if let Ok(parsed) = url::Url::parse(url) {
            self.policy.check_url_host(&parsed)?;
        }
        Ok(self.http.post(url))
    }
}

/// Resolves host names with the system resolver and keeps only the addresses the policy
/// allows; fails naming the policy when none is left.
struct GuardedResolver {
    policy: Arc<UrlPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            policy.check_name(&host)?;
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let mut allowed = Vec::with_capacity(resolved.len());
            for address in resolved {
                match policy.check_ip(address.ip()) {
                    Ok(()) => allowed.push(address),
                    Err(refused) => {
                        tracing::debug!(%host, %refused, "Endpoint address dropped by url_policy.");
                        first_refusal.get_or_insert(Refused {
                            host: Some(host.clone()),
                            ..refused
                        });
                    }
                }
            }
            match first_refusal {
                Some(refused) if allowed.is_empty() => Err(refused.into()),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The policy refusal behind a failed request, if that is why it failed.
pub fn refusal<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Refused> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

/// `url` as logs show it: scheme, host and port only (`https://hooks.example/…`), since some
/// endpoint URLs carry a secret in their path or query (chat webhooks).
pub fn loggable(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.host_str().is_some() => {
            let host = parsed.host_str().unwrap_or_default();
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if parsed.path() == "/" && parsed.query().is_none() {
                "/"
            } else {
                "/…"
            };
            format!("{}://{host}{port}{rest}", parsed.scheme())
        }
        _ => "<an endpoint URL that cannot be parsed>".to_string(),
    }
}

#[cfg(test)]
mod loggable_tests {
    use super::loggable;

    #[test]
    fn keeps_scheme_host_and_port_only() {
        assert_eq!(
            loggable("https://hooks.slack.com/services/T0/B0/secret?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(loggable("http://10.0.0.5:8080/"), "http://10.0.0.5:8080/");
        assert_eq!(loggable("http://[::1]:9/a"), "http://[::1]:9/…");
        assert_eq!(
            loggable("not a url"),
            "<an endpoint URL that cannot be parsed>"
        );
    }
}
