//! The save-time half of the endpoint URL policy: a rule (or an MNS subscription) whose HTTP
//! endpoint points at a refused address is refused with INVALID_ARGUMENT naming the
//! endpoint's URL field. (The delivery client checks every connection again.)

use crate::delivery::url_policy::UrlPolicy;
use crate::error::Invalid;
use crate::model::{EndpointTarget, RuleSpec};

/// Checks each HTTP endpoint of `spec` against `policy`, resolving host names. URLs that do
/// not parse are left to rule validation, which names what is wrong with them.
pub(super) async fn check_endpoint_addresses(
    policy: &UrlPolicy,
    spec: &RuleSpec,
) -> Result<(), Invalid> {
    for (index, endpoint) in spec.endpoints.iter().enumerate() {
        let EndpointTarget::Http { url, .. } = &endpoint.target else {
            continue;
        };
        check_url(policy, url, &format!("rule.endpoints[{index}].http.url")).await?;
    }
    Ok(())
}

/// Checks one HTTP endpoint URL against `policy`, resolving its host name; a refusal names
/// `field`. A URL that does not parse is left to validation.
pub(super) async fn check_url(policy: &UrlPolicy, url: &str, field: &str) -> Result<(), Invalid> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(());
    };
    policy
        .check_endpoint(&parsed)
        .await
        .map_err(|refused| Invalid::new(field, format!("{refused}: {url:?}")))
}
