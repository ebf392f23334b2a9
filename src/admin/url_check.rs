//! The save-time half of the endpoint URL policy: a rule whose HTTP endpoint points at a
//! refused address is refused with INVALID_ARGUMENT naming the endpoint's URL field. (The
//! delivery client checks every connection again.)

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
        let Ok(parsed) = url::Url::parse(url) else {
            continue;
        };
        policy.check_endpoint(&parsed).await.map_err(|refused| {
            Invalid::new(
                format!("rule.endpoints[{index}].http.url"),
                format!("{refused}: {url:?}"),
            )
        })?;
    }
    Ok(())
}
